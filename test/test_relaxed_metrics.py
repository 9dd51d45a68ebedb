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

"""Relaxed precision / recall / F1 and tip detection / false tips against hand-computed cases.

Coordinates: x right (column), y down (row), px, origin at the top-left pixel centre.
"""
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from skimage.morphology import skeletonize

from franet_core import metrics
from franet_core.tracking_metrics import (evaluate_sequence, match_frame, tip_counts, TipCounts,
                                          TruthWire)
from franet_core.types import WireState, WireStatus


def _row(row, cols=(2, 18), shape=(12, 20)):
    m = np.zeros(shape, np.uint8)
    m[row, cols[0]:cols[1]] = 1
    return m


# ----------------------------------------------------------------------------- relaxed metrics
def test_one_px_centerline_against_a_three_px_mask():
    """Pixel F1 is 0.5 exactly; the relaxed scores see a perfect centerline."""
    gt = np.zeros((12, 20), np.uint8)
    gt[4:7, 2:18] = 1                                   # 3 px wide, 16 px long: 48 px
    pred = _row(5)                                      # its centre row: 16 px
    assert metrics.confusion(pred, gt) == (16.0, 0.0, 32.0)
    assert metrics.f1(pred, gt) == 0.5                  # 2·16 / (2·16 + 0 + 32)
    assert metrics.sensitivity(pred, gt) == pytest.approx(1 / 3)
    line = [np.array([[2.0, 5.0], [17.0, 5.0]])]
    # 16 skeleton pixels, 16 truth points (x = 2, 3, ..., 17), all on the line.
    assert metrics.relaxed_counts(pred, gt, line) == (16, 16, 16, 16)
    assert metrics.relaxed_scores(pred, gt, line) == (1.0, 1.0, 1.0)
    assert metrics.relaxed_scores(pred, gt) == (1.0, 1.0, 1.0)       # truth: mask skeleton
    # ... and the other way round: a 3 px prediction of a 1 px truth.
    assert metrics.f1(gt, pred) == 0.5
    assert metrics.relaxed_scores(gt, pred) == (1.0, 1.0, 1.0)
    fm = metrics.frame_metrics(pred, gt, line)
    assert (fm["f1"], fm["relaxed_precision"], fm["relaxed_recall"], fm["relaxed_f1"]) == (
        0.5, 1.0, 1.0, 1.0)


@pytest.mark.parametrize("row, counted", [(6, True), (7, False), (3, True), (2, False)])
def test_line_shifted_by_rho_minus_and_plus_half(row, counted):
    """True centerline at y = 4.5; rows 6 and 3 are 1.5 px = ρ − 0.5 away, 7 and 2 are ρ + 0.5."""
    line = [np.array([[2.0, 4.5], [17.0, 4.5]])]
    pred = _row(row)
    expected = (1.0, 1.0, 1.0) if counted else (0.0, 0.0, 0.0)
    assert metrics.relaxed_scores(pred, centerlines=line, rho=2.0) == expected


@pytest.mark.parametrize("shift, counted", [(2, True), (3, False)])
def test_shift_against_a_mask_skeleton(shift, counted):
    """Truth from a 1 px mask (its own skeleton); ρ = 2.5, shifts of ρ − 0.5 and ρ + 0.5."""
    gt = _row(4)
    expected = (1.0, 1.0, 1.0) if counted else (0.0, 0.0, 0.0)
    assert metrics.relaxed_scores(_row(4 + shift), gt, rho=2.5) == expected


def test_a_wide_prediction_is_judged_by_its_skeleton():
    """A 7 px band centred on the wire: its edge pixels are 3 px off, its skeleton is on it."""
    line = [np.array([[0.0, 8.0], [19.0, 8.0]])]
    band = np.zeros((17, 20), np.uint8)
    band[5:12, :] = 1
    assert metrics.relaxed_scores(band, centerlines=line) == (1.0, 1.0, 1.0)
    assert metrics.precision(band, _row(8, cols=(0, 20), shape=(17, 20))) == pytest.approx(1 / 7)


def test_tolerance_is_inclusive_and_euclidean():
    point = [np.array([[5.0, 5.0]])]                   # a one-point true centerline
    at_rho = np.zeros((12, 12), np.uint8)
    at_rho[7, 5] = 1                                    # 2 px straight below: counted
    assert metrics.relaxed_scores(at_rho, centerlines=point, rho=2.0) == (1.0, 1.0, 1.0)
    knight = np.zeros((12, 12), np.uint8)
    knight[7, 6] = 1                                    # (1, 2) away: √5 > 2, not counted
    assert metrics.relaxed_scores(knight, centerlines=point, rho=2.0) == (0.0, 0.0, 0.0)
    assert metrics.relaxed_scores(knight, centerlines=point, rho=math.sqrt(5)) == (1.0, 1.0, 1.0)


