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

"""Track guidewires through a sequence: tips, centerlines and an overlay video.

INPUT is a folder of frames (sorted by name, one sequence; a data folder's images/ is used),
a video file, a single image, or a ROS 2 bag (with --image-topic). Writes to --out:

  tips.csv          frame,wire_id,x,y,angle_rad,confidence,status,tip_score  (px; LOST rows
                    have empty x, y, angle_rad; tip_score is the tip check's, empty without
                    one, and set on a LOST row whose tip it withheld; with --pixel-spacing
                    also x_mm,y_mm)
  centerlines.json  per frame, per wire: id, status, tip, angle, confidence, tip_score,
                    centerline (px)
  overlay.mp4       centerline, tip arrow, id and status on every frame (GIF if no MP4 codec)

Frames that cannot be read or processed are skipped, counted and listed at the end. When
INPUT is a data folder with annotations.json, tracking metrics against it are printed.
The outputs appear only when the run finishes (written under temporary names, then
renamed); when not one frame can be tracked, nothing is written and the exit status is 2.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path
from typing import Any

from franet_core.commands._flags import add_model_flags, add_tip_check

HELP = "track guidewires in a folder / video / bag: tips.csv, centerlines.json, overlay video"
ORDER = 60
LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    parser.add_argument("input", type=Path, help="frame folder, video file, image or ROS 2 bag")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_model_flags(parser)
    parser.add_argument("--threshold", type=float, default=None,
                        help="probability threshold for the mask (default: the weights' own)")
    parser.add_argument("--pixel-spacing", type=float, default=None, metavar="MM",
                        help="mm per pixel; adds millimetre outputs")
    parser.add_argument("--image-topic", default=None, help="image topic when INPUT is a bag")
    parser.add_argument("--fps", type=float, default=10.0, help="overlay video frame rate")
    parser.add_argument("--no-video", action="store_true", help="do not write the overlay")
    add_tip_check(parser)


def run(args: argparse.Namespace) -> int:
    """Track every frame of ``args.input`` and write the outputs; returns 0."""
    import os

    from tqdm import tqdm

    from franet_core import atomic
    from franet_core.commands import _checks as check
    from franet_core.overlay import draw_result
    from franet_core.pipeline import FramePipeline, PipelineConfig
    from franet_core.video import VideoWriter, iter_frames

    check.existing(Path(args.input), "input")
    check.out_dir(args.out)
    check.probability(args.threshold, "--threshold")
    check.positive(args.pixel_spacing, "--pixel-spacing")
    check.positive(args.fps, "--fps")
    check.probability(args.min_tip_score, "--min-tip-score", closed=True)
    config = PipelineConfig(threshold=args.threshold, pixel_spacing_mm=args.pixel_spacing)
    frames = iter_frames(args.input, topic=args.image_topic)
    pipe = FramePipeline.from_weights(args.weights, args.backend, args.device, config,
                                      tip_check=args.tip_check,
                                      min_tip_score=args.min_tip_score)
    if pipe.meta.get("tip_check") is None:
        LOG.warning("no tip check for these weights: every tracked tip is published")
    created = not args.out.exists()
    args.out.mkdir(parents=True, exist_ok=True)
    spacing = args.pixel_spacing
    bad: list[str] = []
    names, results, tracked = [], [], []
    token = f"{os.getpid()}.tmp"
    tips_tmp = args.out / f".tips.{token}.csv"
    video = None if args.no_video else VideoWriter(args.out / f".overlay.{token}.mp4",
                                                   fps=args.fps)
    try:
        with open(tips_tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["frame", "wire_id", "x", "y", "angle_rad", "confidence", "status",
                             "tip_score"]
                            + (["x_mm", "y_mm"] if spacing else []))
            for name, image in tqdm(frames, desc="track", unit="frame"):
                try:
                    result = pipe.process(image)
                except ValueError as exc:
                    if getattr(image, "size", 1):  # unreadable ones were logged when read
                        LOG.warning("skipping frame %s: %s", name, exc)
                    bad.append(name)
                    continue
                names.append(name)
                results.append(_json_frame(name, result))
                tracked.append(result.wires)
                for w in result.wires:
                    writer.writerow(_csv_row(name, w, spacing))
                if video is not None:
                    video.write(draw_result(image, result))
        if not names:
            raise ValueError(f"{args.input}: no frame could be tracked"
                             + (f" ({len(bad)} unreadable: {_listed(bad)})" if bad else ""))
        overlay = None
        if video is not None:
            video.close()
            overlay = args.out / f"overlay{video.path.suffix}"
            os.replace(video.path, overlay)
        doc = {"pixel_spacing_mm": spacing, "frames": results}
        atomic.write_text(args.out / "centerlines.json", json.dumps(doc) + "\n")
        os.replace(tips_tmp, args.out / "tips.csv")
    finally:
        if video is not None:
            video.close()
            video.path.unlink(missing_ok=True)
        tips_tmp.unlink(missing_ok=True)
        if created and not any(args.out.iterdir()):
            args.out.rmdir()
    print(f"tracked {len(names)} frames -> {args.out}"
          + (f" (overlay: {overlay.name})" if overlay is not None else ""))
    if bad:
        print(f"skipped {len(bad)} bad frame(s): {_listed(bad)}")
    annotations = Path(args.input) / "annotations.json"
    if Path(args.input).is_dir() and annotations.is_file():
        _print_metrics(annotations, names, tracked, spacing)
    return 0


def _listed(names: list[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


def _csv_row(name: str, w: Any, spacing: float | None) -> list[Any]:
    if w.tip is None:
        xy: list[Any] = ["", ""]
        angle: Any = ""
    else:
        xy = [f"{w.tip[0]:.3f}", f"{w.tip[1]:.3f}"]
        angle = f"{w.tip_angle:.5f}"
    row = [name, w.id, *xy, angle, f"{w.confidence:.4f}", w.status.value,
           "" if w.tip_score is None else f"{w.tip_score:.4f}"]
    if spacing:
        row += ["", ""] if w.tip is None else [f"{w.tip[0] * spacing:.4f}",
                                               f"{w.tip[1] * spacing:.4f}"]
    return row


def _json_frame(name: str, result: Any) -> dict[str, Any]:
    return {"frame": name, "index": result.index, "wires": [
        {"id": w.id, "status": w.status.value, "confidence": round(w.confidence, 4),
         "tip": None if w.tip is None else [round(float(v), 3) for v in w.tip],
         "angle_rad": None if w.tip_angle is None else round(float(w.tip_angle), 5),
         "tip_score": None if w.tip_score is None else round(float(w.tip_score), 4),
         "centerline": [[round(float(x), 2), round(float(y), 2)] for x, y in w.centerline]}
        for w in result.wires]}


def _print_metrics(path: Path, names: list[str], tracked: list[list[Any]],
                   spacing: float | None) -> None:
    """Compare the tracked wires with annotations.json and print the metrics."""
    from franet_core.tracking_metrics import TruthWire, evaluate_sequence

    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
        keep = [i for i, n in enumerate(names) if n in truth]
        truth_frames = [[TruthWire.from_json(w) for w in truth[names[i]]] for i in keep]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"{path}: malformed annotations, no metrics ({type(exc).__name__}: "
                         f"{exc}); the tracking outputs were written") from exc
    if not keep:
        print(f"{path}: no annotated frame among the tracked ones; no metrics")
        return
    report = evaluate_sequence(truth_frames, [tracked[i] for i in keep], pixel_spacing_mm=spacing)
    print("tracking metrics: " + report.summary())
