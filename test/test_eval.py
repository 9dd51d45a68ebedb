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


#: Logit slope of the known-answer network: logit = K * (x - 0.5), x the frame in [0, 1].
K = 40.0


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A 1-channel U-Net whose weights make it a fixed intensity threshold: p = s(K (x - 0.5)).

    Each convolution on the skip path is a 3x3 identity, the coarse path is zero, batch
    norms keep their unit statistics (a factor (1 + 1e-5)^-0.5 each) and the head maps x to
    K (x - 0.5). So a pixel is predicted at threshold t exactly when its grey level exceeds
    255 (0.5 + logit(t) / K): 122.1 at 0.3, 127.5 at 0.5, 132.9 at 0.7, whatever the
    backend's rounding. Every expected value below follows from the drawn frames alone.
    """
    from franet_core.models import build_model

    config = {"base_channels": 1, "depth": 1}
    state = {k: torch.zeros_like(v) if k.endswith(("0.weight", "up.weight", "up.bias")) else v
             for k, v in build_model("unet", **config).state_dict().items()}
    for name, channel in (("inc.0.0", 0), ("inc.1.0", 0), ("up.0.conv.0.0", 1),
                          ("up.0.conv.1.0", 0)):
        state[f"{name}.weight"][0, channel, 1, 1] = 1.0  # channel 1 of up.0.conv: the skip
    state["head.weight"].fill_(K)
    state["head.bias"].fill_(-K / 2)
    path = tmp_path_factory.mktemp("w") / "threshold_unet.safetensors"
    checkpoint.save_weights(path, state, {"model": "unet", "model_config": config,
                                          "threshold": 0.5})
    return path


#: Grey levels drawn into every frame; see ``folder``.
WIRE, FAINT_TIP, DIM_BLOB, BRIGHT_BLOB = 230, 128, 125, 200


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two sequences of three 48x72 frames (not multiples of 32: padding is exercised).

    Frame f: a 2 px wire (mask) along rows 10 + 5f, columns 5-59, drawn at WIRE except a
    FAINT_TIP in its last 5 columns; not in the mask, a 2x4 DIM_BLOB and, in the corner next
    to the padding, a 2 x 2(f+1) BRIGHT_BLOB; noise below 120 elsewhere.
    """
    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for seq in ("s0000", "s0001"):
        for f in range(3):
            image = (rng.random((48, 72)) * 120).astype(np.uint8)
            mask = np.zeros((48, 72), np.uint8)
            mask[10 + 5 * f: 12 + 5 * f, 5:60] = 255
            image[mask > 0] = WIRE
            image[10 + 5 * f: 12 + 5 * f, 55:60] = FAINT_TIP
            image[40:42, 0:4] = DIM_BLOB
            image[46:48, 72 - 2 * (f + 1):] = BRIGHT_BLOB
            cv2.imwrite(str(root / "images" / f"{seq}_f{f:04d}.png"), image)
            cv2.imwrite(str(root / "masks" / f"{seq}_f{f:04d}.png"), mask)
    return root


def counts(threshold: float, f: int) -> tuple[int, int, int]:
    """Hand count of (TP, FP, FN) in frame f at ``threshold`` (grey-level cuts in weights)."""
    bright = 4 * (f + 1)
    return {0.3: (110, 8 + bright, 0),  # wire, faint tip; both blobs are false positives
            0.5: (110, bright, 0),      # the dim blob drops out
            0.7: (100, bright, 10)}[threshold]  # the faint tip drops out too


def scores(threshold: float, f: int) -> dict[str, float]:
    """Precision, sensitivity, F1 of frame f from the hand counts."""
    tp, fp, fn = counts(threshold, f)
    return {"precision": tp / (tp + fp), "sensitivity": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn)}


def gsp_by_brute_force(folder, name: str, threshold: float) -> float:
    """Mean distance from each skeleton pixel of the mask to the nearest predicted pixel."""
    from skimage.morphology import skeletonize

    image = cv2.imread(str(folder / "images" / f"{name}.png"), 0)
    gt = cv2.imread(str(folder / "masks" / f"{name}.png"), 0)
    cut = 255 * (0.5 + np.log(threshold / (1 - threshold)) / K)
    predicted = np.argwhere(image > cut)
    return float(np.mean([np.hypot(*(predicted - p).T).min()
                          for p in np.argwhere(skeletonize(gt > 0))]))