def test_tolerance_reaches_round_a_short_segment():
    """A 1 px centerline from x = 5 to 6 (midpoint 5.5): x = 3..8 on its row are within 2 px."""
    line = [np.array([[5.0, 5.0], [6.0, 5.0]])]
    pred = _row(5, cols=(3, 9))
    assert metrics.relaxed_counts(pred, centerlines=line) == (6, 6, 2, 2)
    wider = _row(5, cols=(2, 10))                       # x = 2 and 9 are 3 px from an end
    assert metrics.relaxed_counts(wider, centerlines=line) == (6, 8, 2, 2)


def test_partial_prediction_and_a_distractor():
    """Truth y = 5, x = 0..19 (20 points); prediction: x = 0..9 on it plus a line 6 px away."""
    line = [np.array([[0.0, 5.0], [19.0, 5.0]])]
    pred = _row(5, cols=(0, 10)) | _row(11, cols=(0, 10))
    # precision: 10 of 20 skeleton pixels near the truth; recall: x = 0..11 are within 2 px
    # of a predicted pixel (x = 10, 11 reach back to x = 9), 12 of 20 points.
    assert metrics.relaxed_counts(pred, centerlines=line) == (10, 20, 12, 20)
    p, r, f = metrics.relaxed_scores(pred, centerlines=line)
    assert (p, r) == (0.5, 0.6)
    assert f == pytest.approx(2 * 0.5 * 0.6 / 1.1, rel=1e-15)


def test_empty_prediction():
    line = [np.array([[2.0, 5.0], [17.0, 5.0]])]
    empty = np.zeros((12, 20), np.uint8)
    assert metrics.relaxed_counts(empty, centerlines=line) == (0, 0, 0, 16)
    assert metrics.relaxed_scores(empty, centerlines=line) == (0.0, 0.0, 0.0)
    assert metrics.relaxed_scores(empty, _row(5)) == (0.0, 0.0, 0.0)


def test_empty_truth():
    empty = np.zeros((12, 20), np.uint8)
    pred = _row(5)
    assert metrics.relaxed_scores(pred, empty) == (0.0, 0.0, 0.0)         # wire on an empty frame
    assert metrics.relaxed_scores(pred, centerlines=[]) == (0.0, 0.0, 0.0)
    assert metrics.relaxed_scores(empty, empty) == (1.0, 1.0, 1.0)        # nothing, rightly
    assert metrics.relaxed_scores(empty, centerlines=[]) == (1.0, 1.0, 1.0)
    # A centerline wholly outside the image has no point inside: the truth is empty.
    outside = [np.array([[-10.0, -3.0], [30.0, -3.0]])]
    assert metrics.relaxed_counts(pred, centerlines=outside).true == 0
    fm = metrics.frame_metrics(empty, empty)
    assert fm["relaxed_f1"] == 1.0 and math.isnan(fm["gsp"])


def _point_segment(p, a, b):
    ab, ap = b - a, p - a
    den = float(ab @ ab)
    t = 0.0 if den == 0 else min(1.0, max(0.0, float(ap @ ab) / den))
    return float(np.hypot(*(ap - t * ab)))


def _reference_counts(pred, polyline, rho):
    """All-pairs float64 loops: exact distances to the polyline and to every pixel centre."""
    h, w = pred.shape
    skel = np.argwhere(skeletonize(pred != 0))                      # (row, col)
    segs = list(zip(polyline[:-1], polyline[1:]))
    matched_pred = sum(min(_point_segment(np.array([c, r], float), a, b) for a, b in segs) <= rho
                       for r, c in skel)
    # Recall points: every 1 px of arc length from the first vertex, then the last vertex.
    pts, carry = [], 0.0
    for a, b in segs:
        length = float(np.hypot(*(b - a)))
        s = carry
        while s < length:
            pts.append(a + (b - a) * s / length)
            s += 1.0
        carry = s - length
    pts.append(polyline[-1])
    pts = [p for p in pts if -0.5 <= p[0] <= w - 0.5 and -0.5 <= p[1] <= h - 0.5]
    fg = np.argwhere(pred != 0)[:, ::-1].astype(float)              # (x, y)
    matched_true = sum(np.min(np.hypot(*(fg - p).T)) <= rho for p in pts)
    return int(matched_pred), len(skel), int(matched_true), len(pts)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rho", [0.0, 1.0, 2.0, 3.7])
