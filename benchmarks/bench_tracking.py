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

"""Median time of centerline + tip + tracking per 512×512 frame on ONE CPU core.

Target: ≤ 5 ms. Wall time and this thread's CPU time are both printed: on a shared machine
the CPU time is the fairer figure. Input masks are ground-truth masks of simulated sequences
(``franet_core.sim``, dual guidewires) when the simulator is available, else two
drawn wires advancing and crossing. With the simulator, the tip error and identity switches
of tracking on those ground-truth masks are printed too (an upper bound for the model).

    python benchmarks/bench_tracking.py [--sequences 4] [--frames 40] [--kind dual]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from franet_core.centerline import CenterlineConfig, extract_centerlines  # noqa: E402
from franet_core.tip import observe  # noqa: E402
from franet_core.tracker import Tracker, TrackerConfig  # noqa: E402
from franet_core.tracking_metrics import evaluate_sequence  # noqa: E402


def drawn_sequence(n_frames: int, size: int = 512) -> list[tuple[np.ndarray, list]]:
    """Two 5 px wires entering from the left border, tips advancing 4 px/frame, crossing."""
    frames = []
    for k in range(n_frames):
        mask = np.zeros((size, size), np.uint8)
        for y0, slope, x_tip in ((100, 0.6, 150 + 4 * k), (420, -0.6, 200 + 4 * k)):
            xs = np.linspace(0, min(x_tip, size - 10), 600)
            pts = np.stack([xs, y0 + slope * xs + 15 * np.sin(xs / 40)], axis=1)
            cv2.polylines(mask, [np.round(pts * 16).astype(np.int32)], False, 1, 5,
                          cv2.LINE_8, 4)
        frames.append((mask, []))
    return frames


def simulated_sequences(n_seq: int, n_frames: int, kind: str) -> list[list[tuple]]:
    """Ground-truth (mask, wires) per frame from the simulator, or None if it is absent."""
    try:
        from franet_core.sim import SimConfig, Simulator
    except ImportError:
        return []
    sim = Simulator(SimConfig(size=512, kind=kind), seed=1234)
    return [[(f.mask, f.wires) for f in sim.sequence(n_frames)] for _ in range(n_seq)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--kind", default="dual", help="simulator kind: mono, dual, stiff")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    sequences = simulated_sequences(args.sequences, args.frames, args.kind)
    source = f"simulator ({args.kind})" if sequences else "drawn masks"
    if not sequences:
        sequences = [drawn_sequence(args.frames)]
    ccfg, wall, cpu, reports = CenterlineConfig(), [], [], []
    for seq in sequences:
        tracker = Tracker(TrackerConfig())
        predicted = []
        for mask, _ in seq:
            t0, c0 = time.perf_counter(), time.thread_time()
            obs = [observe(c, mask.shape) for c in extract_centerlines(mask, ccfg)]
            predicted.append(tracker.update(obs, mask.shape))
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
        if seq[0][1]:
            reports.append(evaluate_sequence([w for _, w in seq], predicted))
    w, c = np.asarray(wall), np.asarray(cpu)
    print(f"centerline+tip+tracking on 1 core, {source}, {len(w)} frames of "
          f"{sequences[0][0][0].shape}: median {np.median(w):.2f} ms wall "
          f"(p95 {np.percentile(w, 95):.2f}), median {np.median(c):.2f} ms CPU time "
          "(target <= 5 ms)")
    for i, r in enumerate(reports):
        print(f"  sequence {i}: {r.summary()}")


if __name__ == "__main__":
    main()