def test_eval_writes_report_json_and_plots(weights, folder, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "--data", str(folder), "--weights", str(weights), "--out", str(out),
                 "--model", "unet", "--threshold", "0.7"]) == 0
    for name in ("report.md", "metrics.json", "per_sequence_f1.png", "overlays.png"):
        assert (out / name).stat().st_size > 0, name
    result = strict_json((out / "metrics.json").read_text())
    assert result["frames"] == 6 and set(result["per_sequence"]) == {"s0000", "s0001"}
    assert result["timing"]["fps"] > 0
    assert result["timing"]["latency_ms"]["n"] == 20  # the default, from 6 frames reused
    for frame in result["per_frame"]:
        f = int(frame["name"][-1])
        for metric, value in scores(0.7, f).items():
            assert frame[metric] == pytest.approx(value, abs=1e-12), (frame["name"], metric)
        gsp = gsp_by_brute_force(folder, frame["name"], 0.7)
        assert gsp > 0.2 and frame["gsp"] == pytest.approx(gsp, abs=1e-9)  # the missed tip
    mean_f1 = np.mean([scores(0.7, f)["f1"] for f in range(3)])
    assert result["metrics"]["f1"]["mean"] == pytest.approx(mean_f1, abs=1e-12)
    assert result["per_sequence"]["s0001"]["f1"]["mean"] == pytest.approx(mean_f1, abs=1e-12)
    report = (out / "report.md").read_text()
    assert "| F1 |" in report and "s0001" in report and "overlays.png" in report
    png = cv2.imread(str(out / "overlays.png"))
    assert png is not None and png.shape[1] >= 3 * 72


def test_eval_threshold_sweep_matches_the_hand_counts(weights, folder, tmp_path):
    from franet_core.evaluate import EvalConfig, evaluate_folder, write_report
    from franet_core.segmenter import build_segmenter

    seg, meta = build_segmenter(weights)
    result = evaluate_folder(seg, folder, EvalConfig(sweep=(0.3, 0.5, 0.7), tracking=False),
                             meta=meta)
    assert [s["threshold"] for s in result["sweep"]] == [0.3, 0.5, 0.7]
    for row in result["sweep"]:
        for metric in ("precision", "sensitivity", "f1"):
            mean = np.mean([scores(row["threshold"], f)[metric] for f in range(3)])
            assert row[metric] == pytest.approx(mean, abs=1e-12), (row["threshold"], metric)
    # The weights' own threshold (0.5) is the operating point of the main metrics.
    assert result["threshold"] == 0.5
    assert result["metrics"]["f1"]["mean"] == pytest.approx(
        np.mean([scores(0.5, f)["f1"] for f in range(3)]), abs=1e-12)
    # The sweep's relaxed columns at 0.5 are the main metrics' (computed apart, by the
    # accumulator), and a lower threshold marks a superset, so relaxed recall cannot fall.
    at = {row["threshold"]: row for row in result["sweep"]}
    for metric in ("relaxed_precision", "relaxed_recall", "relaxed_f1"):
        assert at[0.5][metric] == pytest.approx(result["metrics"][metric]["mean"], abs=1e-12)
    assert at[0.3]["relaxed_recall"] >= at[0.5]["relaxed_recall"] >= at[0.7]["relaxed_recall"]
    assert at[0.3]["relaxed_recall"] > at[0.7]["relaxed_recall"]  # the faint tip drops at 0.7
    report = write_report(result, tmp_path / "eval")["report"].read_text()
    assert "| 0.7 |" in report and "Threshold sweep" in report and "relaxed F1 |" in report
    with pytest.raises(ValueError, match="thresholds"):
        EvalConfig(sweep=(1.2,))


def test_segment_writes_same_named_masks(weights, folder, tmp_path):
    out = tmp_path / "masks"
    assert main(["segment", str(folder / "images"), "--out", str(out),
                 "--weights", str(weights)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in (folder / "images").iterdir())
    for name in names:
        mask = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        image = cv2.imread(str(folder / "images" / name), 0)
        # At the weights' threshold 0.5 the network predicts grey levels above 127.5.
        np.testing.assert_array_equal(mask, np.where(image > 127.5, 255, 0), err_msg=name)


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
    assert main(["eval", "--data", str(folder), "--weights", str(weights), "--model", "franet",
                 "--out", str(tmp_path / "o")]) == 2
    assert "not 'franet'" in capsys.readouterr().err
    other = tmp_path / "other.safetensors"
    state, meta = checkpoint.load_weights(weights)
    meta["model_config"] = {"base_channels": 2, "depth": 1}
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
    # Run again into the same folder: the demo replaces its own frames (`make demo` twice).
    assert main(["demo", "--out", str(out), "--frames", "6", "--size", "64",
                 "--weights", str(weights)]) == 0
    assert strict_json((out / "report" / "metrics.json").read_text())["frames"] == 6


def test_demo_refuses_a_data_folder_it_did_not_write(weights, tmp_path, capsys):
    from franet_core.data import write_data_folder
    from franet_core.sim import SimConfig, Simulator

    write_data_folder(tmp_path / "data", [Simulator(SimConfig(size=64), seed=1).sequence(2)])
    assert main(["demo", "--out", str(tmp_path), "--frames", "4", "--size", "64",
                 "--weights", str(weights)]) == 2
    assert "already contains images" in capsys.readouterr().err
    assert len(list((tmp_path / "data" / "images").iterdir())) == 2


def test_demo_without_weights_says_how_to_train(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--weights",
                 str(tmp_path / "absent.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "franet train --config configs/shipped.yaml" in err
