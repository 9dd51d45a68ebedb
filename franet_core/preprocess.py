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
#: Largest frame accepted anywhere (H * W px, 4096 x 4096): larger ones are refused.
MAX_PIXELS = 4096 * 4096
#: Longest side segmented at native resolution; a larger frame is resized so that its longer
#: side is this many px (bounds time and memory per frame; see docs/reliability.md).
MAX_NATIVE_SIDE = 2048


def normalize_image(image: np.ndarray, *, name: str = "image",
                    max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return a float32 (H, W) image in [0, 1].

    uint8 is divided by 255. Other integer images (uint16 is typical raw detector output,
    10–16 bit used) and float images outside [0, 1] are min–max windowed on their 0.1 / 99.9
    percentiles, which is what a fluoroscopy display does. Colour images (H, W, 3|4, channel
    order BGR[A] as OpenCV reads them) are converted to luminance (ITU-R BT.601 weights).
    Array-likes (nested lists) are converted with ``np.asarray``.

    Raises ValueError naming ``name`` — never another exception — for anything else: a
    masked array (its mask would be ignored), a bool, complex, datetime, timedelta, string
    or object array, a wrong rank or channel count, an empty image, NaN or infinity, or more
    than ``max_pixels`` pixels.
    """
    if isinstance(image, np.ma.MaskedArray):
        raise ValueError(f"{name}: masked arrays are not accepted (the mask would be "
                         "ignored); pass image.filled(value)")
    try:
        arr = np.asarray(image)
    except (TypeError, ValueError) as exc:  # ragged nested lists, unconvertible objects
        raise ValueError(f"{name}: not an image array ({type(image).__name__}): {exc}") from None
    if arr.dtype.kind not in "uif":
        hint = " (a bool array is a mask, not an image)" if arr.dtype.kind == "b" else ""
        raise ValueError(f"{name}: unsupported dtype {arr.dtype}; expected an integer or "
                         f"float image{hint}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"{name}: expected a grayscale (H, W) or colour (H, W, 3|4) image, "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty image (shape {arr.shape})")
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise ValueError(f"{name}: {arr.shape[1]}x{arr.shape[0]} = "
                         f"{arr.shape[0] * arr.shape[1]} px exceeds the limit of "
                         f"{max_pixels} px")
    integer = arr.dtype.kind in "ui"
    if not integer:  # every channel, alpha included: a NaN anywhere means a broken frame
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
        if arr.dtype.itemsize > 4 and np.abs(arr).max() > np.finfo(np.float32).max:
            raise ValueError(f"{name}: values beyond the float32 range")
    if arr.ndim == 3:
        arr = _luminance(arr)
        if arr.dtype == np.uint8:
            return arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if not integer and arr.min() >= 0.0 and arr.max() <= 1.0:
        return arr
    lo, hi = np.percentile(arr, (0.1, 99.9)).astype(np.float64)
    if not hi > lo:
        return np.zeros(arr.shape, np.float32)
    out = (arr.astype(np.float64) - lo) / (hi - lo)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _luminance(arr: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) BGR[A] → (H, W) luminance; uint8/uint16 stay integer (OpenCV's rounding)."""
    if arr.dtype in (np.uint8, np.uint16):
        code = cv2.COLOR_BGRA2GRAY if arr.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        return cv2.cvtColor(np.ascontiguousarray(arr), code)
    weights = np.array([0.114, 0.587, 0.299], dtype=np.float64)  # B, G, R
    with np.errstate(over="ignore", invalid="ignore"):
        return arr[:, :, :3].astype(np.float64) @ weights


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
    def fit(cls, in_shape: tuple[int, int], size: int | None = None, *,
            max_side: int = MAX_NATIVE_SIDE) -> "Letterbox":
        """Geometry for an ``in_shape`` (H, W) image and network input ``size`` (see above).

        With ``size=None`` a frame whose longer side exceeds ``max_side`` px is treated as
        ``size=max_side``: resized, not padded, so work per frame stays bounded.
        """
        h, w = int(in_shape[0]), int(in_shape[1])
        if h < 1 or w < 1:
            raise ValueError(f"empty image shape {(h, w)}")
        if size is None and max(h, w) > max_side:
            size = max_side
        if size is None:
            scale, rh, rw = 1.0, h, w
            out = (_round_up(h), _round_up(w))
        else:
            check_input_size(size)
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


def check_input_size(size: object, name: str = "input size") -> int:
    """Return ``size`` if it is a positive int multiple of 32, else raise ValueError."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < SIZE_MULTIPLE \
            or size % SIZE_MULTIPLE:
        raise ValueError(f"{name} must be a positive multiple of {SIZE_MULTIPLE} px, "
                         f"got {size!r}")
    return int(size)


def _round_up(n: int) -> int:
    return -(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE
