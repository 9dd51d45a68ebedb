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

"""FramePipeline wiring, overlay, frame sources/video writer and the track command."""
import argparse
import csv
import json

import cv2
import numpy as np
import pytest

from franet_core.overlay import draw_result, id_colour
from franet_core.pipeline import FramePipeline, PipelineConfig, px2_to_mm2, px_to_mm
from franet_core.types import FrameResult, WireState, WireStatus
from franet_core.video import VideoWriter, iter_frames

KEYS = {"preprocess", "inference", "postprocess", "centerline", "tracking", "total"}


class IntensitySegmenter:
    """Test double for the model: the probability is the (padded) image itself."""

    name = "intensity"
    device = "cpu"

    def __init__(self):
        self.calls = []

    def predict(self, batch):
        assert batch.ndim == 3 and batch.shape[1] % 32 == 0 and batch.shape[2] % 32 == 0
        self.calls.append(batch.shape)
        return np.clip(batch, 0.0, 1.0).astype(np.float32)


def wire_image(k, shape=(200, 230), dtype=np.uint8):
    """A bright wire entering at the left border, its tip advancing 3 px per frame."""
    img = np.zeros(shape, np.float32)
    x_tip = 100 + 3 * k
    xs = np.linspace(0, x_tip, 400)
    pts = np.stack([xs, 60 + 0.4 * xs], axis=1)
    cv2.polylines(img, [np.round(pts * 16).astype(np.int32)], False, 1.0, 5, cv2.LINE_8, 4)
    if dtype == np.uint16:
        return (img * 4000 + 100).astype(np.uint16)
    return (img * 255).astype(np.uint8)


def states_key(result):
    return [(w.id, w.status, None if w.tip is None else tuple(np.round(w.tip, 6)))
            for w in result.wires]


def test_process_runs_every_stage_at_input_size():
    seg = IntensitySegmenter()
    pipe = FramePipeline(seg)
    for k in range(3):
        result = pipe.process(wire_image(k))
    assert seg.calls[-1] == (1, 224, 256)  # padded to multiples of 32
    assert result.index == 2
    assert result.mask.shape == (200, 230) and result.mask.dtype == np.uint8
    assert result.probability.shape == (200, 230)
    assert set(result.timings_ms) == KEYS
    assert all(v >= 0 for v in result.timings_ms.values())
    parts = sum(v for k, v in result.timings_ms.items() if k != "total")
    assert result.timings_ms["total"] == pytest.approx(parts)
    (wire,) = result.wires
    assert wire.status is WireStatus.TRACKING
    assert np.linalg.norm(wire.tip - [106, 60 + 0.4 * 106]) < 2.5  # the interior end
    assert wire.confidence > 0.9


def test_process_batch_uses_one_call_and_matches_sequential():
    frames = [wire_image(k) for k in range(4)]
    seg = IntensitySegmenter()
    batch = FramePipeline(seg).process_batch(frames)
    assert len(seg.calls) == 1 and seg.calls[0][0] == 4
    sequential = FramePipeline(IntensitySegmenter())
    for got, frame in zip(batch, frames):
        want = sequential.process(frame)
        assert states_key(got) == states_key(want)
        assert got.index == want.index


def test_bad_frame_raises_and_leaves_tracker_untouched():
    pipe, ref = FramePipeline(IntensitySegmenter()), FramePipeline(IntensitySegmenter())
    pipe.process(wire_image(0))
    ref.process(wire_image(0))
    bad = wire_image(1).astype(np.float32)
    bad[5, 5] = np.nan
    for frame in (bad, np.zeros((0, 0), np.uint8), np.zeros((4, 4, 7))):
        with pytest.raises(ValueError, match="bad frame"):
            pipe.process(frame)
    with pytest.raises(ValueError, match="frame 1 of the batch"):
        pipe.process_batch([wire_image(1), bad])
    assert states_key(pipe.process(wire_image(1))) == states_key(ref.process(wire_image(1)))


def test_sixteen_bit_frames_and_input_size():
    pipe = FramePipeline(IntensitySegmenter(), PipelineConfig(input_size=128))
    result = pipe.process(wire_image(0, dtype=np.uint16))
    assert result.mask.shape == (200, 230)
    assert len(result.wires) == 1


def test_wrong_segmenter_output_is_a_clear_error():
    class Broken(IntensitySegmenter):
        def predict(self, batch):
            return batch[:, :10]

    with pytest.raises(ValueError, match="segmenter returned shape"):
        FramePipeline(Broken()).process(wire_image(0))


