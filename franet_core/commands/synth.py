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

Writes DIR/images/sNNNN_fMMMM.png (8-bit, or 16-bit for sequences the detector delivers as
raw counts), DIR/masks/ (0/255), DIR/hard/ (0/255 distractor marks, the hard negatives of
training), DIR/annotations.json (per-frame wires: id, centerline proximal -> tip, tip) and
DIR/contact_sheet.png (raw frames and frames with the ground-truth mask in green).
Sequence s is simulated from the seed pair (--seed, s), so the folder is deterministic for
--seed whatever --workers is. ``--preset`` rebuilds a held-out test domain exactly
(franet_core.sim.presets; its own seed unless --seed is given). ``--set KEY=VALUE`` changes
any SimConfig field after that (``--set vessel_marks=false``: the same frames, marks without
the contrast-filled vessels).

``--wire-free`` writes the real backgrounds themselves instead, one frame each
(DIR/images/rNNNN_f0000.png, empty masks, no wires): a validation folder of real X-ray on
which every mark counts as false and every published tip as a false tip. The cadml
angiograms carry no guidewire labels and show contrast-filled vessels and diagnostic
catheters; a wire inside a catheter would be counted false too, so the figures are an
upper bound of the false marks. ``franet eval`` on it reports the share of frames left
unmarked (relaxed F1, which is 1 on an unmarked wire-free frame) and the frames with a
false tip.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "simulate a guidewire data set (data folder + contact sheet)"
ORDER = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``franet synth``."""
    from franet_core.sim import PRESETS

    parser.add_argument("--out", required=True, help="output data folder (must hold no images)")
    parser.add_argument("--preset", default=None, choices=sorted(PRESETS),
                        help="a held-out test domain: " + "; ".join(  # argparse formats % itself
                            f"{p.name}: {p.description}".replace("%", "%%")
                            for p in PRESETS.values()))
    parser.add_argument("--sequences", type=int, default=4, help="number of sequences")
    parser.add_argument("--frames", type=int, default=8, help="frames per sequence")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the preset's, else 0)")
    parser.add_argument("--size", type=int, default=512, help="frame side, px")
    parser.add_argument("--kind", default="mixed", choices=["mono", "dual", "stiff", "mixed"],
                        help="guidewire scenario")
    parser.add_argument("--backgrounds", default=None,
                        help="folder of real X-ray PNGs (DIR or DIR/images) to composite onto")
    parser.add_argument("--background-split", default=None, choices=["train", "val", "test"],
                        help="use the recorded split of ../shared/data/angiography-cadml "
                             "(franet_core/sim/background_split.yaml); --backgrounds then "
                             "names the folder holding those files, if not the recorded one")
    parser.add_argument("--background-prob", type=float, default=None, metavar="P",
                        help="share of sequences composited onto a real background "
                             "(default: the preset's or the simulator's, 0.6; 1 = all)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes simulating sequences in parallel")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override a simulator setting (a SimConfig field, value read as "
                             "YAML), after --preset and --kind; repeatable, e.g. --set "
                             "ecg_prob=0 vessel_marks=false")
    parser.add_argument("--wire-free", action="store_true",
                        help="write the real backgrounds themselves as wire-free frames (empty "
                             "masks), one per image, instead of simulating: the false marks "
                             "and false tips a model makes on real X-ray (needs "
                             "--background-split or --backgrounds)")


def load_backgrounds(path: str) -> list:
    """All PNGs of ``path`` (or ``path/images``) as float images; errors name the file."""
    from franet_core.data import read_image

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"backgrounds folder not found: {root}")
    files = sorted(root.glob("*.png")) or sorted((root / "images").glob("*.png"))
    if not files:
        raise ValueError(f"no .png backgrounds in {root} or {root / 'images'}")
    return [read_image(f) for f in files]


def resolve_backgrounds(folder: str | None, split: str | None) -> list | None:
    """Background images: a recorded split (optionally in ``folder``), or all of ``folder``."""
    from franet_core.data import read_image
    from franet_core.sim.presets import background_split

    if split is not None:
        return [read_image(p) for p in background_split(split, folder)]
    return load_backgrounds(folder) if folder else None


#: (config, seed, frames, backgrounds) of the running ``franet synth``, set once per worker
#: process so the background images are not sent along with every sequence.
_JOB: tuple = ()


def _init_worker(config, seed: int, frames: int, backgrounds: list | None) -> None:
    global _JOB
    _JOB = (config, seed, frames, backgrounds)


def _simulate(index: int) -> list:
    """Sequence ``index`` of the running job: ``[(name, SimFrame), ...]``."""
    from franet_core.sim import Simulator

    config, seed, frames, backgrounds = _JOB
    sim = Simulator(config, seed=(seed, index), backgrounds=backgrounds)
    return [(f"s{index:04d}_f{j:04d}", frame) for j, frame in enumerate(sim.sequence(frames))]


def _write_contact_sheet(root: str | Path, tiles: list, labels: list[str]) -> None:
    """``root/contact_sheet.png`` of ``tiles``, 4 per row; ValueError if it cannot be written."""
    import cv2

    from franet_core.contact_sheet import contact_sheet

    path = Path(root) / "contact_sheet.png"
    if not cv2.imwrite(str(path), contact_sheet(tiles, cols=4, labels=labels)):
        raise ValueError(f"cannot write {path}")


def _write_wire_free(out: str, backgrounds: list) -> int:
    """The backgrounds as wire-free frames ``rNNNN_f0000`` (each its own sequence)."""
    import numpy as np

    from franet_core.data import DataFolderWriter
    from franet_core.sim import SimFrame

    writer = DataFolderWriter(out)
    names = [f"r{i:04d}_f0000" for i in range(len(backgrounds))]
    for name, image in zip(names, backgrounds):
        writer.add(name, SimFrame(image=image, mask=np.zeros(image.shape, np.uint8)))
    root = writer.close()
    _write_contact_sheet(root, backgrounds[:16], names[:16])
    print(f"wrote {len(backgrounds)} wire-free real frames to {root} "
          f"and {root}/contact_sheet.png")
    return 0


def run(args: argparse.Namespace) -> int:
    """Simulate, write the folder and the contact sheet; returns 0."""
    import dataclasses
    from multiprocessing import get_context

    import numpy as np
    from tqdm import tqdm

    from franet_core import config as config_io
    from franet_core.contact_sheet import overlay_mask
    from franet_core.data import DataFolderWriter
    from franet_core.sim import PRESETS, SimConfig, preset

    if args.sequences < 1 or args.frames < 1:
        raise ValueError("--sequences and --frames must be >= 1")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    chosen = PRESETS[args.preset] if args.preset else None
    split = args.background_split or (chosen.backgrounds if chosen else None)
    backgrounds = resolve_backgrounds(args.backgrounds, split)
    if args.wire_free:
        if not backgrounds:
            raise ValueError("--wire-free needs real backgrounds: --background-split or "
                             "--backgrounds")
        return _write_wire_free(args.out, backgrounds)
    config = preset(args.preset, size=args.size, kind=args.kind) if chosen else \
        SimConfig(size=args.size, kind=args.kind)
    if args.background_prob is not None:
        config = dataclasses.replace(config, background_prob=args.background_prob)
    if args.set:
        fields = config_io.to_dict(config)
        config_io.apply_overrides(fields, args.set)
        config = config_io.from_dict(SimConfig, fields, where="synth --set")
    seed = args.seed if args.seed is not None else (chosen.seed if chosen else 0)
    writer = DataFolderWriter(args.out)
    tiles, labels = [], []
    fractions = []
    job = (config, seed, args.frames, backgrounds)
    _init_worker(*job)
    with tqdm(total=args.sequences * args.frames, unit="frame", desc="synth") as bar, \
            get_context("fork").Pool(args.workers, _init_worker, job) as pool:
        indices = range(args.sequences)
        results = pool.imap(_simulate, indices) if args.workers > 1 else map(_simulate, indices)
        for sequence in results:
            for j, (name, frame) in enumerate(sequence):
                writer.add(name, frame)
                fractions.append(float(frame.mask.mean()))
                if j == 0 and len(tiles) < 16:
                    tiles += [frame.image, overlay_mask(frame.image, gt=frame.mask)]
                    labels += [name, f"{name} gt"]
                bar.update(1)
    root = writer.close()
    _write_contact_sheet(root, tiles, labels)
    print(f"wrote {args.sequences * args.frames} frames to {root} "
          f"(mean wire fraction {np.mean(fractions):.5f}) and {root}/contact_sheet.png")
    return 0