def test_relaxed_counts_match_all_pairs_float64_loops(seed, rho):
    rng = np.random.default_rng(seed)
    pred = (rng.random((23, 31)) < 0.08).astype(np.uint8) * 255
    polyline = np.array([[-2.3, 3.1], [12.6, 4.9], [20.2, 18.4], [29.9, 21.7]])
    got = metrics.relaxed_counts(pred, centerlines=[polyline], rho=rho)
    assert got == _reference_counts(pred, polyline, rho)


@pytest.mark.parametrize("rho", [0.0, 1.0, 2.0, 3.7])
def test_relaxed_match_masks_are_the_rule_the_counts_use(rho):
    """near_truth: every pixel centre within rho (float64 loops); skeleton: skeletonize."""
    pred = (np.random.default_rng(7).random((23, 31)) < 0.08).astype(np.uint8)
    polyline = np.array([[-2.3, 3.1], [12.6, 4.9], [20.2, 18.4], [29.9, 21.7]])
    match = metrics.relaxed_match(pred, centerlines=[polyline], rho=rho)
    segs = list(zip(polyline[:-1], polyline[1:]))
    want = np.array([[min(_point_segment(np.array([c, r], float), a, b) for a, b in segs) <= rho
                      for c in range(31)] for r in range(23)])
    np.testing.assert_array_equal(match.near_truth, want)
    np.testing.assert_array_equal(match.skeleton, skeletonize(pred != 0))
    assert match.counts == (np.count_nonzero(match.skeleton & want),
                            np.count_nonzero(match.skeleton), *match.counts[2:])
    assert match.counts == metrics.relaxed_counts(pred, centerlines=[polyline], rho=rho)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="rho"):
        metrics.relaxed_scores(_row(5), _row(5), rho=-1.0)
    with pytest.raises(ValueError, match="differs"):
        metrics.relaxed_scores(_row(5), np.zeros((12, 21)))
    with pytest.raises(ValueError, match="ground-truth mask or centerlines"):
        metrics.relaxed_scores(_row(5))


def test_accumulator_reports_the_relaxed_metrics():
    gt = np.zeros((12, 20), np.uint8)
    gt[4:7, 2:18] = 1
    acc = metrics.MetricAccumulator()
    acc.update(_row(5), gt, name="a_0", sequence="a")
    acc.update(_row(9), gt, name="a_1", sequence="a")             # 3 px below the 3 px mask
    agg = acc.aggregate()
    assert agg["rho"] == 2.0
    assert set(metrics.METRICS) <= set(agg["overall"])
    assert {"relaxed_precision", "relaxed_recall", "relaxed_f1"} <= set(agg["per_frame"][0])
    # Frame a_1: the skeleton of a 3 px bar lies on row 5, 4 px from row 9: nothing matches.
    assert agg["overall"]["relaxed_f1"]["mean"] == 0.5
    loose = metrics.MetricAccumulator(rho=4.0)
    assert loose.update(_row(9), gt)["relaxed_f1"] > 0.9


def test_relaxed_metrics_are_fast_on_a_noisy_512px_frame():
    """Guard against an all-pairs implementation (this took about 30 ms when written)."""
    import time

    rng = np.random.default_rng(0)
    pred = rng.random((512, 512)) < 0.3
    line = [np.array([[0.0, 10.0], [500.0, 400.0], [20.0, 500.0]])]
    t0 = time.perf_counter()
    metrics.relaxed_counts(pred, centerlines=line)
    assert time.perf_counter() - t0 < 3.0


# ----------------------------------------------------------------------------- tips
def _truth(wid, tip):
    return TruthWire(wid, np.array([[0.0, 0.0], tip], dtype=np.float64), np.asarray(tip, float))


def _state(wid, tip, status=WireStatus.TRACKING):
    return WireState(id=wid, status=status, confidence=1.0,
                     tip=None if tip is None else np.asarray(tip, float), tip_angle=None,
                     tip_covariance=None, tip_velocity=None, centerline=np.zeros((0, 2)),
                     length_px=0.0)


