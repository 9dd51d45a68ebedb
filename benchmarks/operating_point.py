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

"""Choose a threshold on validation folders: relaxed F1 and tip rates at every candidate.

Each frame goes through the network once per batch shape (the probabilities are cached
across thresholds); at every threshold ``franet eval``'s own ``evaluate_folder`` then scores
the folder, so the relaxed F1 and the tip figures (tip detection rate and false-tip rate,
5 px) are exactly what ``franet eval --threshold T`` reports. The
chosen threshold maximises the *mean over folders* of the mean relaxed F1: with one
validation folder per wire kind (``franet synth --kind mono|dual|stiff --background-split
val``) every kind weighs the same, as the targets are per kind, instead of a mixed folder's
share of each (session 7: on the mixed val3 alone 0.80 won, and at 0.80 the tips found on
the stiff validation wires fell from 45 % to 14 %).

Usage: ``python benchmarks/operating_point.py --weights W --data runs/cache/valk_mono
runs/cache/valk_dual runs/cache/valk_stiff [--thresholds 0.65 0.7 0.75 0.8 0.85]``.
Validation folders only: a threshold chosen on a test folder inflates its figures.
"""
from __future__ import annotations

import argparse
import hashlib

import numpy as np
from tqdm import tqdm

from franet_core.evaluate import EvalConfig, evaluate_folder
from franet_core.segmenter import build_segmenter


class CachedSegmenter:
    """Wraps a segmenter so that each distinct input batch is run through the network once."""

    def __init__(self, segmenter) -> None:
        self.segmenter = segmenter
        self.memo: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str):  # device, backend, name: the wrapped segmenter's
        return getattr(self.segmenter, name)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(batch.tobytes()).hexdigest() + str(batch.shape)
        if key not in self.memo:
            self.memo[key] = self.segmenter.predict(batch)
        return self.memo[key]


def score(segmenter, folder: str, threshold: float) -> tuple[float, dict]:
    """Mean relaxed F1 over the folder's frames and its overall tracking figures, from the
    same ``evaluate_folder`` that ``franet eval`` runs (no latency pass)."""
    result = evaluate_folder(segmenter, folder, EvalConfig(threshold=threshold,
                                                           latency_frames=0, warmup=0))
    return result["metrics"]["relaxed_f1"]["mean"], result["tracking"]["overall"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=None, help="default: the shipped weights")
    ap.add_argument("--data", nargs="+", required=True, help="validation data folders")
    ap.add_argument("--thresholds", type=float, nargs="+",
                    default=[0.6, 0.65, 0.7, 0.75, 0.8, 0.85])
    args = ap.parse_args()

    segmenter, meta = build_segmenter(args.weights)
    cached = CachedSegmenter(segmenter)
    print(f"weights {args.weights or 'shipped'} (own threshold {meta.get('threshold')})")
    print("| threshold | folder | relaxed F1 | tips ≤ 5 px | false tips |")
    print("|---|---|---|---|---|")
    means = {}
    for folder in tqdm(args.data, desc="folders", unit="folder"):
        for t in args.thresholds:
            f1, tips = score(cached, folder, t)
            means.setdefault(t, []).append(f1)
            print(f"| {t:g} | {folder} | {f1:.4f} | {tips['detected_tips']}/{tips['true_tips']} "
                  f"({tips['tip_detection_rate']:.1%}) | {tips['false_tips']}/"
                  f"{tips['published_tips']} ({tips['false_tip_rate']:.1%}) |", flush=True)
        cached.memo.clear()
    for t, values in means.items():
        print(f"threshold {t:g}: mean over folders of relaxed F1 {np.mean(values):.4f}")
    best = max(means, key=lambda t: np.mean(means[t]))
    print(f"chosen: {best:g}")


if __name__ == "__main__":
    main()
