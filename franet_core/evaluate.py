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

"""Evaluate a segmenter on a data folder the way the FRA-Net paper reports it.

Per frame: pixel precision, sensitivity, F1 and GSP (px, :mod:`franet_core.metrics`), from the
annotated centerlines when ``annotations.json`` is present, else from the skeleton of the
ground-truth mask. Aggregates: mean ± std and median over frames, and per sequence (the
paper's Figure 9; a sequence is the file-name stem up to its last ``_``).

Timing, two ways: *throughput* as the paper measures it, N frames of a whole sequence over the
wall time T to segment them (preprocessing, network, thresholding; batches of ``batch_size``),
reported as frames per second and ms per frame; and *latency*, batch-1 calls on single frames
after a warm-up (mean, median and 95th percentile in ms), which is what a robot loop waits.

With annotations and the tracking modules present, the full FramePipeline also runs over each
sequence and tracking metrics (tip error and friends) are added.

Outputs written by :func:`write_report`: ``report.md``, ``metrics.json`` (everything, per frame
included), ``per_sequence_f1.png`` and ``overlays.png`` (worst / median / best frames; yellow
true positive, red false positive, blue false negative as drawn by
:func:`franet_core.contact_sheet.overlay_mask`).
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import logging
import math
from pathlib import Path
import time
from typing import Any, Sequence

import numpy as np

from franet_core.metrics import METRICS, MetricAccumulator, f1, precision, sensitivity
from franet_core.preprocess import Letterbox
from franet_core.segmenter import Segmenter

__all__ = ["EvalConfig", "evaluate_folder", "segment_images", "write_report"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate.

    threshold: probability above which a pixel is guidewire (None: the weights' own).
    input_size: None segments at native size (zero-padded to a multiple of 32); S letterboxes
    every frame to S×S px. batch_size: frames per network call for the throughput pass.
    latency_frames / warmup: batch-1 calls timed / untimed before them.
    tracking: also run the tracking pipeline when annotations are present.
    sweep: extra thresholds at which precision, sensitivity and F1 (means over frames) are
    also reported, to choose an operating point. Choose it on a validation folder, never on
    the folder you report: a threshold picked on the test set inflates the test F1.
    """

    threshold: float | None = None
    input_size: int | None = None
    batch_size: int = 8
    latency_frames: int = 20
    warmup: int = 2
    tracking: bool = True
    sweep: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for t in (self.threshold, *self.sweep):
            if t is not None and not 0.0 < t < 1.0:
                raise ValueError(f"thresholds must be in (0, 1), got {t}")


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
    summaries), ``per_sequence``, ``per_frame``, ``timing`` and, when run, ``tracking``.
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
    acc = MetricAccumulator()
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
        for t, scores in swept.items():
            for prob, sample in zip(probs, samples):
                pred = prob > t
                scores.append((precision(pred, sample.mask), sensitivity(pred, sample.mask),
                               f1(pred, sample.mask)))
        seq_timing[seq] = {"frames": len(images), "seconds": elapsed,
                           "fps": len(images) / elapsed if elapsed > 0 else math.inf}
        for sample, pred in zip(samples, preds):
            lines = [w.centerline for w in sample.wires] if annotated else None
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
        "frames": agg["frames"], "sequences": len(seq_timing), "metrics": agg["overall"],
        "per_sequence": agg["per_sequence"], "per_frame": agg["per_frame"],
        "timing": {"batch_size": config.batch_size, "seconds": total_s,
                   "fps": agg["frames"] / total_s if total_s > 0 else math.inf,
                   "ms_per_frame": 1000.0 * total_s / agg["frames"],
                   "latency_ms": _latency(segmenter, first_images, config)},
    }
    if swept:
        result["sweep"] = [{"threshold": t, **dict(zip(("precision", "sensitivity", "f1"),
                                                      map(float, np.mean(v, axis=0))))}
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

    Overall: tip-error median / p95 over all matched (wire, frame) pairs of all sequences,
    identity switches summed, missed fraction and centerline error averaged over sequences
    weighted by frames.
    """
    from franet_core.pipeline import FramePipeline, PipelineConfig
    from franet_core.tracking_metrics import evaluate_sequence

    pipeline = FramePipeline(segmenter, PipelineConfig(threshold=threshold,
                                                       input_size=config.input_size))
    per_seq, errors, frames = {}, [], []
    for seq, samples in folder.sequences().items():
        pipeline.reset()
        predicted = [pipeline.process(s.image).wires for s in samples]
        report = evaluate_sequence([s.wires for s in samples], predicted)
        errors.append(report.tip_errors_px)
        frames.append(report.n_frames)
        per_seq[seq] = {"frames": report.n_frames,
                        "tip_error_median_px": report.tip_error_median_px,
                        "tip_error_p95_px": report.tip_error_p95_px,
                        "centerline_error_px": report.centerline_error_px,
                        "id_switches": report.id_switches,
                        "missed_fraction": report.missed_fraction,
                        "status_fractions": report.status_fractions}
    tips = np.concatenate(errors) if errors else np.zeros(0)
    weights = np.asarray(frames, dtype=np.float64)

    def weighted(key: str) -> float:
        vals = np.asarray([s[key] for s in per_seq.values()], dtype=np.float64)
        ok = np.isfinite(vals)
        return float(np.average(vals[ok], weights=weights[ok])) if ok.any() else math.nan

    overall = {"frames": int(weights.sum()), "matched_tips": int(tips.size),
               "tip_error_median_px": float(np.median(tips)) if tips.size else math.nan,
               "tip_error_p95_px": float(np.percentile(tips, 95)) if tips.size else math.nan,
               "centerline_error_px": weighted("centerline_error_px"),
               "id_switches": int(sum(s["id_switches"] for s in per_seq.values())),
               "missed_fraction": weighted("missed_fraction")}
    return {"per_sequence": per_seq, "overall": overall}


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


def _markdown(result: dict[str, Any], files: dict[str, str]) -> str:
    t = result["timing"]
    lat = t["latency_ms"]
    gsp_from = "annotated centerlines" if result["annotated"] else "skeleton of the GT mask"
    lines = [
        f"# Evaluation: {result['model']} on `{result['data']}`", "",
        f"{result['frames']} frames in {result['sequences']} sequence(s); backend "
        f"{result['backend']} on {result['device']}; threshold {result['threshold']}; "
        f"input size {result['input_size'] or 'native (padded to 32)'}.", "",
        "| metric | mean ± std | median |", "|---|---|---|",
    ]
    names = {"precision": "precision", "sensitivity": "sensitivity (recall)", "f1": "F1",
             "gsp": "GSP (px)", "relaxed_precision": "relaxed precision",
             "relaxed_recall": "relaxed recall", "relaxed_f1": "relaxed F1"}
    for m in METRICS:
        mean_std, med = _fmt(result["metrics"][m], 3 if m == "gsp" else 4)
        lines.append(f"| {names[m]} | {mean_std} | {med} |")
    lines += [
        "", f"GSP: mean distance from {gsp_from} to the nearest predicted pixel; frames "
        "without ground truth are skipped, an empty prediction scores the image diagonal.", "",
        "## Speed", "",
        f"- whole sequences (paper's N/T, batch {t['batch_size']}): {t['fps']:.1f} frames/s, "
        f"{t['ms_per_frame']:.1f} ms per frame",
        f"- batch-1 latency over {lat['n']} frames: mean {lat['mean']:.1f} ms, median "
        f"{lat['median']:.1f} ms, p95 {lat['p95']:.1f} ms", "",
        "## Per sequence", "",
        "| sequence | frames | F1 mean ± std | F1 median | GSP (px) | fps |",
        "|---|---|---|---|---|---|",
    ]
    for seq, s in result["per_sequence"].items():
        f1_ms, f1_med = _fmt(s["f1"])
        gsp_ms, _ = _fmt(s["gsp"], 3)
        lines.append(f"| {seq or '(none)'} | {s['frames']} | {f1_ms} | {f1_med} | {gsp_ms} | "
                     f"{s['timing']['fps']:.1f} |")
    if result.get("sweep"):
        lines += ["", "## Threshold sweep (means over frames)", "",
                  "| threshold | precision | sensitivity | F1 |", "|---|---|---|---|"]
        lines += [f"| {s['threshold']:g} | {s['precision']:.4f} | {s['sensitivity']:.4f} | "
                  f"{s['f1']:.4f} |" for s in result["sweep"]]
    tracking = result.get("tracking")
    if tracking:
        o = tracking["overall"]
        lines += ["", "## Tracking (FramePipeline on each sequence)", "",
                  f"- tip error over {o['matched_tips']} matched tips: median "
                  f"{o['tip_error_median_px']:.2f} px, p95 {o['tip_error_p95_px']:.2f} px",
                  f"- centerline error {o['centerline_error_px']:.2f} px; identity switches "
                  f"{o['id_switches']}; missed wires {o['missed_fraction']:.1%}"]
    lines += ["", f"![per-sequence F1]({files['f1_plot']})"]
    if "overlays" in files:
        lines += ["", "Worst / median / best frames by F1 (yellow: true positive, red: false "
                  "positive, blue: missed):", "", f"![overlays]({files['overlays']})"]
    return "\n".join(lines) + "\n"


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
    samples = {s.name: s for s in load_folder(result["data"]).samples
               if s.name in {f["name"] for _, f in picks}}
    tiles, labels = [], []
    for label, frame in picks:
        sample = samples[frame["name"]]
        pred = masks.get(sample.name)
        if pred is None:
            (prob,) = segment_images(segmenter, [sample.image], input_size=config.input_size)
            pred = prob > result["threshold"]
        tiles.append(overlay_mask(sample.image, pred, sample.mask))
        labels.append(f"{label} {frame['name']} F1 {frame['f1']:.3f}")
    cv2.imwrite(str(path), contact_sheet(tiles, cols=3, labels=labels))
