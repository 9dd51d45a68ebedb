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

"""Torch datasets: online simulated frames and data folders.

Both return ``(image, mask)`` as float32 tensors of shape (1, h, w): image in [0, 1], mask in
{0, 1}; with ``with_marks=True`` the mask is (3, h, w): the wire, the distractor marks (the
simulator's hard negatives, zeros where a folder has none) and disks of
:data:`TIP_MARK_RADIUS` px around the wires' tips, cropped and augmented with the wire, for
a loss that weighs them (``TrainConfig.hard_weight`` and ``tip_weight``). Every random
choice is drawn from a generator seeded by (seed, index[, epoch]), so an item is the same
whichever DataLoader worker builds it.

Crops (``crop=S``, an S×S window) can be biased towards the wire: with probability
``wire_prob`` the window is centred on a random wire pixel (jittered by up to S/4, clamped to
the image); with probability ``hard_prob`` on a random distractor pixel (an ECG or pacing
lead, a catheter, a stent, a filling vessel: the hard negatives the simulator marks), and
otherwise placed uniformly. Small uniform crops of a frame whose wire covers
~0.1 % of it mostly hold no foreground; but biased crops also raise the wire fraction the
loss sees (a 128 px crop on the wire holds ~2 % wire pixels, 20x a full frame), and the
augmented focal loss's alpha = 100 was tuned by the paper for full frames: with
alpha x wire fraction near 1, an undecided pixel settles at p = 0.5 and the model floods the
background at threshold 0.5. Hence the default :data:`WIRE_CROP_PROB` is low and crops
should be large (train.TrainConfig: 256 px of 512 px frames).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from franet_core import augment
from franet_core.data import load_folder
from franet_core.sim import SimConfig, Simulator

__all__ = ["FolderDataset", "SyntheticDataset", "WIRE_CROP_PROB", "wire_biased_crop"]

#: Default probability that a random crop is centred near a wire pixel (module docstring).
WIRE_CROP_PROB = 0.25

#: Radius (px) of the disk marked around each wire tip in ``with_marks`` targets: the coil,
#: the J or angled end, and the lumen just past the tip, where a tracker's tip is decided.
TIP_MARK_RADIUS = 8


def wire_biased_crop(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray,
                     crop: int, wire_prob: float = WIRE_CROP_PROB,
                     hard: np.ndarray | None = None, hard_prob: float = 0.0,
                     tips: np.ndarray | None = None, tip_prob: float = 0.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """An S×S window (S = ``crop``), centred near the wire with p = ``wire_prob``, else near
    a marked distractor pixel of ``hard`` with p = ``hard_prob``, else near one of the wire
    ``tips`` ((K, 2) x, y px) with p = ``tip_prob``, else placed uniformly.

    ``mask`` is (H, W), or (H, W, C) with the wire in channel 0 and further target channels
    (the marks of ``with_marks`` datasets) cropped alike. Images smaller than S are first
    padded (reflected image, zero mask) to S.
    """
    h, w = image.shape
    if h < crop or w < crop:
        py, px = max(0, crop - h), max(0, crop - w)
        image = cv2.copyMakeBorder(image, 0, py, 0, px, cv2.BORDER_REFLECT_101)
        mask = cv2.copyMakeBorder(mask, 0, py, 0, px, cv2.BORDER_CONSTANT, value=0)
        h, w = image.shape
    draw = rng.random()
    ys: Sequence[float] = ()
    xs: Sequence[float] = ()
    if draw < wire_prob:
        ys, xs = np.nonzero(mask if mask.ndim == 2 else mask[..., 0])
    elif hard is not None and draw < wire_prob + hard_prob:
        ys, xs = np.nonzero(hard[:h, :w])
    elif tips is not None and len(tips) and draw < wire_prob + hard_prob + tip_prob:
        xs, ys = np.asarray(tips, float).reshape(-1, 2).T
    if len(ys):
        k = int(rng.integers(len(ys)))
        cy, cx = ys[k] + rng.uniform(-crop / 4, crop / 4), xs[k] + rng.uniform(-crop / 4, crop / 4)
        y0 = int(np.clip(round(cy - crop / 2), 0, h - crop))
        x0 = int(np.clip(round(cx - crop / 2), 0, w - crop))
    else:
        y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    return image[y0:y0 + crop, x0:x0 + crop], mask[y0:y0 + crop, x0:x0 + crop]


def _tips(wires: Sequence) -> np.ndarray:
    """(K, 2) x, y px of the wires' tips (annotations or simulator truth)."""
    return np.array([w.tip for w in wires], float).reshape(-1, 2)


