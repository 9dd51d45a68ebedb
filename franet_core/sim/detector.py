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

"""The imaging chain from attenuation to a displayed (or raw 16-bit) frame, per sequence.

Stages, in the order a C-arm applies them (attenuation A is the line integral Σμ·t):

1. Photons N = N0 · vignette · exp(−A) with Poisson quantum noise (normal approximation
   N + √N·z, exact mean and variance at these counts).
2. Scintillator / image-intensifier blur (Gaussian, sigma ``blur``): it acts on the signal
   and on the quantum noise, which is absorbed before it, so the noise comes out spatially
   correlated by an amount set by the blur.
3. Electronic read noise (white, in photons), then the log transform back to attenuation.
4. Recursive temporal filter y_t = a·y_(t−1) + (1 − a)·x_t. The filter is taken to have run
   before the sequence starts (its first output carries the steady-state noise), so every
   frame of a sequence has the same noise statistics.
5. Spatial noise reduction (blend towards a Gaussian), unsharp-mask edge enhancement.
6. Window/level from the scene's own attenuation percentiles, then either a display curve
   (gamma, output grey range) quantised to 8 bits, or raw 16-bit counts with 12–16 used
   bits and an offset (normalised downstream by ``normalize_image``, as real mono16 input).
7. Fixed detector defects: dead rows/columns and line (gain) artefacts.

The dose N0 is not drawn directly: the displayed noise level is (``SimConfig.noise``), and
N0 follows from it through the measured noise gain of stages 2–5, so a preset's noise range
is what its frames show, down to a floor of :data:`MIN_PHOTONS` (below it a frame would clip
to a flat field; such a sequence shows less noise than drawn). Coordinates: pixels, x right,
y down, origin at the top-left pixel centre.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from franet_core.preprocess import normalize_image
from franet_core.sim.config import SimConfig
from franet_core.sim.wires import loguniform

__all__ = ["Detector"]

#: Fewest expected photons per pixel where the display turns black (the window's top
#: attenuation, at the vignette's centre). The normal approximation of quantum noise and
#: the log transform need some ten counts; with fewer the image clips to a flat field.
MIN_PHOTONS = 10.0
#: Displayed noise (fraction of the grey range) a real background frame already carries.
REAL_NOISE = 0.029


@lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed (2·size, 2·size) float32 standard normals (same in every process: seed 0)."""
    return np.random.default_rng(0).standard_normal((2 * size, 2 * size), dtype=np.float32)


