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

"""Metrics against hand-computed cases and a brute-force float64 GSP reference."""
import math

import numpy as np
import pytest

from franet_core import metrics


def _line(shape=(10, 10), row=4, cols=(2, 8)):
    m = np.zeros(shape, np.uint8)
    m[row, cols[0]:cols[1]] = 1
    return m


def test_perfect_prediction_scores_one():
    gt = _line()
    assert metrics.precision(gt, gt) == 1.0
    assert metrics.sensitivity(gt, gt) == 1.0
    assert metrics.f1(gt * 255, gt) == 1.0  # 0/255 and 0/1 masks mix
    assert metrics.gsp(gt, gt) == 0.0


def test_empty_prediction():
    gt = _line()
    empty = np.zeros_like(gt)
    assert metrics.precision(empty, gt) == 0.0
    assert metrics.sensitivity(empty, gt) == 0.0
    assert metrics.f1(empty, gt) == 0.0
    assert metrics.gsp(empty, gt) == pytest.approx(math.hypot(10, 10))


def test_empty_ground_truth():
    empty = np.zeros((6, 6), np.uint8)
    assert metrics.f1(empty, empty) == 1.0
    assert metrics.precision(empty, empty) == 1.0
    assert metrics.sensitivity(empty, empty) == 1.0
    assert math.isnan(metrics.gsp(empty, empty))
    pred = empty.copy()
    pred[2, 2] = 1
    assert metrics.f1(pred, empty) == 0.0
    assert metrics.precision(pred, empty) == 0.0
    assert metrics.sensitivity(pred, empty) == 0.0


def test_mask_shifted_by_one_pixel():
    # A 2-px thick, 6-px long bar (12 px) shifted down by one row keeps 6 of 12 pixels.
    gt = np.zeros((10, 10), np.uint8)
    gt[3:5, 2:8] = 1
    pred = np.roll(gt, 1, axis=0)
    assert metrics.confusion(pred, gt) == (6.0, 6.0, 6.0)
    assert metrics.precision(pred, gt) == 0.5
    assert metrics.sensitivity(pred, gt) == 0.5
    assert metrics.f1(pred, gt) == 0.5
    # Shift sideways by one column: 10 of 12 overlap, 2 FP, 2 FN.
    pred = np.roll(gt, 1, axis=1)
    assert metrics.precision(pred, gt) == pytest.approx(10 / 12)
    assert metrics.sensitivity(pred, gt) == pytest.approx(10 / 12)
    assert metrics.f1(pred, gt) == pytest.approx(20 / 24)


def test_gsp_one_pixel_shift_of_a_thin_line():
    gt = _line(row=4)
    pred = _line(row=5)
    # Every centerline pixel (row 4, cols 2..7) is exactly 1 px from row 5.
    assert metrics.gsp(pred, centerlines=[np.array([[2.0, 4.0], [7.0, 4.0]])]) == 1.0
    assert metrics.gsp(pred, gt) == 1.0


def _brute_force_gsp(pred, points_rc):
    fg = np.argwhere(pred != 0).astype(np.float64)
    d = [np.min(np.hypot(fg[:, 0] - r, fg[:, 1] - c)) for r, c in points_rc]
    return float(np.mean(d))


def test_gsp_matches_float64_brute_force():
    rng = np.random.default_rng(3)
    pred = (rng.random((17, 23)) > 0.93).astype(np.uint8)
    centerline = np.array([[1.2, 2.7], [20.4, 14.1], [5.0, 15.9]])
    pts = metrics.centerline_points(pred.shape, centerlines=[centerline])
    # Resampling at 1 px covers the whole polyline (22.3 + 15.5 px long).
    assert 30 <= len(pts) <= 42
    assert (3, 1) in set(map(tuple, pts.tolist()))  # first vertex (x 1.2, y 2.7)
    expected = _brute_force_gsp(pred, pts)
    assert metrics.gsp(pred, centerlines=[centerline]) == pytest.approx(expected, rel=1e-12)


def test_gsp_points_are_clipped_and_deduplicated():
    pts = metrics.centerline_points((5, 5), centerlines=[np.array([[-3.0, 2.0], [9.0, 2.0]])])
    assert pts[:, 1].min() == 0 and pts[:, 1].max() == 4
    assert len(pts) == 5