def test_config_validation_and_mm_helpers():
    with pytest.raises(ValueError, match="threshold"):
        PipelineConfig(threshold=1.5)
    with pytest.raises(ValueError, match="pixel_spacing_mm"):
        PipelineConfig(pixel_spacing_mm=0.0)
    assert np.allclose(px_to_mm([10.0, 4.0], 0.25), [2.5, 1.0])
    assert px_to_mm(None, 0.25) is None
    assert np.allclose(px2_to_mm2(np.eye(2) * 4.0, 0.5), np.eye(2))
    pipe = FramePipeline(IntensitySegmenter(), PipelineConfig(pixel_spacing_mm=0.3))
    assert pipe.process(wire_image(0)).pixel_spacing_mm == 0.3


def test_reset_restarts_indices_and_ids():
    pipe = FramePipeline(IntensitySegmenter())
    pipe.process(wire_image(0))
    pipe.reset()
    result = pipe.process(wire_image(0))
    assert result.index == 0 and [w.id for w in result.wires] == [0]


def test_from_weights_builds_the_segmenter(monkeypatch):
    import franet_core.segmenter as segmenter

    seen = {}

    def fake_build(weights, backend, device):
        seen.update(weights=weights, backend=backend, device=device)
        return IntensitySegmenter(), {"model": "double"}

    monkeypatch.setattr(segmenter, "build_segmenter", fake_build)
    pipe = FramePipeline.from_weights("w.safetensors", "onnx", "cpu")
    assert seen == {"weights": "w.safetensors", "backend": "onnx", "device": "cpu"}
    assert pipe.meta == {"model": "double", "tip_check": None}  # none beside w.safetensors
    assert len(pipe.process(wire_image(0)).wires) == 1


def _state(wid, status, tip):
    tracked = status is not WireStatus.LOST
    return WireState(wid, status, 0.9 if tracked else 0.0, np.asarray(tip) if tracked else None,
                     0.0 if tracked else None, np.eye(2) * 9 if tracked else None,
                     np.zeros(2) if tracked else None,
                     np.array([[0.0, 50.0], [tip[0], tip[1]]]) if status is WireStatus.TRACKING
                     else np.zeros((0, 2)), 50.0)


def test_overlay_draws_tips_but_never_a_lost_one():
    image = np.full((128, 128), 40, np.uint8)
    mask = np.zeros((128, 128), np.uint8)
    mask[60:64, 10:50] = 1
    wires = [_state(0, WireStatus.TRACKING, (100.0, 70.0)),
             _state(1, WireStatus.PREDICTED, (90.0, 90.0)),
             _state(2, WireStatus.LOST, (20.0, 110.0))]
    out = draw_result(image, FrameResult(0, mask, mask.astype(np.float32), wires))
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert np.abs(out[70, 100].astype(int) - id_colour(0)).max() < 10  # filled tip dot
    assert out[62, 30, 1] > out[62, 30, 0]  # mask tinted green
    assert not np.array_equal(out[90, 90], id_colour(1))  # predicted: hollow circle
    assert np.abs(out[85:96, 84:97].astype(int) - 40).max() > 60  # but something is drawn
    region = out[100:120, 10:30].astype(int)
    assert np.abs(region - 40).max() < 5  # nothing drawn where the LOST tip was


def test_iter_frames_folder_single_image_and_errors(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("b", "a", "c"):
        cv2.imwrite(str(folder / f"{name}.png"), wire_image(0, dtype=np.uint16))
    (folder / "d.png").write_bytes(b"not a png")
    frames = list(iter_frames(folder))
    assert [n for n, _ in frames] == ["a", "b", "c", "d"]
    assert frames[0][1].dtype == np.uint16 and frames[-1][1].size == 0
    assert [n for n, _ in iter_frames(folder / "a.png")] == ["a"]
    with pytest.raises(FileNotFoundError):
        list(iter_frames(tmp_path / "missing"))
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="readable video"):
        list(iter_frames(junk))
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    with pytest.raises(ValueError, match="image topic"):
        list(iter_frames(bag))


def test_video_writer_round_trip(tmp_path):
    frames = [cv2.cvtColor(wire_image(k), cv2.COLOR_GRAY2BGR) for k in range(5)]
    with VideoWriter(tmp_path / "out.mp4", fps=5) as writer:
        for f in frames:
            writer.write(f)
    assert writer.path.exists() and writer.frames == 5
    read = list(iter_frames(writer.path))
    assert len(read) == 5 and read[0][1].shape[:2] == (200, 230)
    with VideoWriter(tmp_path / "out.gif", fps=5) as gif:
        for f in frames:
            gif.write(f)
    assert gif.path.suffix == ".gif" and gif.path.stat().st_size > 0
    with pytest.raises(ValueError, match="BGR uint8"):
        VideoWriter(tmp_path / "x.mp4").write(np.zeros((4, 4), np.uint8))


