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

"""Simulate guidewire fluoroscopy sequences into a data folder, plus a contact sheet.

Writes DIR/images/sNNNN_fMMMM.png (8-bit), DIR/masks/ (0/255), DIR/annotations.json
(per-frame wires: id, centerline proximal -> tip, tip) and DIR/contact_sheet.png (raw frames
and frames with the ground-truth mask in green). Deterministic for --seed.
"""
from __future__ import annotations

import argparse

HELP = "simulate a guidewire data set (data folder + contact sheet)"
ORDER = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``franet synth``."""
    parser.add_argument("--out", required=True, help="output data folder (must hold no images)")
    parser.add_argument("--sequences", type=int, default=4, help="number of sequences")
    parser.add_argument("--frames", type=int, default=8, help="frames per sequence")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--size", type=int, default=512, help="frame side, px")
    parser.add_argument("--kind", default="mixed", choices=["mono", "dual", "stiff", "mixed"],
                        help="guidewire scenario")
    parser.add_argument("--backgrounds", default=None,
                        help="folder of real X-ray PNGs (DIR or DIR/images) to composite onto")
    parser.add_argument("--background-prob", type=float, default=None, metavar="P",
                        help="share of sequences composited onto a real background "
                             "(default: the simulator's, 0.6; 1 = all)")


def load_backgrounds(path: str) -> list:
    """All PNGs of ``path`` (or ``path/images``) as float images; errors name the file."""
    from pathlib import Path

    from franet_core.data import read_image

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"backgrounds folder not found: {root}")
    files = sorted(root.glob("*.png")) or sorted((root / "images").glob("*.png"))
    if not files:
        raise ValueError(f"no .png backgrounds in {root} or {root / 'images'}")
    return [read_image(f) for f in files]


def run(args: argparse.Namespace) -> int:
    """Simulate, write the folder and the contact sheet; returns 0."""
    import dataclasses
    from pathlib import Path

    import cv2
    import numpy as np
    from tqdm import tqdm

    from franet_core.contact_sheet import contact_sheet, overlay_mask
    from franet_core.data import DataFolderWriter
    from franet_core.simulator import SimConfig, Simulator

    if args.sequences < 1 or args.frames < 1:
        raise ValueError("--sequences and --frames must be >= 1")
    backgrounds = load_backgrounds(args.backgrounds) if args.backgrounds else None
    config = SimConfig(size=args.size, kind=args.kind)
    if args.background_prob is not None:
        config = dataclasses.replace(config, background_prob=args.background_prob)
    sim = Simulator(config, seed=args.seed, backgrounds=backgrounds)
    writer = DataFolderWriter(args.out)
    tiles, labels = [], []
    fractions = []
    with tqdm(total=args.sequences * args.frames, unit="frame", desc="synth") as bar:
        for s in range(args.sequences):
            for j, frame in enumerate(sim.sequence(args.frames)):
                name = f"s{s:04d}_f{j:04d}"
                writer.add(name, frame)
                fractions.append(float(frame.mask.mean()))
                if j == 0 and len(tiles) < 16:
                    tiles += [frame.image, overlay_mask(frame.image, gt=frame.mask)]
                    labels += [name, f"{name} gt"]
                bar.update(1)
    root = writer.close()
    sheet = contact_sheet(tiles, cols=4, labels=labels)
    if not cv2.imwrite(str(Path(root) / "contact_sheet.png"), sheet):
        raise ValueError(f"cannot write {Path(root) / 'contact_sheet.png'}")
    print(f"wrote {args.sequences * args.frames} frames to {root} "
          f"(mean wire fraction {np.mean(fractions):.5f}) and {root}/contact_sheet.png")
    return 0
