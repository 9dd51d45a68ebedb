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

"""X-ray-sensible augmentations, applied jointly to an image and its mask.

Pure functions: each takes an ``np.random.Generator`` and returns new arrays, so a caller
that seeds the generator gets reproducible results. Images are float32 (H, W) in [0, 1];
masks are uint8 (H, W) in {0, 1}. Geometric transforms move both identically; intensity
transforms touch the image only (detector gain, display gamma, quantum noise).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["augment_pair", "dihedral", "small_affine", "intensity"]


def dihedral(rng: np.random.Generator, image: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal/vertical flip and multiple of 90° rotation (lossless)."""
    k = int(rng.integers(4))
    flip = bool(rng.random() < 0.5)
    out = []
    for a in (image, mask):
        a = np.rot90(a, k)
        if flip:
            a = a[:, ::-1]
        out.append(np.ascontiguousarray(a))
    return out[0], out[1]


def small_affine(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray,
                 max_degrees: float = 10.0, scale: tuple[float, float] = (0.9, 1.1),
                 max_shift: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Small rotation (deg), isotropic scale and shift (fraction of the size) about the centre.

    The image is resampled bilinearly with reflected borders. The mask is resampled
    bilinearly too and thresholded at 0.5, which keeps a thin wire's area (nearest-neighbour
    breaks 1 px diagonal lines into dots).
    """
    h, w = image.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rng.uniform(-max_degrees, max_degrees),
                                rng.uniform(*scale))
    m[:, 2] += rng.uniform(-max_shift, max_shift, 2) * (w, h)
    img = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
    msk = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
    return img, (msk >= 0.5).astype(np.uint8)


def intensity(rng: np.random.Generator, image: np.ndarray, gamma: tuple[float, float] = (0.7, 1.4),
              contrast: tuple[float, float] = (0.7, 1.3), noise: float = 0.03) -> np.ndarray:
    """Gamma, contrast about the mean, brightness shift and Gaussian noise (std ≤ ``noise``)."""
    img = np.power(np.clip(image, 0.0, 1.0), rng.uniform(*gamma))
    mean = float(img.mean())
    img = (img - mean) * rng.uniform(*contrast) + mean + rng.uniform(-0.1, 0.1)
    img = img + rng.uniform(0.0, noise) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def augment_pair(rng: np.random.Generator, image: np.ndarray,
                 mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The default chain: dihedral, then (p = 0.5) a small affine, then intensity."""
    image, mask = dihedral(rng, image, mask)
    if rng.random() < 0.5:
        image, mask = small_affine(rng, image, mask)
    return intensity(rng, image), mask