def test_track_command_writes_outputs_and_skips_bad_frames(tmp_path, monkeypatch, capsys):
    from franet_core.commands import track

    data = tmp_path / "seq"
    (data / "images").mkdir(parents=True)
    annotations = {}
    for k in range(6):
        cv2.imwrite(str(data / "images" / f"s0_f{k:03d}.png"), wire_image(k))
        x_tip = 100 + 3 * k
        tip = [x_tip, 60 + 0.4 * x_tip]
        annotations[f"s0_f{k:03d}"] = [{"id": 0, "centerline": [[0, 60], tip], "tip": tip}]
    (data / "images" / "s0_f003.png").write_bytes(b"broken")
    (data / "annotations.json").write_text(json.dumps(annotations))
    monkeypatch.setattr(FramePipeline, "from_weights",
                        classmethod(lambda cls, w, b, d, c, **kw: cls(IntensitySegmenter(), c)))
    out = tmp_path / "out"
    args = argparse.Namespace(input=data, out=out, weights=None, backend="torch", device="cpu",
                              threshold=0.5, pixel_spacing=0.2, image_topic=None, fps=5.0,
                              no_video=False, tip_check="auto", min_tip_score=None)
    assert track.run(args) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 bad frame(s): s0_f003" in printed
    assert "tracking metrics" in printed and "id switches 0" in printed
    rows = list(csv.DictReader(open(out / "tips.csv")))
    assert list(rows[0]) == ["frame", "wire_id", "x", "y", "angle_rad", "confidence", "status",
                             "tip_score", "x_mm", "y_mm"]
    assert [r["frame"] for r in rows] == ["s0_f000", "s0_f001", "s0_f002", "s0_f004", "s0_f005"]
    assert float(rows[-1]["x"]) == pytest.approx(115, abs=2.5)
    assert float(rows[-1]["x_mm"]) == pytest.approx(0.2 * float(rows[-1]["x"]), abs=1e-3)
    doc = json.loads((out / "centerlines.json").read_text())
    assert len(doc["frames"]) == 5 and doc["pixel_spacing_mm"] == 0.2
    assert len(doc["frames"][0]["wires"][0]["centerline"]) > 50
    assert any(p.name.startswith("overlay") for p in out.iterdir())


TINY_FRANET = {"width_mult": 0.25, "t": 1, "bottleneck_channels": 16,
               "decoder_channels": [8, 8, 8, 8, 8]}


@pytest.mark.usefixtures("one_torch_thread")
def test_end_to_end_with_a_real_model_on_a_simulated_sequence(tmp_path):
    """Weights file → TorchSegmenter → pipeline, checked against the model called directly."""
    import torch

    from franet_core.checkpoint import save_weights
    from franet_core.models import build_model
    from franet_core.sim import SimConfig, Simulator

    torch.manual_seed(0)
    model = build_model("franet", **TINY_FRANET).eval()
    weights = save_weights(tmp_path / "tiny.safetensors", model.state_dict(),
                           {"model": "franet", "model_config": TINY_FRANET, "threshold": 0.5,
                            "input_size": None})
    frames = Simulator(SimConfig(size=80, kind="dual"), seed=5).sequence(3)  # 80: padded to 96
    pipe = FramePipeline.from_weights(str(weights), "torch", "cpu")
    assert pipe.meta["model"] == "franet" and pipe.threshold == 0.5
    for k, frame in enumerate(frames):
        result = pipe.process(frame.image)
        padded = np.zeros((1, 1, 96, 96), np.float32)
        padded[0, 0, :80, :80] = frame.image
        with torch.no_grad():
            ref = torch.sigmoid(model(torch.from_numpy(padded)))[0, 0, :80, :80].numpy()
        assert result.index == k and result.probability.shape == (80, 80)
        np.testing.assert_allclose(result.probability, ref, atol=1e-4)
        np.testing.assert_array_equal(result.mask, (result.probability > 0.5).astype(np.uint8))
        for w in result.wires:
            assert (w.tip is None) == (w.status is WireStatus.LOST)



def test_from_weights_takes_the_weights_threshold_unless_one_is_given(tmp_path):
    from franet_core.checkpoint import save_weights
    from franet_core.models import build_model

    model = build_model("franet", **TINY_FRANET)
    weights = save_weights(tmp_path / "t.safetensors", model.state_dict(),
                           {"model": "franet", "model_config": TINY_FRANET, "threshold": 0.3,
                            "input_size": None})
    assert FramePipeline.from_weights(str(weights)).threshold == 0.3
    given = FramePipeline.from_weights(str(weights), config=PipelineConfig(threshold=0.7))
    assert given.threshold == 0.7
    assert FramePipeline(given.segmenter).threshold == 0.5  # no weights to ask: the usual 0.5
