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

"""Data folders (the contract in DESIGN.md): loading with clear errors, and writing.

Layout::

    DIR/images/<name>.png    8- or 16-bit grayscale
    DIR/masks/<name>.png     0/255 or 0/1, same size and name
    DIR/annotations.json     optional: {"<name>": [{"id": int, "centerline": [[x, y], ...]
                             (proximal → tip), "tip": [x, y], "radius_px": float (optional)}]}
    DIR/hard/<name>.png      optional, 0/255: where distractors are (hard negatives for
                             training crops; ``franet synth`` writes it)

Coordinates: pixels, x right, y down, origin at the centre of the top-left pixel.
Every bad input raises ``ValueError`` / ``FileNotFoundError`` naming the file; nothing is
skipped silently. A sequence is the frames whose names share the stem up to the last "_"
(``franet synth`` writes ``s0003_f0012``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from franet_core.preprocess import normalize_image
from franet_core.sim import SimFrame, WireTruth

__all__ = ["DataFolder", "DataFolderWriter", "Sample", "load_folder", "read_image", "read_mask",
           "sequence_name", "write_data_folder"]


@dataclass(frozen=True)
class Sample:
    """One frame: image float32 (H, W) in [0, 1], mask uint8 (H, W) in {0, 1}, wires, and
    ``hard`` (uint8 (H, W) in {0, 1}: distractor pixels) when the folder has ``hard/``."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    wires: list[WireTruth] = field(default_factory=list)
    hard: np.ndarray | None = None


