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

"""Evaluation on a tiny data folder, the eval/segment CLIs, and clear weight errors."""
import json

import cv2
import numpy as np
import pytest
import torch

from franet_core import checkpoint, metrics
from franet_core.cli import main

TINY_MODEL = {"width_mult": 0.25, "t": 1, "bottleneck_channels": 16,
              "decoder_channels": [8, 8, 8, 8, 8]}


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity, as jq and JavaScript do."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_undefined_metrics_are_written_as_null():
    from franet_core.evaluate import _jsonable

    value = {"tip_error_median_px": float("nan"), "n": np.int64(3), "x": [np.float32(0.5)],
             "inf": float("inf")}
    text = json.dumps(_jsonable(value), allow_nan=False)
    assert strict_json(text) == {"tip_error_median_px": None, "n": 3, "x": [0.5], "inf": None}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from franet_core.models import build_model

    torch.manual_seed(0)
    model = build_model("franet", **TINY_MODEL)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    checkpoint.save_weights(path, model.state_dict(),
                            {"model": "franet", "model_config": TINY_MODEL, "threshold": 0.5})
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two sequences of three 48x72 frames (not multiples of 32: padding is exercised)."""
    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for seq in ("s0000", "s0001"):
        for f in range(3):
            image = (rng.random((48, 72)) * 120).astype(np.uint8)
            mask = np.zeros((48, 72), np.uint8)
            mask[10 + 5 * f: 12 + 5 * f, 5:60] = 255
            image[mask > 0] = 230
            cv2.imwrite(str(root / "images" / f"{seq}_f{f:04d}.png"), image)
            cv2.imwrite(str(root / "masks" / f"{seq}_f{f:04d}.png"), mask)
    return root


def test_eval_writes_report_json_and_plots(weights, folder, tmp_path):
    from franet_core.evaluate import segment_images
    from franet_core.segmenter import build_segmenter

    out = tmp_path / "eval"
    assert main(["eval", "--data", str(folder), "--weights", str(weights), "--out", str(out),
                 "--model", "franet", "--threshold", "0.5"]) == 0
    for name in ("report.md", "metrics.json", "per_sequence_f1.png", "overlays.png"):
        assert (out / name).stat().st_size > 0, name
    result = strict_json((out / "metrics.json").read_text())
    assert result["frames"] == 6 and set(result["per_sequence"]) == {"s0000", "s0001"}
    assert result["timing"]["fps"] > 0
    assert result["timing"]["latency_ms"]["n"] == 20  # the default, from 6 frames reused
    # Independent recomputation of one frame's F1 from the raw segmenter output.
    seg, _ = build_segmenter(weights)
    image = cv2.imread(str(folder / "images" / "s0001_f0002.png"), 0).astype(np.float32) / 255
    gt = cv2.imread(str(folder / "masks" / "s0001_f0002.png"), 0)
    (prob,) = segment_images(seg, [image])
    frame = next(f for f in result["per_frame"] if f["name"] == "s0001_f0002")
    assert frame["f1"] == pytest.approx(metrics.f1(prob > 0.5, gt))
    assert frame["gsp"] == pytest.approx(metrics.gsp(prob > 0.5, gt))  # gt is never empty
    f1s = [f["f1"] for f in result["per_frame"]]
    assert result["metrics"]["f1"]["mean"] == pytest.approx(np.mean(f1s))
    report = (out / "report.md").read_text()
    assert "| F1 |" in report and "s0001" in report and "overlays.png" in report
    png = cv2.imread(str(out / "overlays.png"))
    assert png is not None and png.shape[1] >= 3 * 72


def test_eval_threshold_sweep_matches_thresholding_by_hand(weights, folder, tmp_path):
    from franet_core.evaluate import EvalConfig, evaluate_folder, segment_images, write_report
    from franet_core.segmenter import build_segmenter

    seg, meta = build_segmenter(weights)
    result = evaluate_folder(seg, folder, EvalConfig(sweep=(0.3, 0.5, 0.7), tracking=False),
                             meta=meta)
    assert [s["threshold"] for s in result["sweep"]] == [0.3, 0.5, 0.7]
    names = sorted(p.stem for p in (folder / "images").glob("*.png"))
    images = [cv2.imread(str(folder / "images" / f"{n}.png"), 0).astype(np.float32) / 255
              for n in names]
    gts = [cv2.imread(str(folder / "masks" / f"{n}.png"), 0) for n in names]
    probs = segment_images(seg, images)
    for row in result["sweep"]:
        t = row["threshold"]
        assert row["f1"] == pytest.approx(np.mean([metrics.f1(p > t, g)
                                                   for p, g in zip(probs, gts)]), abs=1e-6)
        assert row["precision"] == pytest.approx(np.mean([metrics.precision(p > t, g)
                                                          for p, g in zip(probs, gts)]), abs=1e-6)
    at_half = next(r for r in result["sweep"] if r["threshold"] == 0.5)
    assert at_half["f1"] == pytest.approx(result["metrics"]["f1"]["mean"], abs=1e-6)
    report = write_report(result, tmp_path / "eval")["report"].read_text()
    assert "| 0.7 |" in report and "Threshold sweep" in report
    with pytest.raises(ValueError, match="thresholds"):
        EvalConfig(sweep=(1.2,))


def test_segment_writes_same_named_masks(weights, folder, tmp_path):
    out = tmp_path / "masks"
    assert main(["segment", str(folder / "images"), "--out", str(out),
                 "--weights", str(weights)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in (folder / "images").iterdir())
    mask = cv2.imread(str(out / names[0]), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (48, 72) and set(np.unique(mask)) <= {0, 255}


def test_missing_weights_is_a_clear_error(folder, tmp_path, capsys):
    assert main(["eval", "--data", str(folder), "--weights", str(tmp_path / "nope.safetensors"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err


def test_corrupt_weights_is_a_clear_error(weights, folder, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    checkpoint.sidecar_path(bad).write_text(checkpoint.sidecar_path(weights).read_text())
    assert main(["eval", "--data", str(folder), "--weights", str(bad),
                 "--out", str(tmp_path / "o")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_model_and_config_mismatch_are_clear_errors(weights, folder, tmp_path, capsys):
    assert main(["eval", "--data", str(folder), "--weights", str(weights), "--model", "unet",
                 "--out", str(tmp_path / "o")]) == 2
    assert "not 'unet'" in capsys.readouterr().err
    other = tmp_path / "other.safetensors"
    state, meta = checkpoint.load_weights(weights)
    meta["model_config"] = {**TINY_MODEL, "decoder_channels": [8, 8, 8, 8, 4]}
    checkpoint.save_weights(other, state, meta)
    assert main(["eval", "--data", str(folder), "--weights", str(other),
                 "--out", str(tmp_path / "o")]) == 2
    assert "do not match" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(weights, tmp_path, capsys):
    assert main(["eval", "--data", str(tmp_path / "none"), "--weights", str(weights),
                 "--out", str(tmp_path / "o")]) == 2
    assert "data folder not found" in capsys.readouterr().err


def test_demo_writes_video_sheet_and_report(weights, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "4", "--size", "64",
                 "--weights", str(weights)]) == 0
    printed = capsys.readouterr().out
    assert "F1" in printed and "GSP" in printed and "frames/s" in printed
    assert any(p.suffix in (".mp4", ".gif") and p.stat().st_size > 0 for p in out.iterdir())
    assert cv2.imread(str(out / "contact_sheet.png")) is not None
    result = strict_json((out / "report" / "metrics.json").read_text())
    assert result["frames"] == 4 and result["annotated"]


def test_demo_without_weights_says_how_to_train(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--weights",
                 str(tmp_path / "absent.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "franet train --config configs/shipped.yaml" in err
