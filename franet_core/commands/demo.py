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

"""The main job in one command: simulate, segment with the shipped model, report.

Simulates a short fluoroscopy sequence of a single guidewire and one of two wires (mono and
dual), segments every frame with the shipped FRA-Net (or --weights), and writes to --out:

  data/          the simulated frames, masks and annotations (a data folder)
  demo.mp4       overlay video (GIF where no MP4 encoder exists): yellow = correct wire
                 pixels, red = false alarms, blue = missed wire pixels
  contact_sheet.png   a grid of overlay frames
  report/        the evaluation report (report.md, metrics.json, plots), as `franet eval`

and prints F1, GSP and frames per second. Runs on a CPU in well under a minute.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from franet_core.commands._flags import add_model_flags

HELP = "simulate a sequence, segment it with the shipped model, write video + report"
ORDER = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet demo``."""
    parser.add_argument("--out", type=Path, default=Path("out/demo"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=24,
                        help="frames in total, half mono, half dual (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.add_argument("--size", type=int, default=512, help="frame side in px")
    add_model_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Simulate, segment, write the video, contact sheet and report; print the summary."""
    import cv2

    from franet_core import checkpoint
    from franet_core.contact_sheet import contact_sheet, overlay_mask
    from franet_core.data import load_folder, write_data_folder
    from franet_core.evaluate import EvalConfig, evaluate_folder, write_report
    from franet_core.segmenter import build_segmenter
    from franet_core.simulator import SimConfig, Simulator
    from franet_core.video import VideoWriter

    if args.frames < 2:
        raise ValueError(f"--frames must be >= 2, got {args.frames}")
    weights = args.weights or checkpoint.DEFAULT_WEIGHTS
    if not Path(weights).is_file():
        raise FileNotFoundError(
            f"model weights not found: {weights}. Train them with "
            "'franet train --config configs/shipped.yaml --out runs/shipped', then copy "
            "runs/shipped/best.safetensors and best.json to "
            f"{checkpoint.DEFAULT_WEIGHTS.with_suffix('.{safetensors,json}')} "
            "(or pass --weights runs/shipped/best.safetensors)")
    segmenter, meta = build_segmenter(weights, backend=args.backend, device=args.device)

    n_mono = args.frames // 2
    sequences = []
    for k, (kind, n) in enumerate((("mono", n_mono), ("dual", args.frames - n_mono))):
        sim = Simulator(SimConfig(kind=kind, size=args.size), seed=args.seed + k)
        sequences.append(sim.sequence(n))
    data_dir = args.out / "data"
    write_data_folder(data_dir, sequences)

    # Tracking metrics belong to `franet track` / `franet eval`; the demo stays under a minute.
    config = EvalConfig(latency_frames=8, tracking=False)
    masks: dict = {}
    result = evaluate_folder(segmenter, data_dir, config, meta=meta, masks=masks)
    write_report(result, args.out / "report", segmenter, config, masks=masks)

    samples = load_folder(data_dir).samples
    tiles = [overlay_mask(s.image, masks[s.name], s.mask) for s in samples]
    with VideoWriter(args.out / "demo.mp4", fps=8.0) as video:
        for tile in tiles:
            video.write(tile)
    step = max(1, len(tiles) // 8)
    picks = list(range(0, len(tiles), step))[:8]
    sheet = contact_sheet([tiles[i] for i in picks], cols=4,
                          labels=[samples[i].name for i in picks])
    cv2.imwrite(str(args.out / "contact_sheet.png"), sheet)

    m, t = result["metrics"], result["timing"]
    print(f"{result['frames']} frames ({n_mono} mono, {args.frames - n_mono} dual, "
          f"{args.size} px): F1 {m['f1']['mean']:.4f} ± {m['f1']['std']:.4f}, "
          f"GSP {m['gsp']['mean']:.3f} px, {t['fps']:.1f} frames/s "
          f"({t['ms_per_frame']:.0f} ms/frame, {result['device']})")
    print(f"video: {video.path}\ncontact sheet: {args.out / 'contact_sheet.png'}\n"
          f"report: {args.out / 'report' / 'report.md'}")
    return 0
