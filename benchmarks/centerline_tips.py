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

"""Does the centerline reach the true tip when the mask is perfect? Prints figures.

Runs :func:`franet_core.centerline.extract_centerlines` on the *ground-truth* masks of
annotated data folders, so no model error enters, and measures for every wire the distance
(px) from its annotated tip to the nearest end of any extracted centerline. Wires are
grouped by how much their last 40 px of annotated centerline turn: straight tips, angled
tips and J hooks (which turn by 150–200°) fail differently.

Usage: ``python benchmarks/centerline_tips.py runs/cache/val9 runs/cache/val10``
"""
from __future__ import annotations

import argparse

import numpy as np

from franet_core.centerline import extract_centerlines
from franet_core.data import load_folder

TURN_BINS_DEG = ((0, 30), (30, 90), (90, 150), (150, 400))


def tip_turn_deg(line: np.ndarray, span_px: float = 40.0) -> float:
    """Total turn (degrees) of a polyline (K, 2) x, y over its last ``span_px`` of arc."""
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(line, axis=0), axis=1))]
    d = np.diff(line[arc >= arc[-1] - span_px], axis=0)
    if len(d) < 2:
        return 0.0
    heading = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    return float(np.degrees(abs(heading[-1] - heading[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="annotated data folders")
    parser.add_argument("--tolerance", type=float, default=5.0, help="px (default 5)")
    args = parser.parse_args()
    turns, errors = [], []
    for folder in args.folders:
        for sample in load_folder(folder).samples:
            lines = extract_centerlines(sample.mask > 0)
            ends = np.array([p for c in lines for p in (c.points[0], c.points[-1])])
            for wire in sample.wires:
                turns.append(tip_turn_deg(wire.centerline))
                errors.append(float(np.min(np.linalg.norm(ends - wire.tip, axis=1)))
                              if len(ends) else np.inf)
    turns_a, errors_a = np.array(turns), np.array(errors)
    print(f"| tip turn (deg) | wires | centerline end within {args.tolerance:g} px of the tip |")
    print("|---|---|---|")
    for lo, hi in TURN_BINS_DEG:
        inside = (turns_a >= lo) & (turns_a < hi)
        if inside.any():
            reached = np.mean(errors_a[inside] <= args.tolerance)
            print(f"| {lo}-{hi} | {inside.sum()} | {reached:.3f} |")
    print(f"| all | {len(errors_a)} | {np.mean(errors_a <= args.tolerance):.3f} |")


if __name__ == "__main__":
    main()
