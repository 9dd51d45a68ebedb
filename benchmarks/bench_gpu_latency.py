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

"""Network latency on a GPU: batch 1 and batched, fp32 and fp16 (autocast), channels-last.

Times the segmentation network alone (no pre/post-processing, which ``franet bench``
covers) with CUDA events after a warm-up, and prints and writes, per (dtype, batch): the
median and p95 ms per call and the median ms per frame. Without CUDA it runs the same
protocol on the CPU with fewer repetitions (a dry run of the script, not a GPU figure).

Usage: ``python benchmarks/bench_gpu_latency.py [--weights W] [--size 512] [--out J]``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import time

import numpy as np
import torch

from franet_core.checkpoint import load_model


def _time(model: torch.nn.Module, x: torch.Tensor, fp16: bool, reps: int) -> list[float]:
    """Milliseconds per call over ``reps`` calls after a warm-up."""
    cuda = x.device.type == "cuda"
    times = []
    with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.float16,
                                                enabled=fp16 and cuda):
        for _ in range(max(3, reps // 5)):
            model(x)
        for _ in range(reps):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), \
                    torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                model(x)
                times.append(1e3 * (time.perf_counter() - t0))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: shipped weights")
    parser.add_argument("--size", type=int, default=512, help="square input side, px")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--reps", type=int, default=100, help="timed calls per setting")
    parser.add_argument("--out", type=Path, default=None, help="JSON report")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    model, _ = load_model(args.weights)
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    reps = args.reps if cuda else max(3, args.reps // 20)
    rows = []
    for fp16 in (False, True):
        if fp16 and not cuda:
            continue
        for batch in args.batches:
            x = torch.rand(batch, 1, args.size, args.size, device=device)
            x = x.to(memory_format=torch.channels_last)
            t = _time(model, x, fp16, reps)
            rows.append({"dtype": "fp16" if fp16 else "fp32", "batch": batch,
                         "ms_median": float(np.median(t)), "ms_p95": float(np.percentile(t, 95)),
                         "ms_per_frame": float(np.median(t)) / batch})
            r = rows[-1]
            print(f"{r['dtype']} batch {batch:3d}: {r['ms_median']:8.3f} ms median, "
                  f"{r['ms_p95']:8.3f} p95, {r['ms_per_frame']:7.3f} ms/frame")
    report = {"device": torch.cuda.get_device_name(0) if cuda else "cpu",
              "torch": torch.__version__, "size": args.size, "results": rows}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