def _normals(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size) standard-normal field: a random window of the bank, random flips.

    Drawing a fresh field per frame costs more than the rest of the frame; a random window
    of a fixed bank is indistinguishable to a network that sees crops of it.
    """
    y, x = rng.integers(0, size + 1, 2)
    view = _noise_bank(size)[y:y + size, x:x + size]
    flip = int(rng.integers(4))
    return view[:: 1 - 2 * (flip & 1), :: 1 - 2 * (flip >> 1)]


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0.05 else img


def _display_lut(gamma: float, black: float, white: float) -> np.ndarray:
    """uint8 (256,) table: windowed level in [0, 1] → gamma → grey range [black, white]."""
    level = np.arange(256) / 255.0
    return np.round(255.0 * (black + (white - black) * level ** gamma)).astype(np.uint8)


@dataclass
class Detector:
    """One sequence's imaging chain (module docstring); :meth:`render` is called per frame.

    gain: (H, W) photons at zero attenuation (N0 · vignette). blur: px. read_sigma: photons.
    alpha: temporal filter weight. nr, nr_sigma: noise-reduction blend and its sigma, px.
    sharpen, sharpen_sigma: unsharp amount and radius, px. window: (lo, hi) attenuation that
    maps to white and black. lut: 8-bit display table, or None for raw 16-bit output.
    raw_max, raw_offset: used range of the 16-bit counts. defects: (axis, index, width,
    offset) rows (axis 0) or columns (axis 1); offset None is a dead line (stuck at 0).
    att_per_cnr: attenuation contrast of a structure whose contrast equals the displayed
    noise (CNR 1), at the median body attenuation. att_per_grey: attenuation contrast shown
    as the whole grey range at mid-grey.
    """

    gain: np.ndarray
    blur: float
    read_sigma: float
    alpha: float
    nr: float
    nr_sigma: float
    sharpen: float
    sharpen_sigma: float
    window: tuple[float, float]
    lut: np.ndarray | None
    raw_max: int
    raw_offset: int
    defects: list[tuple[int, int, int, float | None]]
    att_per_cnr: float
    att_per_grey: float
    noise_free: bool = False
    _state: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def draw(cls, rng: np.random.Generator, cfg: SimConfig, att_ref: np.ndarray,
             real_background: bool) -> "Detector":
        """Draw a chain for a scene whose noise-free attenuation is ``att_ref`` (H, W).

        With a ``real_background`` the frame already carries its own noise (~3 % of the
        grey range), so the added noise is the part of the drawn level above that.
        """
        size = att_ref.shape[0]
        f = size / 512.0
        u = rng.uniform
        m = size // 5
        lo, hi = np.percentile(att_ref[m:-m:2, m:-m:2], (1.0, 99.0))
        pad = (hi - lo) * u(0.05, 0.6, 2)
        window = (float(lo - pad[0]), float(hi + pad[1]))
        blur = u(*cfg.noise_blur_px) * max(f, 0.5)
        alpha = u(*cfg.temporal_alpha) if rng.random() < cfg.temporal_prob else 0.0
        nr = u(*cfg.nr_strength) if rng.random() < cfg.nr_prob else 0.0
        nr_sigma = u(0.8, 1.5) * max(f, 0.5)
        sharpen = u(*cfg.sharpen) if rng.random() < cfg.sharpen_prob else 0.0
        sharpen_sigma = u(*cfg.sharpen_radius_px) * max(f, 0.5)
        gamma, black, white = u(*cfg.gamma), u(*cfg.black), u(*cfg.white)
        bits16 = rng.random() < cfg.bits16_prob
        raw_max = 2 ** int(rng.choice([12, 14, 16])) - 1
        raw_offset = int(u(0.0, 0.1) * raw_max)

        # Displayed noise (fraction of the grey range) → noise in attenuation units after
        # the chain: divide by the display slope at mid-grey, times the window width.
        noise = loguniform(rng, *cfg.noise)
        slope = 1.0 if bits16 else (white - black) * gamma * 0.5 ** (gamma - 1.0)
        att_per_grey = (window[1] - window[0]) / slope
        added = noise
        if real_background:  # the background brings ~2.9 % of its own
            added = float(np.sqrt(max(noise ** 2 - REAL_NOISE ** 2, (0.3 * noise) ** 2)))
        # Dose from the noise gain of blur, temporal filter, noise reduction and sharpening.
        chain = _noise_gain(blur, nr, nr_sigma, sharpen, sharpen_sigma)
        temporal = np.sqrt((1.0 - alpha) / (1.0 + alpha))
        n_ref = (chain * temporal / (added * att_per_grey)) ** 2
        body = float(np.median(att_ref[::4, ::4]))
        n_min = MIN_PHOTONS * np.exp(window[1] - body)
        if n_ref < n_min:
            # A strong smoothing chain with a high displayed noise asks for a dose of a few
            # photons or less, where the counts clip at the log transform's floor and the
            # scene (wires included) vanishes. Raise the dose; the frame shows less noise.
            n_ref = n_min
            added = chain * temporal / np.sqrt(n_ref) / att_per_grey
            noise = float(np.hypot(added, REAL_NOISE)) if real_background else added
        att_per_cnr = noise * att_per_grey  # contrasts count against the total noise
        read_sigma = u(*cfg.read_noise) * np.sqrt(n_ref) * chain

        grid = np.linspace(-1.0, 1.0, 17, dtype=np.float32)
        c = rng.normal(0, 0.2, 2)
        r2 = (grid[None, :] - c[0]) ** 2 + (grid[:, None] - c[1]) ** 2
        vignette = cv2.resize(1.0 - u(0.1, 0.35) * np.minimum(r2, 2.0), (size, size),
                              interpolation=cv2.INTER_LINEAR)
        gain = (n_ref * np.exp(body) * vignette).astype(np.float32)

        defects: list[tuple[int, int, int, float | None]] = []
        if rng.random() < cfg.defect_prob:
            for _ in range(int(rng.integers(1, 4))):
                dead = rng.random() < 0.5
                defects.append((int(rng.integers(2)), int(rng.integers(size)),
                                1 if dead else int(rng.integers(1, 5)),
                                None if dead else float(rng.choice([-1, 1]) * u(0.03, 0.1))))
        return cls(gain=gain, blur=blur, read_sigma=float(read_sigma), alpha=float(alpha),
                   nr=float(nr), nr_sigma=float(nr_sigma), sharpen=float(sharpen),
                   sharpen_sigma=float(sharpen_sigma), window=window,
                   lut=None if bits16 else _display_lut(gamma, black, white),
                   raw_max=raw_max, raw_offset=raw_offset, defects=defects,
                   att_per_cnr=float(att_per_cnr), att_per_grey=float(att_per_grey),
                   noise_free=cfg.noise_free)

    @property
    def bits(self) -> int:
        """8 for display frames, 16 for raw counts."""
        return 8 if self.lut is not None else 16

    def render(self, att: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """One frame: ``(image float32 (H, W) in [0, 1], raw uint16 (H, W) or None)``.

        ``att`` is the frame's attenuation; ``rng`` draws the noise (a stream of its own, so
        a noise-free render of the same seed shows the same scene).
        """
        size = att.shape[0]
        photons = self.gain * cv2.exp(-att)
        first = self._state is None
        if self.noise_free or (self.alpha > 0 and first):
            clean = -cv2.log(np.maximum(_blur(photons, self.blur), 0.5) / self.gain)
        if self.noise_free:
            observed = clean
        else:
            noisy = photons + cv2.sqrt(np.maximum(photons, 0.0)) * _normals(rng, size)
            noisy = _blur(noisy, self.blur)
            if self.read_sigma > 0:
                noisy = noisy + self.read_sigma * _normals(rng, size)
            observed = -cv2.log(np.maximum(noisy, 0.5) / self.gain)
            if self.alpha > 0 and first:  # steady state of a filter already running
                observed = clean + np.sqrt((1.0 - self.alpha) / (1.0 + self.alpha)) * (
                    observed - clean)
        if self.alpha > 0 and not first:
            observed = self.alpha * self._state + (1.0 - self.alpha) * observed
        self._state = observed
        if self.nr:
            observed = (1.0 - self.nr) * observed + self.nr * _blur(observed, self.nr_sigma)
        if self.sharpen:
            observed = observed + self.sharpen * (observed - _blur(observed, self.sharpen_sigma))
        lo, hi = self.window
        level = (hi - observed) * (1.0 / (hi - lo))
        for axis, index, width, offset in self.defects:
            line = level[index:index + width] if axis == 0 else level[:, index:index + width]
            if offset is None:
                line[...] = 0.0
            else:
                line += offset
        if self.lut is not None:
            levels = cv2.convertScaleAbs(np.maximum(level, 0.0), alpha=255.0)  # saturates
            return cv2.LUT(levels, self.lut).astype(np.float32) * (1.0 / 255.0), None
        span = self.raw_max - self.raw_offset
        raw = np.clip(np.rint(self.raw_offset + np.clip(level, 0.0, 1.0) * span), 0, 65535)
        raw = raw.astype(np.uint16)
        return normalize_image(raw), raw


@lru_cache(maxsize=256)
def _noise_gain_cached(blur: float, nr: float, nr_sigma: float, sharpen: float,
                       sharpen_sigma: float) -> float:
    z = np.random.default_rng(1).standard_normal((160, 160)).astype(np.float32)
    z = _blur(z, blur)
    if nr:
        z = (1.0 - nr) * z + nr * _blur(z, nr_sigma)
    if sharpen:
        z = z + sharpen * (z - _blur(z, sharpen_sigma))
    return float(z[16:-16, 16:-16].std())


def _noise_gain(blur: float, nr: float, nr_sigma: float, sharpen: float,
                sharpen_sigma: float) -> float:
    """Std of unit white noise after the chain's linear stages (measured, 2 decimals)."""
    return _noise_gain_cached(*(round(v, 2) for v in (blur, nr, nr_sigma, sharpen,
                                                      sharpen_sigma)))