def test_missed_tips_are_counted():
    truth = [_truth(0, [10.0, 10.0]), _truth(1, [50.0, 50.0])]
    counts = tip_counts(truth, [_state(7, [13.0, 14.0])])         # 5.0 px from wire 0: found
    assert counts == TipCounts(true=2, detected=1, published=1, false=0)
    assert tip_counts(truth, []) == TipCounts(2, 0, 0, 0)


def test_false_tip_is_counted():
    truth = [_truth(0, [10.0, 10.0])]
    counts = tip_counts(truth, [_state(1, [10.0, 15.0]), _state(2, [10.0, 15.5])])
    assert counts == TipCounts(true=1, detected=1, published=2, false=1)   # 5 px in, 5.5 out
    assert tip_counts([], [_state(1, [3.0, 3.0])]) == TipCounts(0, 0, 1, 1)  # no wire at all


def test_a_second_tip_on_a_found_wire_is_not_false():
    """False means far from every true tip; a duplicate near a true tip steers nowhere wrong."""
    truth = [_truth(0, [10.0, 10.0])]
    near = [_state(1, [11.0, 10.0]), _state(2, [10.0, 12.0])]
    assert tip_counts(truth, near) == TipCounts(true=1, detected=1, published=2, false=0)


def test_a_lost_wire_is_neither_detected_nor_false():
    truth = [_truth(0, [10.0, 10.0])]
    lost = _state(3, None, WireStatus.LOST)
    assert tip_counts(truth, [lost]) == TipCounts(1, 0, 0, 0)
    predicted = _state(4, [11.0, 10.0], WireStatus.PREDICTED)        # coasting still counts
    assert tip_counts(truth, [lost, predicted]) == TipCounts(1, 1, 1, 0)


def test_one_published_tip_finds_one_true_tip():
    truth = [_truth(0, [10.0, 10.0]), _truth(1, [12.0, 10.0])]
    assert tip_counts(truth, [_state(1, [11.0, 10.0])]) == TipCounts(2, 1, 1, 0)


@pytest.mark.parametrize("seed", range(20))
def test_detection_is_the_largest_one_to_one_matching(seed):
    """Against trying every assignment: no matching within 5 px finds more tips."""
    rng = np.random.default_rng(seed)
    truth = [_truth(i, rng.uniform(0, 12, 2)) for i in range(3)]
    pred = [_state(i, rng.uniform(0, 12, 2)) for i in range(rng.integers(1, 4))]
    d = np.array([[np.hypot(*(t.tip - p.tip)) for p in pred] for t in truth])
    best = max(sum(d[i, j] <= 5.0 for i, j in zip(rows, cols))
               for rows in itertools.permutations(range(3), len(pred))
               for cols in [range(len(pred))])
    assert tip_counts(truth, pred).detected == best


def test_sequence_rates_and_frames_with_a_false_tip():
    truth = [[_truth(0, [10.0, 10.0])]] * 4
    pred = [[_state(1, [10.0, 12.0])],                                 # found
            [_state(1, [10.0, 31.0])],                                 # false (and missed)
            [_state(1, None, WireStatus.LOST)],                        # missed, not false
            [_state(1, [10.0, 11.0]), _state(2, [40.0, 40.0])]]        # found + false
    report = evaluate_sequence(truth, pred, tolerance_px=5.0)
    assert report.tips == TipCounts(true=4, detected=2, published=4, false=2)
    assert report.tip_detection_rate == 0.5
    assert report.false_tip_rate == 0.5
    assert report.frames_with_false_tip == 2 and report.false_tip_frame_rate == 0.5
    # The 20 px gated matching behind tip error / id switches is unchanged.
    assert report.tip_errors_px.tolist() == [2.0, 1.0]
    assert match_frame(truth[0], pred[1]) == []
    assert "tips found within 5 px 50.0% (2/4)" in report.summary()
    loose = evaluate_sequence(truth, pred, tolerance_px=25.0)
    assert loose.tips == TipCounts(4, 3, 4, 1)


def test_tip_rates_when_nothing_is_there():
    report = evaluate_sequence([[]] * 3, [[]] * 3)
    assert math.isnan(report.tip_detection_rate)                       # nothing to detect
    assert report.false_tip_rate == 0.0                                # nothing published
    assert report.false_tip_frame_rate == 0.0
    with pytest.raises(ValueError, match="tolerance"):
        tip_counts([], [], tolerance_px=float("nan"))


