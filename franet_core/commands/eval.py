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

"""Evaluate weights on one or more data folders with the paper's metrics; write a report.

Per-frame pixel precision, sensitivity, F1 and GSP (px), relaxed precision / recall / F1 at
ρ px (docs/metrics.md), mean ± std and median, a per-sequence breakdown, throughput over whole
sequences (frames/s, the paper's N/T) and batch-1 latency. On annotated folders also the
tracking metrics: tip detection rate and false-tip rate (at 5 px), tip error, id switches.
Several ``--data`` folders are each reported under their folder name, plus an overall row.
OUT receives report.md, metrics.json, per_sequence_f1.png and overlays.png.

Typical use:
  franet eval --data data/test --out out/eval                       # shipped weights
  franet eval --data data/test --weights runs/x/best.safetensors --model franet --out out/x
  franet eval --data runs/heldout/mono runs/heldout/dual --out out/heldout   # one row per kind
"""
from __future__ import annotations

import argparse
from pathlib import Path

from franet_core.commands._flags import add_model_flags, add_tip_check

HELP = "evaluate weights on data folders (F1, relaxed F1, GSP, tips, speed) and write a report"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet eval``."""
    parser.add_argument("--data", type=Path, required=True, nargs="+", metavar="DIR",
                        help="data folder(s) (images/, masks/, optional annotations.json); "
                             "several are reported each under its folder name and together")
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
                        help="also report pixel and relaxed precision/recall/F1 at these "
                             "thresholds (pick an operating point on a validation folder, not "
                             "the test folder)")
    parser.add_argument("--no-tracking", action="store_true",
                        help="skip the tracking metrics on annotated folders")
    add_tip_check(parser)
    parser.add_argument("--rho", type=float, default=2.0, metavar="PX",
                        help="tolerance of relaxed precision/recall/F1, px (default 2)")
    parser.add_argument("--tip-tolerance", type=float, default=5.0, metavar="PX",
                        help="a published tip within this distance of a true tip finds it; "
                             "farther than this from every true tip it is a false tip, px "
                             "(default 5)")


def run(args: argparse.Namespace) -> int:
    """Build the segmenter, evaluate, write and summarise the report."""
    from franet_core.commands import _checks as check
    from franet_core.checkpoint import DEFAULT_WEIGHTS
    from franet_core.evaluate import EvalConfig, evaluate_folders, write_report
    from franet_core.segmenter import build_segmenter
    from franet_core.tip_check import resolve as resolve_tip_check

    for data in args.data:
        if not data.is_dir():
            raise FileNotFoundError(f"data folder not found: {data}")
    check.out_dir(args.out)
    check.probability(args.threshold, "--threshold")
    for t in args.sweep:
        check.probability(t, "--sweep")
    check.input_size(args.input_size)
    check.at_least(args.batch_size, "--batch-size")
    check.positive(args.rho, "--rho", inclusive=True)
    check.positive(args.tip_tolerance, "--tip-tolerance", inclusive=True)
    segmenter, meta = build_segmenter(args.weights, backend=args.backend, device=args.device)
    if args.model is not None and meta.get("model") != args.model:
        raise ValueError(f"{args.weights or 'shipped weights'}: weights are for model "
                         f"'{meta.get('model')}', not '{args.model}'")
    check.weights_threshold(meta, args.threshold, args.weights)
    check.probability(args.min_tip_score, "--min-tip-score", closed=True)
    tip_check, meta["tip_check"] = resolve_tip_check(
        args.tip_check, args.weights if args.weights is not None else DEFAULT_WEIGHTS,
        args.min_tip_score)
    config = EvalConfig(tip_check=tip_check, threshold=args.threshold, input_size=args.input_size,
                        batch_size=args.batch_size, tracking=not args.no_tracking,
                        sweep=tuple(args.sweep), rho=args.rho,
                        tip_tolerance_px=args.tip_tolerance)
    result = evaluate_folders(segmenter, args.data, config, meta=meta)
    paths = write_report(result, args.out, segmenter, config)
    t = result["timing"]
    rows = list(result["per_folder"].items())
    if len(rows) > 1:
        rows.append(("all", {**result, "tracking": (result.get("tracking") or {}).get("overall")}))
    for label, r in rows:
        m, tr = r["metrics"], r["tracking"]
        tips = (f", tips found {_pct(tr['tip_detection_rate'])}, false tips "
                f"{_pct(tr['false_tip_rate'])}" if tr else "")
        print(f"{label}: {r['frames']} frames: F1 {m['f1']['mean']:.4f} ± "
              f"{m['f1']['std']:.4f} (median {m['f1']['median']:.4f}), relaxed F1 "
              f"{m['relaxed_f1']['mean']:.4f}, GSP {m['gsp']['mean']:.3f} px{tips}")
    print(f"{t['fps']:.1f} frames/s, batch-1 latency {t['latency_ms']['median']:.1f} ms; "
          + (f"tip check {meta['tip_check']} (min_score {tip_check.min_score:g})"
             if tip_check else "no tip check: every tracked tip is published"))
    if result.get("sweep"):
        for metric, label in (("relaxed_f1", "relaxed F1"), ("f1", "F1")):
            best = max(result["sweep"], key=lambda s: s[metric])
            print(f"sweep: best {label} {best[metric]:.4f} at threshold {best['threshold']:g}")
    print(f"report: {paths['report']}")
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.1%}"