def _to_tensors(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, H, W) image and (C, H, W) target from (H, W) image and (H, W[, C]) mask."""
    img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    msk = np.ascontiguousarray(mask, dtype=np.float32)
    msk = msk[None] if msk.ndim == 2 else np.ascontiguousarray(np.moveaxis(msk, -1, 0))
    return img, torch.from_numpy(msk)


def _with_marks(mask: np.ndarray, hard: np.ndarray | None, tips: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the wire mask, the distractor marks (zeros when there are none) and
    disks of :data:`TIP_MARK_RADIUS` px around the ``tips`` ((K, 2) x, y px)."""
    marks = np.zeros_like(mask) if hard is None else (np.asarray(hard) > 0).astype(mask.dtype)
    tip_disks = np.zeros_like(mask)
    for x, y in np.rint(tips).astype(int):
        cv2.circle(tip_disks, (int(x), int(y)), TIP_MARK_RADIUS, 1, -1)
    return np.stack([mask, marks, tip_disks], axis=-1)


def _check_crop(crop: int | None) -> None:
    if crop is not None and crop < 1:
        raise ValueError(f"crop must be a positive number of pixels, got {crop}")


def _check_prob(value: float, name: str = "wire_crop_prob") -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


class SyntheticDataset(Dataset):
    """``length`` simulated frames; item i is frame 0 of a fresh sequence seeded (seed, i).

    Each item simulates its own scene (anatomy, wires, motion phase, contrast state are all
    random per sequence, so a single frame covers the whole distribution). ``backgrounds``
    are optional real frames passed to :class:`Simulator`.
    """

    def __init__(self, sim_config: SimConfig = SimConfig(), seed: int = 0, length: int = 10000,
                 crop: int | None = None,
                 backgrounds: Sequence[np.ndarray] | None = None,
                 wire_crop_prob: float = WIRE_CROP_PROB, hard_crop_prob: float = 0.0,
                 tip_crop_prob: float = 0.0, with_marks: bool = False) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        _check_crop(crop)
        if crop is not None and crop > sim_config.size:
            raise ValueError(f"crop {crop} is larger than the simulated size {sim_config.size}")
        self.config, self.seed, self.length, self.crop = sim_config, int(seed), length, crop
        self.wire_crop_prob = _check_prob(wire_crop_prob)
        self.hard_crop_prob = _check_prob(hard_crop_prob, "hard_crop_prob")
        self.tip_crop_prob = _check_prob(tip_crop_prob, "tip_crop_prob")
        self.backgrounds = list(backgrounds) if backgrounds else None
        self.with_marks = with_marks

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        frame = Simulator(self.config, (self.seed, index), self.backgrounds).sequence(1)[0]
        image, mask = frame.image, frame.mask
        if self.with_marks:
            mask = _with_marks(mask, frame.hard, _tips(frame.wires))
        if self.crop is not None:
            rng = np.random.default_rng((self.seed, index, 1))
            image, mask = wire_biased_crop(rng, image, mask, self.crop, self.wire_crop_prob,
                                           frame.hard, self.hard_crop_prob,
                                           _tips(frame.wires), self.tip_crop_prob)
        return _to_tensors(image, mask)


class FolderDataset(Dataset):
    """Frames of a data folder (see :mod:`franet_core.data`), optionally cropped/augmented.

    Randomness (crop window, augmentation) is seeded by (seed, index, epoch); call
    :meth:`set_epoch` each epoch to draw new augmentations while staying reproducible.
    """

    def __init__(self, path: str | Path, crop: int | None = None, augment: bool = False,
                 seed: int = 0, wire_crop_prob: float = WIRE_CROP_PROB,
                 hard_crop_prob: float = 0.0, tip_crop_prob: float = 0.0,
                 check: bool = True, with_marks: bool = False) -> None:
        _check_crop(crop)
        self.folder = load_folder(path, check=check)
        self.crop, self.augment, self.seed, self.epoch = crop, augment, int(seed), 0
        self.wire_crop_prob = _check_prob(wire_crop_prob)
        self.hard_crop_prob = _check_prob(hard_crop_prob, "hard_crop_prob")
        self.tip_crop_prob = _check_prob(tip_crop_prob, "tip_crop_prob")
        self.with_marks = with_marks

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self.folder):
            raise IndexError(f"index {index} out of range for {len(self.folder)} items")
        sample = self.folder.samples[index]
        image, mask, hard = sample.image, sample.mask, sample.hard
        if self.with_marks:
            mask = _with_marks(mask, hard, _tips(sample.wires))
        rng = np.random.default_rng((self.seed, index, self.epoch))
        if self.crop is not None:
            # Crop first (on the hard marks too), then augment the crop: cheaper, and the
            # dihedral/affine augmentations keep a crop centred where it was centred.
            image, mask = wire_biased_crop(rng, image, mask, self.crop, self.wire_crop_prob,
                                           hard, self.hard_crop_prob, _tips(sample.wires),
                                           self.tip_crop_prob)
        if self.augment:
            image, mask = augment.augment_pair(rng, image, mask)
        return _to_tensors(image, mask)
