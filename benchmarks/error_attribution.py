"""Where a model's validation errors are: on the wire, on marked distractors, or elsewhere.

For every frame of a simulated data folder (one with ``hard/`` distractor marks, as
``franet synth`` writes them) the weights' thresholded mask is matched by the relaxed
metrics' own rule (``franet_core.metrics.relaxed_match``), and each skeleton pixel is
counted as *wire* (within 2 px of a true centerline: exactly the pixels relaxed precision
counts as matched), *distractor* (on the simulator's
hard-negative mark of an ECG or pacing lead, catheter, stent, valve or vessel) or
*elsewhere* (noise, anatomy edges, dead lines). Prints the totals, the pooled relaxed
precision and recall, and the frames with the most distractor pixels; ``--sheet`` draws
those frames (grey | prediction over truth: yellow hit, red false, blue missed | marks in
red) so that the numbers can be checked by eye.

Usage: ``python benchmarks/error_attribution.py --weights W --data runs/cache/val3
[--threshold T] [--sheet errors.png]``. Validation folders only: the point is to choose
what to change, never to score a test set.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
from tqdm import tqdm

from franet_core.contact_sheet import contact_sheet, overlay_mask
from franet_core.data import load_folder
from franet_core.metrics import RelaxedMatch, relaxed_match
from franet_core.segmenter import build_segmenter

WORST = 6


def attribute(match: RelaxedMatch, hard: np.ndarray | None) -> dict[str, int]:
    """Skeleton pixels of one frame's match on the wire, on distractor marks, elsewhere."""
    on_wire = match.skeleton & match.near_truth
    rest = match.skeleton & ~match.near_truth
    on_hard = rest & (hard > 0) if hard is not None else np.zeros_like(rest)
    return {"wire": int(on_wire.sum()), "distractor": int(on_hard.sum()),
            "elsewhere": int((rest & ~on_hard).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help=".safetensors weights (with sidecar)")
    ap.add_argument("--data", required=True, help="simulated validation folder with hard/")
    ap.add_argument("--threshold", type=float, help="default: the weights' own threshold")
    ap.add_argument("--sheet", help="PNG of the frames with the most distractor pixels")
    args = ap.parse_args()

    segmenter, meta = build_segmenter(args.weights)
    threshold = args.threshold if args.threshold is not None else float(meta["threshold"])
    folder = load_folder(args.data)
    totals = {"wire": 0, "distractor": 0, "elsewhere": 0}
    matched_true = true_points = 0
    per_frame = []
    for sample in tqdm(folder.samples, desc="frames", unit="frame"):
        pred = (segmenter.predict(sample.image[None])[0] > threshold).astype(np.uint8)
        match = relaxed_match(pred, sample.mask, [w.centerline for w in sample.wires] or None)
        counts = attribute(match, sample.hard)
        matched_true += match.counts.matched_true
        true_points += match.counts.true
        for key, n in counts.items():
            totals[key] += n
        per_frame.append((counts["distractor"], sample.name))

    skel = sum(totals.values())
    print(f"{args.weights} on {args.data} ({len(folder)} frames, threshold {threshold}):")
    for key, n in totals.items():
        print(f"  skeleton px {key:>10}: {n:7d} ({n / max(skel, 1):.1%})")
    print(f"  pooled relaxed precision {totals['wire'] / max(skel, 1):.3f}, "
          f"recall {matched_true / max(true_points, 1):.3f}")
    worst = sorted(per_frame, reverse=True)[:WORST]
    print("  most distractor px: " + ", ".join(f"{name} ({n})" for n, name in worst))
    if args.sheet:
        tiles, labels = [], []
        for _, name in worst:
            sample = folder.load(name)
            pred = (segmenter.predict(sample.image[None])[0] > threshold).astype(np.uint8)
            grey = np.round(sample.image * 255).astype(np.uint8)
            marks = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
            if sample.hard is not None:
                sel = sample.hard > 0
                marks[sel] = (0.5 * marks[sel] + (0, 0, 120)).astype(np.uint8)
            tiles += [grey, overlay_mask(grey, pred, sample.mask), marks]
            labels += [name, "prediction / truth", "distractor marks"]
        cv2.imwrite(args.sheet, contact_sheet(tiles, 3, labels))
        print(f"  wrote {args.sheet}")


if __name__ == "__main__":
    main()
