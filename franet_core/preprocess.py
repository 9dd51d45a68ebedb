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

"""Image normalisation and letterboxing, with the inverse kept for mapping results back.

Every image that enters franet (simulator, data folders, video, ROS messages) goes through
:func:`normalize_image`, so training and inference see the same intensity convention:
float32, shape (H, W), values in [0, 1], bright = high detector signal as displayed.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Spatial size the networks need: five stride-2 stages → multiples of 32.
SIZE_MULTIPLE = 32


def normalize_image(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Return a float32 (H, W) image in [0, 1].

    uint8 is divided by 255. uint16 (typical raw detector output, 10–16 bit used) and float
    images outside [0, 1] are min–max windowed on their 0.1 / 99.9 percentiles, which is what
    a fluoroscopy display does. Colour images (H, W, 3|4, channel order BGR[A] as OpenCV
    reads them) are converted to luminance. Raises ValueError naming ``name`` for empty,
    non-finite, or wrongly shaped input.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY if arr.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a grayscale (H, W) or colour (H, W, 3|4) image, "
                         f"got shape {arr.shape}")
    if arr.size == 0 or min(arr.shape) < 1:
        raise ValueError(f"{name}: empty image (shape {arr.shape})")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if arr.min() >= 0.0 and arr.max() <= 1.0 and np.issubdtype(image.dtype, np.floating):
        return arr
    lo, hi = np.percentile(arr, (0.1, 99.9))
    if hi <= lo:
        return np.zeros_like(arr)
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Letterbox:
    """Geometry of fitting an (H, W) image into the network input, and its inverse.

    With ``size=None`` the image is only zero-padded at the bottom/right up to a multiple of
    32 (no resampling: best for accuracy). With ``size=S`` the longer side is resized to S
    (aspect kept) and the result padded to S×S (bounded latency for huge frames).
    """

    in_shape: tuple[int, int]
    scale: float
    resized_shape: tuple[int, int]
    out_shape: tuple[int, int]

    @classmethod
    def fit(cls, in_shape: tuple[int, int], size: int | None = None) -> "Letterbox":
        h, w = int(in_shape[0]), int(in_shape[1])
        if size is None:
            scale, rh, rw = 1.0, h, w
            out = (_round_up(h), _round_up(w))
        else:
            if size % SIZE_MULTIPLE:
                raise ValueError(f"input size {size} is not a multiple of {SIZE_MULTIPLE}")
            scale = size / max(h, w)
            rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
            out = (size, size)
        return cls((h, w), scale, (rh, rw), out)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 → (out_h, out_w) float32, zero-padded bottom/right."""
        if image.shape[:2] != self.in_shape:
            raise ValueError(f"image shape {image.shape[:2]} != letterbox input {self.in_shape}")
        if self.resized_shape != self.in_shape:
            image = cv2.resize(image, self.resized_shape[::-1], interpolation=cv2.INTER_AREA)
        out = np.zeros(self.out_shape, dtype=np.float32)
        out[: self.resized_shape[0], : self.resized_shape[1]] = image
        return out

    def invert(self, prob: np.ndarray) -> np.ndarray:
        """(out_h, out_w) map → (H, W) map at the input size (crop, then resize back)."""
        prob = prob[: self.resized_shape[0], : self.resized_shape[1]]
        if self.resized_shape != self.in_shape:
            prob = cv2.resize(prob, self.in_shape[::-1], interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(prob)


def _round_up(n: int) -> int:
    return -(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE
