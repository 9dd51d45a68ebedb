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

"""The main job in one command: simulate, segment and track with the shipped model, report.

Simulates a short fluoroscopy sequence of a single guidewire and one of two wires (mono and
dual) from the held-out "mixed" test preset (seeds no training or validation run has seen),
segments and tracks every frame with the shipped FRA-Net (or --weights), and writes to
--out:

  data/          the simulated frames, masks and annotations (a data folder; a later demo
                 into the same --out replaces it, any other folder there is refused)
  demo.mp4       overlay video (GIF where no MP4 encoder exists): yellow = correct wire
                 pixels, red = false alarms, blue = missed wire pixels
  contact_sheet.png   a grid of overlay frames
  report/        the evaluation report (report.md, metrics.json, plots), as `franet eval`

and prints the relaxed F1 (2 px), the pixel F1, GSP, the tip detection and false-tip rates
and frames per second, then says plainly whether the wire was found and tracked. Runs on a
CPU in well under a minute.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from franet_core.commands._flags import add_model_flags

HELP = "simulate a sequence, segment it with the shipped model, write video + report"
ORDER = 5
#: File that marks a demo's own data folder, which the next demo may replace.
DEMO_MARK = ".franet-demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet demo``."""
    parser.add_argument("--out", type=Path, default=Path("out/demo"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=24,
                        help="frames in total, half mono, half dual (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="simulator seed (default: the held-out mixed preset's)")
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
    from franet_core.sim import PRESETS, Simulator, preset
    from franet_core.tip_check import resolve as resolve_tip_check
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
    seed = PRESETS["mixed"].seed if args.seed is None else args.seed
    for k, (kind, n) in enumerate((("mono", n_mono), ("dual", args.frames - n_mono))):
        sim = Simulator(preset("mixed", kind=kind, size=args.size), seed=(seed, k))
        sequences.append(sim.sequence(n))
    data_dir = args.out / "data"
    if (data_dir / DEMO_MARK).is_file():  # the frames of an earlier demo: replace them
        shutil.rmtree(data_dir)
    write_data_folder(data_dir, sequences)
    (data_dir / DEMO_MARK).write_text("frames simulated by `franet demo`; a new demo replaces "
                                      "this folder\n", encoding="utf-8")

    tip_check, meta["tip_check"] = resolve_tip_check("auto", weights)
    config = EvalConfig(latency_frames=8, tracking=True, tip_check=tip_check)
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
    tips = (result.get("tracking") or {}).get("overall") or {}
    detected, false = tips.get("tip_detection_rate"), tips.get("false_tip_rate")
    print(f"{result['frames']} held-out frames ({n_mono} mono, {args.frames - n_mono} dual, "
          f"{args.size} px): relaxed F1 {m['relaxed_f1']['mean']:.3f}, pixel F1 "
          f"{m['f1']['mean']:.3f} ± {m['f1']['std']:.3f}, GSP {m['gsp']['mean']:.2f} px, "
          f"tips within 5 px {_pct(detected)}, false tips {_pct(false)}, "
          f"{t['fps']:.1f} frames/s ({t['ms_per_frame']:.0f} ms/frame, {result['device']}); "
          + (f"tips scoring under {tip_check.min_score:g} withheld by the tip check"
             if tip_check else "no tip check"))
    found = m["relaxed_f1"]["mean"] >= 0.9 and (detected or 0.0) >= 0.9 and (false or 0.0) <= 0.01
    print("the wire is found and tracked on these held-out sequences" if found else
          "the model does NOT yet find and track the wire reliably on these held-out "
          "sequences (goal: relaxed F1 >= 0.9, tips within 5 px >= 90 %, false tips <= 1 %); "
          "see the video")
    print(f"video: {video.path}\ncontact sheet: {args.out / 'contact_sheet.png'}\n"
          f"report: {args.out / 'report' / 'report.md'}")
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"
