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

"""Evaluate a segmenter on one or more data folders the way the FRA-Net paper reports it.

Per frame: pixel precision, sensitivity, F1 and GSP (px), and relaxed precision, recall and F1
at a tolerance ρ (px; :mod:`franet_core.metrics`, definitions in docs/metrics.md), from the
annotated centerlines when ``annotations.json`` is present, else from the skeleton of the
ground-truth mask. Aggregates: mean ± std and median over frames, and per sequence (the
paper's Figure 9; a sequence is the file-name stem up to its last ``_``). Several folders
(e.g. one per kind of test data) are each scored on their own and together
(:func:`evaluate_folders`): the overall row pools their frames.

Timing, two ways: *throughput* as the paper measures it, N frames of a whole sequence over the
wall time T to segment them (preprocessing, network, thresholding; batches of ``batch_size``),
reported as frames per second and ms per frame; and *latency*, batch-1 calls on single frames
after a warm-up (mean, median and 95th percentile in ms), which is what a robot loop waits.

With annotations and the tracking modules present, the full FramePipeline also runs over each
sequence and tracking metrics are added (:mod:`franet_core.tracking_metrics`): tip detection
rate and false-tip rate at a tolerance (5 px), tip error, identity switches and friends.

Outputs written by :func:`write_report`: ``report.md``, ``metrics.json`` (everything, per frame
included), ``per_sequence_f1.png`` and ``overlays.png`` (worst / median / best frames; yellow
true positive, red false positive, blue false negative as drawn by
:func:`franet_core.contact_sheet.overlay_mask`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import json
import logging
import math
from pathlib import Path
import time
from typing import Any, Sequence

import numpy as np

from franet_core.metrics import (f1, MetricAccumulator, METRICS, precision, relaxed_scores,
                                 RHO_PX, sensitivity, summarize_frames)
from franet_core.preprocess import Letterbox
from franet_core.segmenter import Segmenter
from franet_core.tip_check import TipCheck
from franet_core.tracking_metrics import TIP_TOLERANCE_PX

__all__ = ["EvalConfig", "evaluate_folder", "evaluate_folders", "folder_labels",
           "segment_images", "write_report"]

log = logging.getLogger(__name__)

#: Means over frames reported at each threshold of a sweep, in column order.
SWEPT = ("precision", "sensitivity", "f1", "relaxed_precision", "relaxed_recall",
         "relaxed_f1")


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate.

    threshold: probability above which a pixel is guidewire (None: the weights' own).
    input_size: None segments at native size (zero-padded to a multiple of 32); S letterboxes
    every frame to S×S px. batch_size: frames per network call for the throughput pass.
    latency_frames / warmup: batch-1 calls timed / untimed before them.
    tracking: also run the tracking pipeline when annotations are present.
    sweep: extra thresholds at which the pixel and relaxed precision, recall and F1 (means
    over frames, :data:`SWEPT`) are also reported, to choose an operating point. Choose it
    on a validation folder, never on the folder you report: a threshold picked on the test
    set inflates the test F1.
    rho: tolerance of the relaxed precision / recall / F1, px.
    tip_tolerance_px: distance within which a published tip finds a true tip (tip detection
    rate) and beyond which, from every true tip, it is a false tip, px.
    tip_check: the tip check the tracking pipeline applies (withheld tips are not published,
    so they count neither as found nor as false); None: every tracked tip is published.
    """

    threshold: float | None = None
    input_size: int | None = None
    batch_size: int = 8
    latency_frames: int = 20
    warmup: int = 2
    tracking: bool = True
    sweep: tuple[float, ...] = ()
    rho: float = RHO_PX
    tip_tolerance_px: float = TIP_TOLERANCE_PX
    tip_check: TipCheck | None = None

    def __post_init__(self) -> None:
        for t in (self.threshold, *self.sweep):
            if t is not None and not 0.0 < t < 1.0:
                raise ValueError(f"thresholds must be in (0, 1), got {t}")
        for name in ("rho", "tip_tolerance_px"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite distance >= 0 px, got {value}")


def segment_images(segmenter: Segmenter, images: Sequence[np.ndarray], *,
                   input_size: int | None = None, batch_size: int = 8) -> list[np.ndarray]:
    """Probability maps (H, W) float32 at each image's own size, for float32 [0,1] images.

    Images are letterboxed (:class:`franet_core.preprocess.Letterbox`), batched by padded
    shape in order, and mapped back with the inverse letterbox.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    boxes = [Letterbox.fit(im.shape, input_size) for im in images]
    out: list[np.ndarray | None] = [None] * len(images)
    start = 0
    while start < len(images):
        stop = start + 1
        while (stop < len(images) and stop - start < batch_size
               and boxes[stop].out_shape == boxes[start].out_shape):
            stop += 1
        batch = np.stack([boxes[i].apply(images[i]) for i in range(start, stop)])
        probs = segmenter.predict(batch)
        for k, i in enumerate(range(start, stop)):
            out[i] = boxes[i].invert(probs[k])
        start = stop
    return [p for p in out if p is not None]


def evaluate_folder(segmenter: Segmenter, data_dir: str | Path, config: EvalConfig = EvalConfig(),
                    *, meta: dict[str, Any] | None = None,
                    masks: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Score ``segmenter`` on the data folder ``data_dir``; return a JSON-ready result dict.

    ``meta`` is the weights' config (from :func:`franet_core.segmenter.build_segmenter`); its
    ``threshold`` is used unless ``config.threshold`` is set. Keys of the result: ``data``,
    ``model``, ``backend``, ``device``, ``threshold``, ``frames``, ``metrics`` (overall
    summaries), ``per_sequence``, ``per_frame``, ``timing``, ``rho``, ``tip_tolerance_px`` and,
    when run, ``tracking``.
    If a ``masks`` dict is given it receives every predicted (H, W) bool mask by frame name
    (for overlays and videos without segmenting twice).
    """
    from franet_core.data import load_folder

    data_dir = Path(data_dir)
    folder = load_folder(data_dir)
    meta = meta or {}
    threshold = float(config.threshold if config.threshold is not None
                      else meta.get("threshold", 0.5))
    annotated = (data_dir / "annotations.json").is_file()
    acc = MetricAccumulator(config.rho)
    swept: dict[float, list[tuple[float, float, float]]] = {t: [] for t in config.sweep}
    seq_timing: dict[str, dict[str, float]] = {}
    first_images: list[np.ndarray] = []
    for seq, samples in folder.sequences().items():
        images = [s.image for s in samples]
        t0 = time.perf_counter()
        probs = segment_images(segmenter, images, input_size=config.input_size,
                               batch_size=config.batch_size)
        preds = [p > threshold for p in probs]
        elapsed = time.perf_counter() - t0
        truth = [[w.centerline for w in s.wires] if annotated else None for s in samples]
        for t, scores in swept.items():
            for prob, sample, lines in zip(probs, samples, truth):
                pred = prob > t
                scores.append((precision(pred, sample.mask), sensitivity(pred, sample.mask),
                               f1(pred, sample.mask),
                               *relaxed_scores(pred, sample.mask, lines, config.rho)))
        seq_timing[seq] = {"frames": len(images), "seconds": elapsed,
                           "fps": len(images) / elapsed if elapsed > 0 else math.inf}
        for sample, pred, lines in zip(samples, preds, truth):
            acc.update(pred, sample.mask, centerlines=lines, name=sample.name, sequence=seq)
            if masks is not None:
                masks[sample.name] = pred
        if len(first_images) < config.latency_frames + config.warmup:
            first_images += images[: config.latency_frames + config.warmup - len(first_images)]
    if not acc.frames:
        raise ValueError(f"{data_dir}: no frames to evaluate")
    agg = acc.aggregate()
    for seq, timing in seq_timing.items():
        agg["per_sequence"][seq]["timing"] = timing
    total_s = sum(t["seconds"] for t in seq_timing.values())
    result: dict[str, Any] = {
        "data": str(data_dir), "model": meta.get("model", getattr(segmenter, "name", "?")),
        "backend": getattr(segmenter, "backend", "?"), "device": segmenter.device,
        "threshold": threshold, "input_size": config.input_size, "annotated": annotated,
        "rho": config.rho, "tip_tolerance_px": config.tip_tolerance_px,
        "tip_check": (None if config.tip_check is None
                      else {"min_score": config.tip_check.min_score,
                            "source": meta.get("tip_check")}),
        "frames": agg["frames"], "sequences": len(seq_timing), "metrics": agg["overall"],
        "per_sequence": agg["per_sequence"], "per_frame": agg["per_frame"],
        "timing": {"batch_size": config.batch_size, "seconds": total_s,
                   "fps": agg["frames"] / total_s if total_s > 0 else math.inf,
                   "ms_per_frame": 1000.0 * total_s / agg["frames"],
                   "latency_ms": _latency(segmenter, first_images, config)},
    }
    if swept:
        result["sweep"] = [{"threshold": t, **dict(zip(SWEPT, map(float, np.mean(v, axis=0))))}
                           for t, v in sorted(swept.items())]
    if annotated and config.tracking:
        result["tracking"] = _tracking(segmenter, folder, threshold, config)
    return result


def _latency(segmenter: Segmenter, images: list[np.ndarray],
             config: EvalConfig) -> dict[str, float]:
    """Batch-1 wall time per frame (ms) after ``config.warmup`` untimed calls.

    A folder with fewer frames than ``warmup + latency_frames`` has its frames reused in turn:
    the time of a call does not depend on which frame it gets.
    """
    needed = config.warmup + config.latency_frames
    images = [images[i % len(images)] for i in range(needed)] if images else []
    times = []
    for i, image in enumerate(images):
        t0 = time.perf_counter()
        segment_images(segmenter, [image], input_size=config.input_size, batch_size=1)
        if i >= config.warmup:
            times.append(1000.0 * (time.perf_counter() - t0))
    if not times:
        return {"mean": math.nan, "median": math.nan, "p95": math.nan, "n": 0}
    arr = np.asarray(times)
    return {"mean": float(arr.mean()), "median": float(np.median(arr)),
            "p95": float(np.percentile(arr, 95)), "n": len(times)}


def _tracking(segmenter: Segmenter, folder: Any, threshold: float,
              config: EvalConfig) -> dict[str, Any]:
    """Run FramePipeline over each annotated sequence; tracking metrics per sequence/overall.

    Overall: tip detection and false tips pooled from the counts of all sequences; tip-error
    median / p95 over all matched (wire, frame) pairs of all sequences (``tip_errors_px``
    keeps them, so that folders can be pooled too); identity switches summed; missed fraction
    and centerline error averaged over sequences weighted by frames.
    """
    from franet_core.pipeline import FramePipeline, PipelineConfig
    from franet_core.tracking_metrics import evaluate_sequence

    pipeline = FramePipeline(segmenter, PipelineConfig(threshold=threshold,
                                                       input_size=config.input_size,
                                                       tip_check=config.tip_check))
    per_seq, errors = {}, []
    for seq, samples in folder.sequences().items():
        pipeline.reset()
        predicted = [pipeline.process(s.image).wires for s in samples]
        report = evaluate_sequence([s.wires for s in samples], predicted,
                                   tolerance_px=config.tip_tolerance_px)
        errors.append(report.tip_errors_px)
        per_seq[seq] = {"frames": report.n_frames,
                        **_tip_fields(report.tips._asdict(), report.frames_with_false_tip,
                                      report.n_frames),
                        "tip_error_median_px": report.tip_error_median_px,
                        "tip_error_p95_px": report.tip_error_p95_px,
                        "centerline_error_px": report.centerline_error_px,
                        "id_switches": report.id_switches,
                        "missed_fraction": report.missed_fraction,
                        "status_fractions": report.status_fractions}
    tips = np.concatenate(errors) if errors else np.zeros(0)
    return {"per_sequence": per_seq, "overall": _pool_tracking(list(per_seq.values()), tips)}


def _tip_fields(counts: dict[str, int], frames_with_false_tip: int,
                frames: int) -> dict[str, Any]:
    """Tip detection / false-tip counts and rates, as written to metrics.json."""
    true, published = int(counts["true"]), int(counts["published"])
    return {"true_tips": true, "detected_tips": int(counts["detected"]),
            "tip_detection_rate": counts["detected"] / true if true else math.nan,
            "published_tips": published, "false_tips": int(counts["false"]),
            "false_tip_rate": counts["false"] / published if published else 0.0,
            "frames_with_false_tip": int(frames_with_false_tip),
            "false_tip_frame_rate": frames_with_false_tip / frames if frames else math.nan}


def _pool_tracking(parts: list[dict[str, Any]], tips: np.ndarray) -> dict[str, Any]:
    """Overall tracking figures of ``parts`` (per-sequence or per-folder dicts).

    Counts are summed and the rates recomputed from the sums; tip errors ``tips`` (px) are
    pooled; centerline error and missed fraction are frame-weighted means of the parts.
    """
    weights = np.asarray([p["frames"] for p in parts], dtype=np.float64)

    def weighted(key: str) -> float:
        vals = np.asarray([p[key] for p in parts], dtype=np.float64)
        ok = np.isfinite(vals)
        return float(np.average(vals[ok], weights=weights[ok])) if ok.any() else math.nan

    def total(key: str) -> int:
        return int(sum(p[key] for p in parts))

    counts = {"true": total("true_tips"), "detected": total("detected_tips"),
              "published": total("published_tips"), "false": total("false_tips")}
    return {"frames": int(weights.sum()), "matched_tips": int(tips.size),
            **_tip_fields(counts, total("frames_with_false_tip"), int(weights.sum())),
            "tip_error_median_px": float(np.median(tips)) if tips.size else math.nan,
            "tip_error_p95_px": float(np.percentile(tips, 95)) if tips.size else math.nan,
            "centerline_error_px": weighted("centerline_error_px"),
            "id_switches": total("id_switches"),
            "missed_fraction": weighted("missed_fraction"),
            "tip_errors_px": [float(v) for v in tips]}


def folder_labels(paths: Sequence[str | Path]) -> list[str]:
    """Short unique labels for data folders: the folder name, with parents only to tell apart.

    >>> folder_labels(["runs/heldout/mono", "runs/heldout/dual"])
    ['mono', 'dual']
    >>> folder_labels(["a/x/mono", "b/x/mono"])
    ['a/x/mono', 'b/x/mono']
    """
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max((len(p) for p in parts), default=1) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    raise ValueError(f"the same data folder is given twice: {[str(p) for p in paths]}")


def _prefixed(several: bool, label: str, name: str) -> str:
    return f"{label}/{name}" if several else name


def _tip_check_text(result: dict[str, Any]) -> str:
    check = result.get("tip_check")
    if not check:
        return "no tip check (every tracked tip published)"
    return f"tip check {check['source'] or ''} withholds tips scoring under {check['min_score']:g}"


def evaluate_folders(segmenter: Segmenter, data_dirs: Sequence[str | Path],
                     config: EvalConfig = EvalConfig(), *, meta: dict[str, Any] | None = None,
                     labels: Sequence[str] | None = None,
                     masks: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Score ``segmenter`` on each data folder and on all of them together.

    Each folder is labelled (``labels``, default :func:`folder_labels`: its name, e.g. ``mono``
    for ``runs/heldout/mono``). The result has the keys of :func:`evaluate_folder`, computed
    over the frames of all folders pooled (``per_sequence`` keys and ``per_frame`` names are
    prefixed ``label/`` when there are several folders; ``per_frame`` records carry a
    ``folder`` label; ``data`` is the path, or the list of paths), plus ``per_folder``:
    ``{label: {"data", "frames", "sequences", "annotated", "metrics", "timing", "sweep",
    "tracking"}}`` with each folder's own summaries and tracking overall (null when not run).
    Batch-1 latency is measured on the first folder only. ``masks``, if given, receives every
    predicted (H, W) bool mask by its ``per_frame`` name (for :func:`write_report`).
    """
    paths = [Path(d) for d in data_dirs]
    if not paths:
        raise ValueError("no data folder to evaluate")
    labels = list(labels) if labels is not None else folder_labels(paths)
    if len(labels) != len(paths) or len(set(labels)) != len(labels):
        raise ValueError(f"need one distinct label per data folder, got {labels}")
    results = []
    for i, (label, path) in enumerate(zip(labels, paths)):
        cfg = config if i == 0 else replace(config, latency_frames=0, warmup=0)
        folder_masks: dict[str, np.ndarray] | None = {} if masks is not None else None
        results.append(evaluate_folder(segmenter, path, cfg, meta=meta, masks=folder_masks))
        if masks is not None and folder_masks is not None:
            masks.update({_prefixed(len(paths) > 1, label, k): v
                          for k, v in folder_masks.items()})
    several = len(results) > 1

    def prefix(label: str, name: str) -> str:
        return _prefixed(several, label, name)

    first = results[0]
    per_frame = [{**f, "name": prefix(label, f["name"]), "folder": label}
                 for label, r in zip(labels, results) for f in r["per_frame"]]
    frames = len(per_frame)
    seconds = sum(r["timing"]["seconds"] for r in results)
    combined: dict[str, Any] = {
        **{k: first[k] for k in ("model", "backend", "device", "threshold", "input_size",
                                 "rho", "tip_tolerance_px", "tip_check")},
        "data": [str(p) for p in paths] if several else str(paths[0]),
        "annotated": all(r["annotated"] for r in results),
        "frames": frames, "sequences": sum(r["sequences"] for r in results),
        "metrics": summarize_frames(per_frame),
        "per_sequence": {prefix(label, seq): s for label, r in zip(labels, results)
                         for seq, s in r["per_sequence"].items()},
        "per_frame": per_frame,
        "timing": {"batch_size": config.batch_size, "seconds": seconds,
                   "fps": frames / seconds if seconds > 0 else math.inf,
                   "ms_per_frame": 1000.0 * seconds / frames,
                   "latency_ms": first["timing"]["latency_ms"]},
    }
    if config.sweep:
        n = np.asarray([r["frames"] for r in results], dtype=np.float64)
        combined["sweep"] = [
            {"threshold": row["threshold"],
             **{m: float(np.average([r["sweep"][k][m] for r in results], weights=n))
                for m in SWEPT}}
            for k, row in enumerate(first["sweep"])]
    tracked = [(label, r["tracking"]) for label, r in zip(labels, results) if "tracking" in r]
    if tracked:
        combined["tracking"] = {
            "per_sequence": {prefix(label, seq): s for label, t in tracked
                             for seq, s in t["per_sequence"].items()},
            "overall": _pool_tracking(
                [s for _, t in tracked for s in t["per_sequence"].values()],
                np.asarray([e for _, t in tracked for e in t["overall"]["tip_errors_px"]],
                           dtype=np.float64))}
    combined["per_folder"] = {
        label: {"data": str(path), "frames": r["frames"], "sequences": r["sequences"],
                "annotated": r["annotated"], "metrics": r["metrics"], "timing": r["timing"],
                "sweep": r.get("sweep"),
                "tracking": r["tracking"]["overall"] if "tracking" in r else None}
        for label, path, r in zip(labels, paths, results)}
    return combined


# ----------------------------------------------------------------------------- report
def write_report(result: dict[str, Any], out_dir: str | Path, segmenter: Segmenter | None = None,
                 config: EvalConfig = EvalConfig(),
                 masks: dict[str, np.ndarray] | None = None) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md`` and the plots to ``out_dir``; return the paths.

    ``overlays.png`` shows the worst, median and best frames: their predicted masks come from
    ``masks`` (as filled by :func:`evaluate_folder`) or, failing that, are segmented again
    with ``segmenter``; with neither, the overlays are skipped.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "report": out / "report.md",
             "f1_plot": out / "per_sequence_f1.png"}
    paths["json"].write_text(json.dumps(_jsonable(result), indent=2, allow_nan=False) + "\n",
                             encoding="utf-8")
    _plot_per_sequence(result, paths["f1_plot"])
    if segmenter is not None or masks is not None:
        paths["overlays"] = out / "overlays.png"
        _overlays(result, segmenter, config, masks or {}, paths["overlays"])
    paths["report"].write_text(_markdown(result, {k: p.name for k, p in paths.items()}),
                               encoding="utf-8")
    return paths


def _jsonable(value: Any) -> Any:
    """Plain JSON values; an undefined metric (NaN: e.g. no tip matched in a sequence) -> null.

    Python's ``json`` would write ``NaN``, which is not JSON: jq, JavaScript and most other
    readers of a metrics file refuse it.
    """
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(summary: dict[str, float], digits: int = 4) -> tuple[str, str]:
    mean, std, med = summary["mean"], summary["std"], summary["median"]
    if not math.isfinite(mean):
        return "n/a", "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}", f"{med:.{digits}f}"


_NAMES = {"precision": "precision", "sensitivity": "sensitivity (recall)", "f1": "F1",
          "gsp": "GSP (px)", "relaxed_precision": "relaxed precision",
          "relaxed_recall": "relaxed recall", "relaxed_f1": "relaxed F1"}


def _num(value: Any, spec: str) -> str:
    """Format a number, or 'n/a' for an undefined one (None or NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _markdown(result: dict[str, Any], files: dict[str, str]) -> str:
    t = result["timing"]
    lat = t["latency_ms"]
    gsp_from = "annotated centerlines" if result["annotated"] else "skeleton of the GT mask"
    data = result["data"]
    data = ", ".join(f"`{d}`" for d in data) if isinstance(data, list) else f"`{data}`"
    rho = result.get("rho", RHO_PX)
    tol = result.get("tip_tolerance_px", TIP_TOLERANCE_PX)
    lines = [
        f"# Evaluation: {result['model']} on {data}", "",
        f"{result['frames']} frames in {result['sequences']} sequence(s); backend "
        f"{result['backend']} on {result['device']}; threshold {result['threshold']}; "
        f"input size {result['input_size'] or 'native (padded to 32)'}; relaxed tolerance "
        f"ρ = {rho:g} px; tip tolerance {tol:g} px; {_tip_check_text(result)}.", "",
        "| metric | mean ± std | median |", "|---|---|---|",
    ]
    for m in METRICS:
        mean_std, med = _fmt(result["metrics"][m], 3 if m == "gsp" else 4)
        lines.append(f"| {_NAMES[m]} | {mean_std} | {med} |")
    lines += [
        "", "Precision, sensitivity and F1 are the paper's pixel metrics: they count mask "
        "pixels, so they depend on how wide the truth masks are drawn; the relaxed ones "
        f"compare centerlines within ρ = {rho:g} px and do not (definitions and the mask "
        "convention: docs/metrics.md). GSP: mean distance from "
        f"{gsp_from} to the nearest predicted pixel; frames without ground truth are skipped, "
        "an empty prediction scores the image diagonal.", "",
    ]
    if "per_folder" in result:
        lines += _folder_table(result)
    lines += [
        "## Speed", "",
        f"- whole sequences (paper's N/T, batch {t['batch_size']}): {t['fps']:.1f} frames/s, "
        f"{t['ms_per_frame']:.1f} ms per frame",
        f"- batch-1 latency over {lat['n']} frames: mean {_num(lat['mean'], '.1f')} ms, median "
        f"{_num(lat['median'], '.1f')} ms, p95 {_num(lat['p95'], '.1f')} ms", "",
        "## Per sequence", "",
        "| sequence | frames | pixel F1 mean ± std | pixel F1 median | relaxed F1 mean ± std "
        "| GSP (px) | fps |",
        "|---|---|---|---|---|---|---|",
    ]
    for seq, s in result["per_sequence"].items():
        f1_ms, f1_med = _fmt(s["f1"])
        rf1_ms, _ = _fmt(s["relaxed_f1"])
        gsp_ms, _ = _fmt(s["gsp"], 3)
        lines.append(f"| {seq or '(none)'} | {s['frames']} | {f1_ms} | {f1_med} | {rf1_ms} | "
                     f"{gsp_ms} | {s['timing']['fps']:.1f} |")
    if result.get("sweep"):
        lines += ["", "## Threshold sweep (means over frames)", "",
                  "Choose an operating point here only on a validation folder. Training "
                  "selects on relaxed F1.", "",
                  "| threshold | precision | sensitivity | F1 | relaxed P | relaxed R | "
                  "relaxed F1 |", "|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join([f"{s['threshold']:g}"] + [f"{s[m]:.4f}" for m in SWEPT])
                  + " |" for s in result["sweep"]]
    tracking = result.get("tracking")
    if tracking:
        o = tracking["overall"]
        lines += ["", "## Tracking (FramePipeline on each sequence)", "",
                  f"- true tips with a published (TRACKING / PREDICTED) tip within {tol:g} px: "
                  f"{_num(o['tip_detection_rate'], '.1%')} ({o['detected_tips']} of "
                  f"{o['true_tips']}; missed tips count)",
                  f"- false tips (published, farther than {tol:g} px from every true tip): "
                  f"{_num(o['false_tip_rate'], '.1%')} ({o['false_tips']} of "
                  f"{o['published_tips']}); frames with a false tip: "
                  f"{_num(o['false_tip_frame_rate'], '.1%')} ({o['frames_with_false_tip']} "
                  f"of {o['frames']})",
                  f"- tip error over {o['matched_tips']} tips matched within the 20 px gate: "
                  f"median {_num(o['tip_error_median_px'], '.2f')} px, p95 "
                  f"{_num(o['tip_error_p95_px'], '.2f')} px",
                  f"- centerline error {_num(o['centerline_error_px'], '.2f')} px; identity "
                  f"switches {o['id_switches']}; missed wires (no match within the gate) "
                  f"{_num(o['missed_fraction'], '.1%')}"]
    lines += ["", f"![per-sequence F1]({files['f1_plot']})"]
    if "overlays" in files:
        lines += ["", "Worst / median / best frames by pixel F1 (yellow: true positive, red: "
                  "false positive, blue: missed):", "", f"![overlays]({files['overlays']})"]
    return "\n".join(lines) + "\n"


def _folder_table(result: dict[str, Any]) -> list[str]:
    """Per-folder rows and an overall row: pixel, relaxed and tip metrics (means over frames)."""
    tol = result.get("tip_tolerance_px", TIP_TOLERANCE_PX)
    lines = ["## Per data folder", "",
             "Means over frames; tip figures pooled over the folder's tips "
             f"(tolerance {tol:g} px).", "",
             "| data | frames | pixel P | pixel S | pixel F1 | GSP (px) | relaxed P | relaxed R "
             "| relaxed F1 | tip detection | false tips | frames with a false tip "
             "| tip error median / p95 (px) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(label, f, f["metrics"], f["tracking"]) for label, f in result["per_folder"].items()]
    if len(rows) > 1:
        rows.append(("**all**", result, result["metrics"],
                     (result.get("tracking") or {}).get("overall")))
    for label, f, m, tr in rows:
        cells = [_num(m[k]["mean"], ".3f" if k == "gsp" else ".4f") for k in METRICS]
        if tr:
            cells += [_num(tr["tip_detection_rate"], ".1%"), _num(tr["false_tip_rate"], ".1%"),
                      _num(tr["false_tip_frame_rate"], ".1%"),
                      f"{_num(tr['tip_error_median_px'], '.2f')} / "
                      f"{_num(tr['tip_error_p95_px'], '.2f')}"]
        else:
            cells += ["—"] * 4
        lines.append(f"| {label} | {f['frames']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _plot_per_sequence(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seqs = list(result["per_sequence"])
    means = [result["per_sequence"][s]["f1"]["mean"] for s in seqs]
    stds = [result["per_sequence"][s]["f1"]["std"] for s in seqs]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(seqs) + 1.5), 3.2), dpi=100)
    ax.bar(range(len(seqs)), means, yerr=stds, capsize=3, color="#4c78a8")
    overall = result["metrics"]["f1"]["mean"]
    ax.axhline(overall, color="#e45756", linestyle="--", linewidth=1,
               label=f"all frames {overall:.3f}")
    ax.set_xticks(range(len(seqs)), [s or "(none)" for s in seqs], rotation=60, ha="right",
                  fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("F1 (mean ± std over frames)")
    ax.set_title(f"{result['model']}: F1 per sequence")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _overlays(result: dict[str, Any], segmenter: Segmenter | None, config: EvalConfig,
              masks: dict[str, np.ndarray], path: Path) -> None:
    import cv2

    from franet_core.contact_sheet import contact_sheet, overlay_mask
    from franet_core.data import load_folder

    frames = sorted(result["per_frame"], key=lambda f: f["f1"])
    picks = [("worst", frames[0]), ("median", frames[len(frames) // 2]),
             ("best", frames[-1])]
    folders: dict[str, Any] = {}
    tiles, labels = [], []
    for label, frame in picks:
        folder = frame.get("folder")
        data = result["per_folder"][folder]["data"] if folder is not None else result["data"]
        if data not in folders:
            folders[data] = load_folder(data, check=False)
        sample = folders[data].load(frame["name"].split("/")[-1])
        pred = masks.get(frame["name"])
        if pred is None:
            (prob,) = segment_images(segmenter, [sample.image], input_size=config.input_size)
            pred = prob > result["threshold"]
        tiles.append(overlay_mask(sample.image, pred, sample.mask))
        labels.append(f"{label} {frame['name']} F1 {frame['f1']:.3f}")
    cv2.imwrite(str(path), contact_sheet(tiles, cols=3, labels=labels))