def _read_gray(path: Path, what: str) -> np.ndarray:
    """Decode a PNG as a 2-D array; a colour file is accepted only if its channels agree."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"{what} is not a readable image: {path}")
    if arr.ndim == 3:
        colour = arr[:, :, :3]
        if not (np.array_equal(colour[:, :, 0], colour[:, :, 1])
                and np.array_equal(colour[:, :, 0], colour[:, :, 2])):
            raise ValueError(f"{what} is a colour image (channels differ), expected grayscale: "
                             f"{path}")
        arr = np.ascontiguousarray(colour[:, :, 0])
    if arr.ndim != 2:
        raise ValueError(f"{what} has unsupported shape {arr.shape}: {path}")
    return arr


def read_image(path: str | Path) -> np.ndarray:
    """Read an 8/16-bit grayscale PNG as float32 (H, W) in [0, 1] (``normalize_image``)."""
    path = Path(path)
    arr = _read_gray(path, "image")
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"image must be 8- or 16-bit, got {arr.dtype}: {path}")
    return normalize_image(arr, name=str(path))


def read_mask(path: str | Path) -> np.ndarray:
    """Read a 0/255 or 0/1 mask PNG as uint8 (H, W) in {0, 1}; other values are an error."""
    path = Path(path)
    arr = _read_gray(path, "mask")
    values = set(np.unique(arr).tolist())
    if not (values <= {0, 1} or values <= {0, 255}):
        shown = sorted(values)[:6]
        raise ValueError(f"mask values must be 0/1 or 0/255, found {shown}: {path}")
    return (arr > 0).astype(np.uint8)


def sequence_name(name: str) -> str:
    """Sequence of a frame name: the stem up to its last "_" (the whole name if none)."""
    return name.rsplit("_", 1)[0] if "_" in name else name


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _parse_wires(raw: object, where: str) -> list[WireTruth]:
    if not isinstance(raw, list):
        raise ValueError(f"{where}: expected a list of wires, got {type(raw).__name__}")
    wires = []
    for k, w in enumerate(raw):
        at = f"{where}[{k}]"
        if not isinstance(w, dict) or not {"id", "centerline", "tip"} <= set(w):
            raise ValueError(f"{at}: a wire needs keys 'id', 'centerline', 'tip'")
        try:
            line = np.asarray(w["centerline"], dtype=np.float64).reshape(-1, 2)
            tip = np.asarray(w["tip"], dtype=np.float64).reshape(2)
            wid = int(w["id"])
            radius = float(w.get("radius_px", float("nan")))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{at}: malformed wire ({exc})") from None
        if len(line) == 0:
            raise ValueError(f"{at}: empty centerline")
        wires.append(WireTruth(wid, line, tip, radius))
    return wires


class DataFolder:
    """A validated data folder. ``samples`` loads frames lazily (index, iterate, len)."""

    def __init__(self, root: Path, names: list[str], annotations: dict[str, list[WireTruth]]):
        self.root = root
        self.names = names
        self.annotations = annotations
        self.samples: Sequence[Sample] = _LazySamples(self)

    def __len__(self) -> int:
        return len(self.names)

    def load(self, name: str) -> Sample:
        """Read and check one frame; raises naming the file on any problem."""
        image = read_image(self.root / "images" / f"{name}.png")
        mask_path = self.root / "masks" / f"{name}.png"
        mask = read_mask(mask_path)
        if mask.shape != image.shape:
            raise ValueError(f"mask size {mask.shape[::-1]} (w, h) differs from its image "
                             f"{image.shape[::-1]}: {mask_path}")
        hard_path = self.root / "hard" / f"{name}.png"
        hard = read_mask(hard_path) if hard_path.is_file() else None
        if hard is not None and hard.shape != image.shape:
            raise ValueError(f"hard-negative mask size {hard.shape[::-1]} (w, h) differs from "
                             f"its image {image.shape[::-1]}: {hard_path}")
        return Sample(name, image, mask, self.annotations.get(name, []), hard)

    def sequences(self) -> dict[str, list[Sample]]:
        """Frames grouped by :func:`sequence_name`, each list in natural name order."""
        groups: dict[str, list[str]] = {}
        for name in self.names:
            groups.setdefault(sequence_name(name), []).append(name)
        return {seq: [self.load(n) for n in names] for seq, names in groups.items()}


class _LazySamples(Sequence):
    def __init__(self, folder: DataFolder) -> None:
        self._folder = folder

    def __len__(self) -> int:
        return len(self._folder.names)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._folder.load(n) for n in self._folder.names[index]]
        return self._folder.load(self._folder.names[index])

    def __iter__(self) -> Iterator[Sample]:
        return (self._folder.load(n) for n in self._folder.names)


def load_folder(path: str | Path, check: bool = True) -> DataFolder:
    """Open a data folder; with ``check`` every image and mask is decoded once and verified.

    Errors (each naming the offending file): folder or images/ missing, no images, an image
    without a mask (or a mask without an image), unreadable / non-grayscale / wrong bit depth
    image, mask values other than 0/1 or 0/255, size mismatch, malformed annotations.json or
    an annotation for an image that does not exist.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir():
        raise FileNotFoundError(f"data folder has no images/ sub-folder: {images_dir}")
    names = sorted((p.stem for p in images_dir.glob("*.png")), key=_natural_key)
    if not names:
        raise ValueError(f"data folder is empty (no .png in {images_dir})")
    mask_names = {p.stem for p in masks_dir.glob("*.png")} if masks_dir.is_dir() else set()
    for name in names:
        if name not in mask_names:
            raise FileNotFoundError(f"missing mask for image {images_dir / (name + '.png')}: "
                                    f"expected {masks_dir / (name + '.png')}")
    orphans = sorted(mask_names - set(names))
    if orphans:
        raise ValueError(f"mask without an image: {masks_dir / (orphans[0] + '.png')}")
    annotations: dict[str, list[WireTruth]] = {}
    ann_path = root / "annotations.json"
    if ann_path.exists():
        try:
            raw = json.loads(ann_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {ann_path}: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{ann_path}: expected an object mapping image names to wires")
        known = set(names)
        for name, wires in raw.items():
            if name not in known:
                raise ValueError(f"{ann_path}: annotation for unknown image {name!r} "
                                 f"(no {images_dir / (name + '.png')})")
            annotations[name] = _parse_wires(wires, f"{ann_path}: {name!r}")
    folder = DataFolder(root, names, annotations)
    if check:
        for name in names:
            folder.load(name)
    return folder


class DataFolderWriter:
    """Writes frames one by one into a new data folder; :meth:`close` writes annotations.json.

    Images are stored as 8-bit PNG (round(255 · image)), or as the 16-bit counts of a
    16-bit frame (``SimFrame.raw``); masks, and the hard-negative marks in ``hard/`` when
    the frame has them, as 0/255. The folder must not already contain images (no silent
    mixing of data sets).
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self._images, self._masks = self.root / "images", self.root / "masks"
        if self._images.is_dir() and any(self._images.glob("*.png")):
            raise ValueError(f"output folder already contains images: {self._images}")
        self._images.mkdir(parents=True, exist_ok=True)
        self._masks.mkdir(parents=True, exist_ok=True)
        self._annotations: dict[str, list[dict]] = {}

    def add(self, name: str, frame: SimFrame) -> None:
        """Write one frame under ``name`` (file stem, no extension)."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in self._annotations:
            raise ValueError(f"invalid or duplicate frame name {name!r}")
        image = frame.raw if frame.raw is not None else \
            np.round(np.clip(frame.image, 0.0, 1.0) * 255.0).astype(np.uint8)
        files = [(self._images / f"{name}.png", image),
                 (self._masks / f"{name}.png", (frame.mask > 0).astype(np.uint8) * 255)]
        if frame.hard is not None:
            (self.root / "hard").mkdir(exist_ok=True)
            files.append((self.root / "hard" / f"{name}.png",
                          (frame.hard > 0).astype(np.uint8) * 255))
        for path, arr in files:
            if not cv2.imwrite(str(path), arr):
                raise ValueError(f"cannot write {path}")
        self._annotations[name] = [
            {"id": int(w.id), "centerline": np.round(w.centerline, 3).tolist(),
             "tip": np.round(w.tip, 3).tolist(), "radius_px": round(float(w.radius_px), 3)}
            for w in frame.wires]

    def close(self) -> Path:
        """Write annotations.json; returns the folder."""
        (self.root / "annotations.json").write_text(json.dumps(self._annotations))
        return self.root


def write_data_folder(out_dir: str | Path,
                      sequences: Iterable[Sequence[SimFrame]] | Iterable[tuple[str, SimFrame]]
                      ) -> list[str]:
    """Write simulated frames as a data folder; returns the frame names in order.

    ``sequences`` is either a list of sequences (lists of SimFrame), named
    ``s{seq:04d}_f{frame:04d}``, or an iterable of ``(name, SimFrame)`` pairs.
    """
    writer = DataFolderWriter(out_dir)
    names: list[str] = []
    for i, item in enumerate(sequences):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            pairs = [item]
        else:
            pairs = [(f"s{i:04d}_f{j:04d}", frame) for j, frame in enumerate(item)]
        for name, frame in pairs:
            writer.add(name, frame)
            names.append(name)
    writer.close()
    return names
