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

"""Measure per-stage latency, FPS and memory of the pipeline, side by side with U-Net.

Streaming (batch 1, full pipeline: preprocess, segmenter, postprocess, centerline/tip,
tracking) reports the median and p95 per stage and end to end after a warm-up; the batched
protocol of the FRA-Net paper reports N/T over a sequence of N frames at --batch. The U-Net
baseline runs in the same process on the same frames, so the ratio is meaningful even on a
shared machine. --long N instead streams N frames and samples the memory (soak test).

Typical runs:
  franet bench --size 512 --frames 200 --json bench.json
  franet bench --backend onnx --threads 2 --model franet
  franet bench --long 10000 --json soak.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from franet_core.commands._flags import add_model_flags

HELP = "benchmark latency, FPS and memory against the U-Net baseline"
ORDER = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command-line options of ``franet bench``."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", default=None,
                       help="model name, randomly initialised (default: shipped weights)")
    parser.add_argument("--baseline", default="unet",
                        help="baseline model name or weights file, or 'none' (default unet)")
    add_model_flags(parser, weights_to=which)
    parser.add_argument("--size", type=int, default=512, help="square frame size in px")
    parser.add_argument("--batch", type=int, default=1, help="batch size, batched protocol")
    parser.add_argument("--frames", type=int, default=100, help="timed frames (N)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up frames")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch, ORT)")
    parser.add_argument("--model-config", type=Path, default=None,
                        help="YAML/JSON overrides for a --model given by name")
    parser.add_argument("--long", type=int, default=None, metavar="N",
                        help="soak test: stream N frames and report memory at intervals")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark (or soak test), print a table and optionally write JSON."""
    from franet_core.bench import BenchConfig, run_bench, soak
    from franet_core.config import load_file

    if args.model_config is not None and args.model is None:
        raise ValueError("--model-config applies to a --model given by name")
    overrides = load_file(args.model_config) if args.model_config else {}
    config = BenchConfig(
        model=args.model if args.weights is None else str(args.weights),
        baseline=None if args.baseline == "none" else args.baseline,
        backend=args.backend, device=args.device, size=args.size, batch=args.batch,
        frames=args.frames, warmup=args.warmup, threads=args.threads,
        model_config=tuple(sorted(overrides.items())))
    report = soak(config, args.long) if args.long else run_bench(config)
    print(_soak_table(report) if args.long else _table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _table(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    lines = [f"{m['cpu']} ({m['usable_cores']} usable cores, load {m['load_average_1m']:.1f}), "
             f"torch {m['torch']}, onnxruntime {m['onnxruntime']}"
             + (f", {m['gpu']}" if m.get("gpu") else ""),
             f"{s['backend']} on {s['device']}, {s['size']}x{s['size']}, "
             f"{s['frames']} frames after {s['warmup']} warm-up"]
    for role, r in report["models"].items():
        lines.append(f"{role}: {r['name']} [{r['source']}] on {r['device']}")
        for stage, st in {**r["stages_ms"], "end to end": r["end_to_end_ms"]}.items():
            lines.append(f"  {stage:<12} median {st['median']:8.2f} ms   p95 {st['p95']:8.2f} ms")
        b = r["batched"]
        lines.append(f"  streaming {r['streaming_fps']:.1f} FPS; batched (batch {b['batch']}) "
                     f"{b['fps']:.1f} FPS; peak RSS {r['memory']['peak_rss_mib']:.0f} MiB")
    if "ratio_to_baseline" in report:
        q = report["ratio_to_baseline"]
        lines.append(f"model / baseline: inference {q['inference_median']:.2f}x, end to end "
                     f"{q['end_to_end_median']:.2f}x, batched FPS {q['batched_fps']:.2f}x")
    return "\n".join(lines)


def _soak_table(report: dict[str, Any]) -> str:
    lines = [f"soak: {report['name']} on {report['device']}, {report['frames']} frames "
             f"at {report['size']}x{report['size']}"]
    for p in report["samples"]:
        lines.append(f"  frame {p['frame']:>7}  RSS {p['rss_mib']:8.1f} MiB  {p['fps']:7.1f} FPS")
    lines.append(f"RSS growth {report['rss_growth_mib']:+.1f} MiB; FPS "
                 f"{report['fps_first']:.1f} → {report['fps_last']:.1f}")
    return "\n".join(lines)