# ----------------------------------------------------------------------------- franet eval
TINY_MODEL = {"width_mult": 0.25, "t": 1, "bottleneck_channels": 16,
              "decoder_channels": [8, 8, 8, 8, 8]}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """Tiny weights and two annotated simulated folders, .../mono and .../dual (64 px)."""
    import torch

    from franet_core import checkpoint
    from franet_core.data import write_data_folder
    from franet_core.models import build_model
    from franet_core.sim import SimConfig, Simulator

    root = tmp_path_factory.mktemp("kinds")
    torch.manual_seed(0)
    weights = root / "tiny.safetensors"
    checkpoint.save_weights(weights, build_model("franet", **TINY_MODEL).state_dict(),
                            {"model": "franet", "model_config": TINY_MODEL, "threshold": 0.5})
    for seed, kind in enumerate(("mono", "dual")):
        sim = Simulator(SimConfig(kind=kind, size=64), seed=seed)
        write_data_folder(root / "heldout" / kind, [sim.sequence(3)])
    return weights, root / "heldout" / "mono", root / "heldout" / "dual"


def test_eval_reports_each_folder_and_all_of_them(kinds, tmp_path):
    import json

    from franet_core.cli import main
    from franet_core.data import load_folder
    from franet_core.evaluate import segment_images
    from franet_core.segmenter import build_segmenter

    weights, mono, dual = kinds
    out = tmp_path / "eval"
    assert main(["eval", "--data", str(mono), str(dual), "--weights", str(weights),
                 "--out", str(out), "--rho", "1.5"]) == 0

    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    result = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert result["rho"] == 1.5 and result["tip_tolerance_px"] == 5.0
    assert list(result["per_folder"]) == ["mono", "dual"]
    assert result["frames"] == 6 and result["per_folder"]["dual"]["frames"] == 3
    assert {f["folder"] for f in result["per_frame"]} == {"mono", "dual"}
    assert "dual/s0000_f0002" in {f["name"] for f in result["per_frame"]}
    # Independent recomputation of the mono folder's relaxed F1 from the raw segmenter output.
    seg, _ = build_segmenter(weights)
    samples = load_folder(mono).samples
    probs = segment_images(seg, [s.image for s in samples])
    expected = [metrics.relaxed_f1(p > 0.5, s.mask, [w.centerline for w in s.wires], rho=1.5)
                for p, s in zip(probs, samples)]
    got = result["per_folder"]["mono"]["metrics"]["relaxed_f1"]["mean"]
    assert got == pytest.approx(np.mean(expected))
    everything = [f["relaxed_f1"] for f in result["per_frame"]]
    assert result["metrics"]["relaxed_f1"]["mean"] == pytest.approx(np.mean(everything))
    # Tips: overall counts are the sums of the folders', rates recomputed from them.
    overall = result["tracking"]["overall"]
    folders = [result["per_folder"][k]["tracking"] for k in ("mono", "dual")]
    for key in ("true_tips", "detected_tips", "published_tips", "false_tips",
                "frames_with_false_tip"):
        assert overall[key] == sum(f[key] for f in folders), key
    assert overall["true_tips"] == 3 + 6                              # mono 1, dual 2 per frame
    assert overall["tip_detection_rate"] == pytest.approx(
        overall["detected_tips"] / overall["true_tips"])
    assert 0.0 <= overall["false_tip_rate"] <= 1.0
    report = (out / "report.md").read_text()
    for text in ("## Per data folder", "| mono | 3 |", "| **all** | 6 |", "relaxed F1",
                 "false tips", "docs/metrics.md"):
        assert text in report, text


def test_eval_labels_and_options_are_checked():
    from franet_core.evaluate import EvalConfig, folder_labels

    assert folder_labels(["runs/heldout/mono", "runs/heldout/dual"]) == ["mono", "dual"]
    assert folder_labels(["a/test/mono", "b/test/mono"]) == ["a/test/mono", "b/test/mono"]
    with pytest.raises(ValueError, match="twice"):
        folder_labels(["x/mono", "x/mono/"])
    with pytest.raises(ValueError, match="rho"):
        EvalConfig(rho=-2.0)
    # The CLI's literal defaults (kept literal so that --help stays fast) match the library's.
    import argparse

    from franet_core.commands import eval as eval_command
    from franet_core.tracking_metrics import TIP_TOLERANCE_PX

    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    args = parser.parse_args(["--data", "a", "b", "--out", "o"])
    assert (args.rho, args.tip_tolerance) == (metrics.RHO_PX, TIP_TOLERANCE_PX)
    assert args.data == [Path("a"), Path("b")]