def test_bad_shapes_are_refused_with_names():
    with pytest.raises(ValueError, match="differs"):
        metrics.f1(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="2-D"):
        metrics.precision(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        metrics.gsp(np.ones((4, 4)), centerlines=[np.zeros(3)])


def test_accumulator_mean_std_median_and_sequences():
    gt = np.zeros((10, 10), np.uint8)
    gt[3:5, 2:8] = 1
    acc = metrics.MetricAccumulator()
    acc.update(gt, gt, name="a_0", sequence="a")                      # f1 1.0
    acc.update(np.roll(gt, 1, axis=0), gt, name="a_1", sequence="a")  # f1 0.5
    acc.update(np.zeros_like(gt), gt, name="b_0", sequence="b")       # f1 0.0
    agg = acc.aggregate()
    assert agg["frames"] == 3
    f1 = agg["overall"]["f1"]
    assert f1["mean"] == pytest.approx(0.5)
    assert f1["median"] == pytest.approx(0.5)
    assert f1["std"] == pytest.approx(np.std([1.0, 0.5, 0.0]))
    assert agg["per_sequence"]["a"]["f1"]["mean"] == pytest.approx(0.75)
    assert agg["per_sequence"]["b"]["frames"] == 1
    assert [f["name"] for f in agg["per_frame"]] == ["a_0", "a_1", "b_0"]
    acc.reset()
    assert acc.aggregate()["frames"] == 0


def test_summary_skips_undefined_gsp():
    s = metrics.summarize([1.0, float("nan"), 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "median": 2.0, "n": 2}
    assert math.isnan(metrics.summarize([float("nan")])["mean"])


def test_asymmetric_errors_separate_precision_from_sensitivity():
    gt = np.zeros((10, 10), np.uint8)
    gt[3:5, 2:8] = 1                      # 12 px
    under = np.zeros_like(gt)
    under[3, 2:8] = 1                     # half of it: no FP, 6 FN
    assert metrics.confusion(under, gt) == (6.0, 0.0, 6.0)
    assert metrics.precision(under, gt) == 1.0
    assert metrics.sensitivity(under, gt) == 0.5
    assert metrics.f1(under, gt) == pytest.approx(2 / 3)
    over = gt.copy()
    over[5:7, 2:8] = 1                    # 24 px predicted, 12 of them FP
    assert metrics.confusion(over, gt) == (12.0, 12.0, 0.0)
    assert metrics.precision(over, gt) == 0.5
    assert metrics.sensitivity(over, gt) == 1.0
    assert metrics.f1(over, gt) == pytest.approx(2 / 3)


def _pixel_loop_reference(pred, gt):
    """Precision, sensitivity, F1 by counting pixel by pixel in Python floats."""
    tp = fp = fn = 0.0
    for p, g in zip((pred != 0).ravel().tolist(), (gt != 0).ravel().tolist()):
        tp += p and g
        fp += p and not g
        fn += g and not p
    return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)


@pytest.mark.parametrize("seed", range(5))
def test_pixel_metrics_match_a_pixel_loop_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    gt = (rng.random((31, 47)) < 0.1).astype(np.uint8) * 255
    pred = np.where(rng.random(gt.shape) < 0.7, gt, (rng.random(gt.shape) < 0.1) * 255)
    ref = _pixel_loop_reference(pred, gt)
    got = (metrics.precision(pred, gt), metrics.sensitivity(pred, gt), metrics.f1(pred, gt))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    fm = metrics.frame_metrics(pred, gt)
    np.testing.assert_allclose([fm["precision"], fm["sensitivity"], fm["f1"]], ref, rtol=1e-12)


def test_gsp_measures_from_ground_truth_to_prediction_not_back():
    """A long prediction over a short wire costs nothing (GSP is one-directional)."""
    pred = _line(cols=(0, 10))
    centerline = [np.array([[3.0, 4.0], [6.0, 4.0]])]
    assert metrics.gsp(pred, centerlines=centerline) == 0.0
    # ... but a short prediction under a long wire does: points at x = 0..9 to pixels x = 4..5.
    short = _line(cols=(4, 6))
    long_line = [np.array([[0.0, 4.0], [9.0, 4.0]])]
    assert metrics.gsp(short, centerlines=long_line) == pytest.approx(
        np.mean([4, 3, 2, 1, 0, 0, 1, 2, 3, 4]))
