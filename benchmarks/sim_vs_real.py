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

"""Side-by-side 1:1 crops of real angiograms and of every simulator preset, to judge by eye.

Row 0 holds 160×160 px crops (no resampling) of real frames of the validation background
split; each further row one preset's simulated frames (procedural anatomy only, so the
textures compared are the simulator's own), cropped around the wire tip. Also prints the
noise measures the issue quotes, on the real frames: the high-pass noise std as a share of
the grey range and its neighbour correlation (a 3×3 median residual: structure-free enough
on these smooth backgrounds to compare regimes, not an exact noise estimate).

Usage: ``python benchmarks/sim_vs_real.py --out sim_vs_real.png``.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from franet_core.contact_sheet import contact_sheet
from franet_core.data import read_image
from franet_core.sim import PRESETS, Simulator, preset
from franet_core.sim.presets import background_split

CROP = 160


def _crop(image: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    h, w = image.shape
    y = int(np.clip(centre[1] - CROP // 2, 0, h - CROP))
    x = int(np.clip(centre[0] - CROP // 2, 0, w - CROP))
    return image[y:y + CROP, x:x + CROP]


def _noise(image: np.ndarray) -> tuple[float, float]:
    """(std, neighbour correlation) of the residual to a 3×3 median, central region."""
    img = (image * 255).astype(np.uint8)
    res = image - cv2.medianBlur(img, 3).astype(np.float32) / 255.0
    res = res[64:-64, 64:-64]
    corr = float(np.corrcoef(res[:, :-1].ravel(), res[:, 1:].ravel())[0, 1])
    return float(res.std()), corr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sim_vs_real.png")
    parser.add_argument("--per-row", type=int, default=5)
    args = parser.parse_args()
    tiles, labels = [], []
    real = [read_image(p) for p in background_split("val")][: args.per_row]
    for k, img in enumerate(real):
        tiles.append(_crop(img, (256, 256)))
        labels.append(f"real {k}")
        std, corr = _noise(img)
        print(f"real {k}: residual std {std:.4f} of the grey range, correlation {corr:.2f}")
    for name in PRESETS:
        if PRESETS[name].backgrounds is not None:
            continue
        sim = Simulator(preset(name, size=512, background_prob=0.0), seed=PRESETS[name].seed)
        for k in range(args.per_row):
            frame = sim.sequence(1)[0]
            tip = np.rint(frame.wires[0].tip).astype(int)
            tiles.append(_crop(frame.image, (int(tip[0]), int(tip[1]))))
            labels.append(f"{name} {k}")
            std, corr = _noise(frame.image)
            print(f"{name} {k}: residual std {std:.4f}, correlation {corr:.2f}")
    sheet = contact_sheet(tiles, cols=args.per_row, labels=labels)
    if not cv2.imwrite(args.out, sheet):
        raise SystemExit(f"cannot write {args.out}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
