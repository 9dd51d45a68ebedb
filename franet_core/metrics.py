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

"""Segmentation metrics of the FRA-Net paper, as pure functions on binary masks.

Masks are (H, W) arrays; any non-zero value is foreground (so 0/1 and 0/255 both work).
Pixel metrics count true/false positives and negatives (TP, FP, FN) in float64:

- precision   = TP / (TP + FP)
- sensitivity = TP / (TP + FN)   (recall)
- F1          = 2 TP / (2 TP + FP + FN)

Empty cases (a ratio 0 / 0) are defined, not left as NaN, so every frame scores:
both masks empty → 1.0 (the frame is correct: no wire, none predicted); a ratio whose
denominator is zero while the *other* mask is non-empty → 0.0 (the frame is wrong: a missed
wire has precision 0, a wire predicted on an empty frame has sensitivity 0).

GSP (guidewire segmentation precision, px) is the mean Euclidean distance from ground-truth
centerline points to the nearest predicted foreground pixel. Points come from annotated
centerlines (x, y px, x right, y down, origin at the top-left pixel centre) resampled every
1 px of arc length and rounded to pixels, or, without annotations, from the skeleton of the
ground-truth mask. Two cases are defined explicitly:

- empty ground truth (no centerline point): NaN, meaning "not defined"; aggregates skip it.
- empty prediction with a wire present: capped at the image diagonal ``hypot(H, W)``, the
  largest distance a prediction anywhere in the frame could have. A cap (not ``inf``) keeps
  means finite and comparable while still scoring a missed frame worse than any prediction.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

__all__ = ["MetricAccumulator", "centerline_points", "confusion", "f1", "frame_metrics", "gsp",
           "precision", "sensitivity", "summarize"]

#: Names of the per-frame metrics, in report order.
METRICS = ("precision", "sensitivity", "f1", "gsp")


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(f"masks must be 2-D (H, W): prediction {pred.shape}, "
                         f"ground truth {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    return pred != 0, gt != 0


def confusion(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """Return ``(TP, FP, FN)`` pixel counts as float64 for two (H, W) masks."""
    p, g = _pair(pred, gt)
    tp = float(np.count_nonzero(p & g))
    return tp, float(np.count_nonzero(p)) - tp, float(np.count_nonzero(g)) - tp


def _ratio(num: float, den: float, other_empty: bool) -> float:
    if den > 0:
        return num / den
    return 1.0 if other_empty else 0.0


def precision(pred: np.ndarray, gt: np.ndarray) -> float:
    """TP / (TP + FP); empty prediction → 1.0 if the ground truth is empty too, else 0.0."""
    tp, fp, fn = confusion(pred, gt)
    return _ratio(tp, tp + fp, other_empty=(tp + fn) == 0)


def sensitivity(pred: np.ndarray, gt: np.ndarray) -> float:
    """TP / (TP + FN) (recall); empty ground truth → 1.0 if nothing is predicted, else 0.0."""
    tp, fp, fn = confusion(pred, gt)
    return _ratio(tp, tp + fn, other_empty=(tp + fp) == 0)


def f1(pred: np.ndarray, gt: np.ndarray) -> float:
    """2 TP / (2 TP + FP + FN) (Dice); both masks empty → 1.0."""
    tp, fp, fn = confusion(pred, gt)
    return _ratio(2.0 * tp, 2.0 * tp + fp + fn, other_empty=True)


def centerline_points(shape: tuple[int, int], gt: np.ndarray | None = None,
                      centerlines: Iterable[np.ndarray] | None = None) -> np.ndarray:
    """Ground-truth centerline pixels as an (M, 2) int array of (row, col), unique.

    ``centerlines`` (each (K, 2) float x, y px, proximal → tip) win when given: every polyline
    is resampled at 1 px arc-length steps (vertices kept), rounded to the nearest pixel and
    clipped to the image. Otherwise the skeleton of ``gt`` is used.
    """
    h, w = int(shape[0]), int(shape[1])
    if centerlines is None:
        if gt is None:
            raise ValueError("centerline_points needs a ground-truth mask or centerlines")
        rows, cols = np.nonzero(skeletonize(np.asarray(gt) != 0))
        return np.stack([rows, cols], axis=1).astype(np.int64)
    pts = [_resample(np.asarray(c, dtype=np.float64)) for c in centerlines]
    pts = [p for p in pts if len(p)]
    if not pts:
        return np.zeros((0, 2), dtype=np.int64)
    xy = np.rint(np.concatenate(pts)).astype(np.int64)
    rc = np.stack([np.clip(xy[:, 1], 0, h - 1), np.clip(xy[:, 0], 0, w - 1)], axis=1)
    return np.unique(rc, axis=0)


def _resample(polyline: np.ndarray) -> np.ndarray:
    if polyline.ndim != 2 or polyline.shape[1] != 2:
        raise ValueError(f"a centerline must be (K, 2) x, y points, got shape {polyline.shape}")
    if len(polyline) < 2:
        return polyline
    seg = np.hypot(*np.diff(polyline, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.union1d(np.arange(0.0, s[-1], 1.0), s)
    return np.stack([np.interp(t, s, polyline[:, 0]), np.interp(t, s, polyline[:, 1])], axis=1)


def gsp(pred: np.ndarray, gt: np.ndarray | None = None,
        centerlines: Iterable[np.ndarray] | None = None) -> float:
    """Mean distance (px, float64) from ground-truth centerline points to the prediction.

    ``pred`` is the (H, W) predicted mask; the points come from ``centerlines`` if given, else
    from the skeleton of ``gt`` (see :func:`centerline_points`). Returns NaN when there is no
    ground-truth point and ``hypot(H, W)`` when the prediction is empty (module docstring).
    """
    pred = np.asarray(pred)
    if pred.ndim != 2:
        raise ValueError(f"prediction must be 2-D (H, W), got shape {pred.shape}")
    if gt is not None:
        _pair(pred, gt)
    pts = centerline_points(pred.shape, gt, centerlines)
    if len(pts) == 0:
        return float("nan")
    fg = pred != 0
    if not fg.any():
        return float(np.hypot(*pred.shape))
    dist = ndimage.distance_transform_edt(~fg)
    return float(np.mean(dist[pts[:, 0], pts[:, 1]], dtype=np.float64))


def frame_metrics(pred: np.ndarray, gt: np.ndarray,
                  centerlines: Iterable[np.ndarray] | None = None) -> dict[str, float]:
    """All metrics of one frame: ``{"precision", "sensitivity", "f1", "gsp"}``."""
    return {"precision": precision(pred, gt), "sensitivity": sensitivity(pred, gt),
            "f1": f1(pred, gt), "gsp": gsp(pred, gt, centerlines)}


def summarize(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "median", "n"}`` over the finite values (NaN = undefined, skipped).

    std is the population standard deviation (ddof=0); all NaN when nothing is finite.
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "median": nan, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "median": float(np.median(arr)),
            "n": int(arr.size)}


class MetricAccumulator:
    """Collect per-frame metrics; aggregate over all frames and per sequence.

    >>> acc = MetricAccumulator()
    >>> m = np.zeros((4, 4), np.uint8); m[1, :] = 1
    >>> acc.update(m, m, name="s0_f0", sequence="s0")["f1"]
    1.0
    >>> acc.aggregate()["overall"]["f1"]["mean"]
    1.0
    """

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def update(self, pred: np.ndarray, gt: np.ndarray, *,
               centerlines: Iterable[np.ndarray] | None = None, name: str = "",
               sequence: str = "") -> dict[str, float]:
        """Score one frame, remember it under ``name``/``sequence``, return its metrics."""
        metrics = frame_metrics(pred, gt, centerlines)
        self.frames.append({"name": name, "sequence": sequence, **metrics})
        return metrics

    def aggregate(self) -> dict[str, Any]:
        """Summaries over all frames and per sequence, plus the per-frame records.

        Returns ``{"frames": n, "overall": {metric: summary}, "per_sequence": {seq:
        {"frames": n, metric: summary}}, "per_frame": [...]}`` (summaries: :func:`summarize`).
        """
        by_seq: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for frame in self.frames:
            by_seq[frame["sequence"]].append(frame)
        return {
            "frames": len(self.frames),
            "overall": _summaries(self.frames),
            "per_sequence": {seq: {"frames": len(fs), **_summaries(fs)}
                             for seq, fs in sorted(by_seq.items())},
            "per_frame": list(self.frames),
        }

    def reset(self) -> None:
        """Forget every frame."""
        self.frames.clear()


def _summaries(frames: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {m: summarize([f[m] for f in frames]) for m in METRICS}
