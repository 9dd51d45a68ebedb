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
--out, named like the input frame with a .png suffix (video frames are named by index).

Typical use:
  franet segment frames/ --out masks/
  franet segment run.mp4 --out masks/ --weights runs/x/best.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path

from franet_core.commands._flags import add_model_flags

HELP = "write predicted guidewire masks (0/255 PNG) for images or a video"
ORDER = 50


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

    from franet_core.evaluate import segment_images
    from franet_core.preprocess import normalize_image
    from franet_core.segmenter import build_segmenter
    from franet_core.video import iter_frames

    if not args.input.exists():
        raise FileNotFoundError(f"input not found: {args.input}")
    segmenter, meta = build_segmenter(args.weights, backend=args.backend, device=args.device)
    threshold = args.threshold if args.threshold is not None else meta.get("threshold", 0.5)
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    pending: list[tuple[str, np.ndarray]] = []

    def flush() -> None:
        probs = segment_images(segmenter, [im for _, im in pending],
                               input_size=args.input_size, batch_size=args.batch_size)
        for (name, _), prob in zip(pending, probs):
            mask = np.where(prob > threshold, 255, 0).astype(np.uint8)
            cv2.imwrite(str(args.out / f"{Path(name).stem}.png"), mask)
        pending.clear()

    for name, frame in iter_frames(args.input):
        pending.append((name, normalize_image(frame, name=name)))
        count += 1
        if len(pending) == args.batch_size:
            flush()
    if pending:
        flush()
    if count == 0:
        raise ValueError(f"{args.input}: no frames found")
    print(f"wrote {count} mask(s) to {args.out}")
    return 0
