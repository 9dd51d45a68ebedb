# Copyright 2026 The franet authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Tests of the data-folder loader/writer, FolderDataset and ``franet synth``."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from franet_core.data import load_folder, sequence_name, write_data_folder
from franet_core.datasets import FolderDataset
from franet_core.sim import SimConfig, Simulator


def _folder(tmp_path: Path, n: int = 2, size: int = 16) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(n):
        img = np.full((size, size), 40 * (i + 1), np.uint8)
        mask = np.zeros((size, size), np.uint8)
        mask[3, 2:9] = 255
        cv2.imwrite(str(tmp_path / "images" / f"a_{i}.png"), img)
        cv2.imwrite(str(tmp_path / "masks" / f"a_{i}.png"), mask)
    return tmp_path


def test_loads_valid_folder_8_and_16_bit(tmp_path):
    root = _folder(tmp_path)
    img16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 200)
    cv2.imwrite(str(root / "images" / "b_0.png"), img16)
    cv2.imwrite(str(root / "masks" / "b_0.png"), np.eye(16, dtype=np.uint8))  # 0/1 mask
    folder = load_folder(root)
    assert [s.name for s in folder.samples] == ["a_0", "a_1", "b_0"]
    s = folder.samples[0]
    assert s.image.dtype == np.float32 and abs(s.image[0, 0] - 40 / 255) < 1e-6
    assert s.mask.dtype == np.uint8 and s.mask.sum() == 7
    b = folder.samples[2]
    assert b.image.min() == 0.0 and b.image.max() == 1.0 and b.mask.sum() == 16
    assert {k: len(v) for k, v in folder.sequences().items()} == {"a": 2, "b": 1}


def test_sequence_name():
    assert sequence_name("s0003_f0012") == "s0003"
    assert sequence_name("run_a_7") == "run_a"
    assert sequence_name("single") == "single"


def test_error_missing_mask(tmp_path):
    root = _folder(tmp_path)
    (root / "masks" / "a_1.png").unlink()
    with pytest.raises(FileNotFoundError, match="a_1.png"):
        load_folder(root)


def test_error_size_mismatch(tmp_path):
    root = _folder(tmp_path)
    cv2.imwrite(str(root / "masks" / "a_1.png"), np.zeros((8, 16), np.uint8))
    with pytest.raises(ValueError, match="a_1.png"):
        load_folder(root)


