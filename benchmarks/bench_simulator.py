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

"""Simulator throughput on ONE CPU core (issue 2 targets: >= 30 fps at 512, >= 100 at 256).

Pins the process to a single core (``os.sched_setaffinity``, Linux) and sets OpenCV and
torch to one thread, then reports:

* sequence fps: frames/s of ``Simulator.sequence(30)`` (scene construction amortised over
  the 30 frames, as ``franet synth`` runs it);
* dataset items/s: ``SyntheticDataset`` items (a fresh scene + one frame per item).

Rates are per second of process CPU time (``time.process_time``), which on one thread is
what one dedicated core delivers, and also per wall-clock second (lower on a busy machine).

Usage: ``python benchmarks/bench_simulator.py [--seconds 5]``.
"""
from __future__ import annotations

import argparse
import os
import time

import cv2
import torch

from franet_core.datasets import SyntheticDataset
from franet_core.sim import SimConfig, Simulator


def _rate(fn, seconds: float) -> tuple[float, float]:
    """(per CPU second, per wall second) rates of ``fn`` (which returns its item count)."""
    fn()  # warm-up (noise bank, caches)
    count, wall, cpu = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu < seconds:
        count += fn()
    return count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    for size in (512, 256):
        sim = Simulator(SimConfig(size=size), seed=0)
        fps = _rate(lambda: len(sim.sequence(args.frames)), args.seconds)
        ds = SyntheticDataset(SimConfig(size=size), seed=0, length=10 ** 9)
        it = iter(range(10 ** 9))
        items = _rate(lambda: (ds[next(it)], 1)[1], args.seconds)
        print(f"size {size}: sequence {fps[0]:6.1f} frames/s | dataset {items[0]:6.1f} items/s "
              f"per CPU second (wall: {fps[1]:.1f} | {items[1]:.1f}); 1 core, kind=mixed, "
              f"{args.frames}-frame sequences")


if __name__ == "__main__":
    main()
