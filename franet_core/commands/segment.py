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

"""Segment guidewires in an image folder, a video file or a single image; write masks.

Every frame gets a mask PNG (0 = background, 255 = guidewire) at the frame's own size in
--out, named like the input frame with a .png suffix (video frames are named by index;
files whose names differ only in the suffix, a.png and a.tif, give a.png.png and a.tif.png).
Each mask is written atomically. A file that cannot be read is skipped; skipped and
unwritten files are counted and named at the end. Exit status 0 when every mask was written
(some inputs may have been skipped), 1 when a mask could not be written, 2 when no input
could be read.

Typical use:
  franet segment frames/ --out masks/
  franet segment run.mp4 --out masks/ --weights runs/x/best.safetensors
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from franet_core.commands._flags import add_model_flags

HELP = "write predicted guidewire masks (0/255 PNG) for images or a video"
ORDER = 50
LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet segment``."""
    parser.add_argument("input", type=Path, help="image folder, video file or single image")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    add_model_flags(parser)
    parser.add_argument("--threshold", type=float,
                        help="probability threshold (default: the weights' own)")
    parser.add_argument("--input-size", type=int,
                        help="letterbox frames to SxS px (default: native size, padded)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames per network call")


def run(args: argparse.Namespace) -> int:
    """Segment every frame of ``args.input`` and write its mask."""
    import cv2
    import numpy as np

    from franet_core import atomic
    from franet_core.cli import one_line
    from franet_core.commands import _checks as check
    from franet_core.evaluate import segment_images
    from franet_core.preprocess import normalize_image
    from franet_core.segmenter import build_segmenter
    from franet_core.video import iter_frames

    check.existing(args.input, "input")
    check.out_dir(args.out)
    check.probability(args.threshold, "--threshold")
    check.input_size(args.input_size)
    check.at_least(args.batch_size, "--batch-size")
    segmenter, meta = build_segmenter(args.weights, backend=args.backend, device=args.device)
    threshold = check.weights_threshold(meta, args.threshold, args.weights)
    pending: list[tuple[str, np.ndarray]] = []
    written: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []

    def flush() -> None:
        probs = segment_images(segmenter, [im for _, im in pending],
                               input_size=args.input_size, batch_size=args.batch_size)
        for (name, _), prob in zip(pending, probs):
            mask = np.where(prob > threshold, 255, 0).astype(np.uint8)
            target = args.out / f"{name}.png"
            try:
                ok, png = cv2.imencode(".png", mask)
                if not ok:
                    raise OSError(f"{target}: OpenCV could not encode the mask")
                atomic.write_bytes(target, png.tobytes())
            except OSError as exc:
                failed.append(one_line(exc))
                continue
            written.append(name)
        pending.clear()

    for name, frame in iter_frames(args.input):
        try:
            pending.append((name, normalize_image(frame, name=name)))
        except ValueError as exc:
            LOG.warning("skipping %s: %s", name, exc)
            skipped.append(name)
            continue
        if len(pending) == args.batch_size:
            flush()
    if pending:
        flush()
    if not written and not failed:
        raise ValueError(f"{args.input}: no frame could be read ({len(skipped)} skipped: "
                         f"{_names(skipped)})" if skipped else f"{args.input}: no frames found")
    print(f"wrote {len(written)} mask(s) to {args.out}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable input(s): {_names(skipped)}")
    if failed:
        print(f"FAILED to write {len(failed)} mask(s): {_names(failed, 3)}")
        return 1
    return 0


def _names(items: list[str], limit: int = 10) -> str:
    return ", ".join(items[:limit]) + (f" ... ({len(items) - limit} more)"
                                       if len(items) > limit else "")
