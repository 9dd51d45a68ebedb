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

"""Evaluate weights on a data folder with the paper's metrics; write a report.

Per-frame pixel precision, sensitivity, F1 and GSP (px), mean ± std and median, a per-sequence
breakdown, throughput over whole sequences (frames/s, the paper's N/T) and batch-1 latency.
OUT receives report.md, metrics.json, per_sequence_f1.png and overlays.png.

Typical use:
  franet eval --data data/test --out out/eval                       # shipped weights
  franet eval --data data/test --weights runs/x/best.safetensors --model franet --out out/x
"""
from __future__ import annotations

import argparse
from pathlib import Path

from franet_core.commands._flags import add_model_flags

HELP = "evaluate weights on a data folder (F1, GSP, speed) and write a report"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet eval``."""
    parser.add_argument("--data", type=Path, required=True,
                        help="data folder (images/, masks/, optional annotations.json)")
    parser.add_argument("--model", help="refuse weights that are not for this model name")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the report")
    add_model_flags(parser)
    parser.add_argument("--threshold", type=float,
                        help="probability threshold (default: the weights' own)")
    parser.add_argument("--input-size", type=int,
                        help="letterbox frames to SxS px (default: native size, padded)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="frames per network call in the throughput pass")
    parser.add_argument("--sweep", type=float, nargs="+", default=(), metavar="T",
                        help="also report precision/sensitivity/F1 at these thresholds (pick "
                             "an operating point on a validation folder, not the test folder)")
    parser.add_argument("--no-tracking", action="store_true",
                        help="skip the tracking metrics on annotated folders")


def run(args: argparse.Namespace) -> int:
    """Build the segmenter, evaluate, write and summarise the report."""
    from franet_core.evaluate import EvalConfig, evaluate_folder, write_report
    from franet_core.segmenter import build_segmenter

    if not args.data.is_dir():
        raise FileNotFoundError(f"data folder not found: {args.data}")
    segmenter, meta = build_segmenter(args.weights, backend=args.backend, device=args.device)
    if args.model is not None and meta.get("model") != args.model:
        raise ValueError(f"{args.weights or 'shipped weights'}: weights are for model "
                         f"'{meta.get('model')}', not '{args.model}'")
    config = EvalConfig(threshold=args.threshold, input_size=args.input_size,
                        batch_size=args.batch_size, tracking=not args.no_tracking,
                        sweep=tuple(args.sweep))
    result = evaluate_folder(segmenter, args.data, config, meta=meta)
    paths = write_report(result, args.out, segmenter, config)
    m, t = result["metrics"], result["timing"]
    print(f"{result['frames']} frames: F1 {m['f1']['mean']:.4f} ± {m['f1']['std']:.4f} "
          f"(median {m['f1']['median']:.4f}), GSP {m['gsp']['mean']:.3f} px, "
          f"{t['fps']:.1f} frames/s, batch-1 latency {t['latency_ms']['median']:.1f} ms")
    if result.get("sweep"):
        best = max(result["sweep"], key=lambda s: s["f1"])
        print(f"sweep: best F1 {best['f1']:.4f} at threshold {best['threshold']:g}")
    print(f"report: {paths['report']}")
    return 0