def test_error_unreadable_image(tmp_path):
    root = _folder(tmp_path)
    (root / "images" / "a_0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="a_0.png"):
        load_folder(root)


def test_error_colour_image_but_gray_rgb_accepted(tmp_path):
    root = _folder(tmp_path)
    grey3 = np.dstack([np.full((16, 16), 90, np.uint8)] * 3)
    cv2.imwrite(str(root / "images" / "a_0.png"), grey3)
    assert abs(load_folder(root).samples[0].image.mean() - 90 / 255) < 1e-6
    colour = grey3.copy()
    colour[0, 0, 2] = 200
    cv2.imwrite(str(root / "images" / "a_1.png"), colour)
    with pytest.raises(ValueError, match="colour.*a_1.png"):
        load_folder(root)


def test_error_bad_mask_values(tmp_path):
    root = _folder(tmp_path)
    bad = np.zeros((16, 16), np.uint8)
    bad[0, 0] = 128
    cv2.imwrite(str(root / "masks" / "a_0.png"), bad)
    with pytest.raises(ValueError, match="a_0.png"):
        load_folder(root)


def test_error_empty_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="empty"):
        load_folder(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_folder(tmp_path / "nowhere")


def test_error_annotation_for_unknown_image(tmp_path):
    root = _folder(tmp_path)
    (root / "annotations.json").write_text(json.dumps(
        {"ghost": [{"id": 0, "centerline": [[0, 0], [1, 1]], "tip": [1, 1]}]}))
    with pytest.raises(ValueError, match="ghost"):
        load_folder(root)


def _wire(**kw):
    return json.dumps({kw.pop("name", "a_0"): [{"id": 0, "centerline": [[0, 0], [1, 1]],
                                               "tip": [1, 1], **kw}]})


@pytest.mark.parametrize("text, words", [
    ("{not json", "cannot read"),
    ("[1, 2]", "expected an object"),
    (json.dumps({"a_0": {"id": 0}}), "'a_0': expected a list of wires"),
    (json.dumps({"a_0": [{"id": 0, "centerline": [[0, 0]]}]}), r"'a_0'\[0\]: a wire needs"),
    (_wire(name="a_1", centerline=[]), "'a_1'.*empty centerline"),
    (_wire(name="a_1", centerline=[[0, 0, 1]]), "'a_1'.*malformed"),
    (_wire(id="x"), "'a_0'.*malformed"),
])
def test_error_malformed_annotations_name_the_file_and_frame(tmp_path, text, words):
    root = _folder(tmp_path)
    (root / "annotations.json").write_text(text)
    with pytest.raises(ValueError, match=words) as info:
        load_folder(root)
    assert "annotations.json" in str(info.value)


def test_error_orphan_mask(tmp_path):
    root = _folder(tmp_path)
    cv2.imwrite(str(root / "masks" / "zz.png"), np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match="zz.png"):
        load_folder(root)


def test_round_trip_write_load(tmp_path):
    seqs = [Simulator(SimConfig(size=64, kind="dual"), seed=s).sequence(2) for s in range(2)]
    names = write_data_folder(tmp_path / "out", seqs)
    assert names == ["s0000_f0000", "s0000_f0001", "s0001_f0000", "s0001_f0001"]
    folder = load_folder(tmp_path / "out")
    assert list(folder.sequences()) == ["s0000", "s0001"]
    for name, frame in zip(names, [f for s in seqs for f in s]):
        sample = folder.load(name)
        np.testing.assert_array_equal(sample.mask, frame.mask)
        assert np.abs(sample.image - frame.image).max() <= 0.5 / 255 + 1e-6
        assert [w.id for w in sample.wires] == [w.id for w in frame.wires]
        for a, b in zip(sample.wires, frame.wires):
            np.testing.assert_allclose(a.centerline, b.centerline, atol=1e-3)
            np.testing.assert_allclose(a.tip, b.tip, atol=1e-3)
    with pytest.raises(ValueError, match="already contains"):
        write_data_folder(tmp_path / "out", seqs)


def test_folder_dataset(tmp_path):
    root = _folder(tmp_path, n=3, size=40)
    ds = FolderDataset(root, crop=32, augment=True, seed=1)
    img, msk = ds[1]
    assert img.shape == (1, 32, 32) and msk.shape == (1, 32, 32)
    again = FolderDataset(root, crop=32, augment=True, seed=1)[1]
    assert (img == again[0]).all() and (msk == again[1]).all()
    plain = FolderDataset(root)[0]
    assert plain[0].shape == (1, 40, 40) and float(plain[1].sum()) == 7.0


def test_synth_command_writes_valid_folder(tmp_path):
    from franet_core.cli import main
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--sequences", "2", "--frames", "2", "--size",
                 "64", "--kind", "dual", "--seed", "3"]) == 0
    folder = load_folder(out)
    assert len(folder) == 4 and all(len(s.wires) == 2 for s in folder.samples)
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[2] == 3
    assert main(["synth", "--out", str(tmp_path / "x"), "--backgrounds",
                 str(tmp_path / "none")]) == 2
    # --set changes a simulator setting; an unknown one is a usage error naming it
    assert main(["synth", "--out", str(tmp_path / "free"), "--sequences", "1", "--frames",
                 "1", "--size", "64", "--seed", "3", "--set", "ecg_prob=0",
                 "vessel_marks=false"]) == 0
    assert main(["synth", "--out", str(tmp_path / "y"), "--set", "vessel_mark=false"]) == 2


def test_synth_wire_free_writes_backgrounds_as_negatives(tmp_path):
    """--wire-free: each background once, unchanged, with an empty mask and no wires; an
    unmarked frame then scores relaxed F1 1 and any mark 0 (docs/metrics.md)."""
    from franet_core.cli import main
    bg = tmp_path / "bg"
    bg.mkdir()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(3)]
    for i, image in enumerate(images):
        cv2.imwrite(str(bg / f"b{i}.png"), image)
    out = tmp_path / "neg"
    assert main(["synth", "--out", str(out), "--backgrounds", str(bg), "--wire-free"]) == 0
    folder = load_folder(out)
    assert [s.name for s in folder.samples] == ["r0000_f0000", "r0001_f0000", "r0002_f0000"]
    for sample, image in zip(folder.samples, images):
        assert not sample.mask.any() and sample.wires == []
        assert np.array_equal(np.round(sample.image * 255).astype(np.uint8), image)
    assert main(["synth", "--out", str(tmp_path / "none"), "--wire-free"]) == 2


REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "angiography-cadml"


@pytest.mark.skipif(not (REAL / "images").is_dir(), reason="shared real data not present")
def test_synth_backgrounds_from_real_angiograms(tmp_path):
    from franet_core.commands.synth import load_backgrounds
    bgs = load_backgrounds(str(REAL))
    assert len(bgs) > 10 and bgs[0].dtype == np.float32
    frame = Simulator(SimConfig(size=64, background_prob=1.0), seed=0,
                      backgrounds=bgs[:3]).sequence(1)[0]
    assert frame.mask.any()
