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

"""Frame sources (image folder, video file, single image, ROS 2 bag) and an overlay writer.

:func:`iter_frames` yields ``(name, image)`` with the image as read (8- or 16-bit grayscale,
or BGR colour): normalisation is the pipeline's job. :class:`VideoWriter` writes BGR uint8
frames to MP4 (OpenCV ``mp4v``) and falls back to an animated GIF (imageio) where no MP4
encoder is available.
"""
from __future__ import annotations

from collections import Counter
import logging
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = ["IMAGE_SUFFIXES", "iter_frames", "is_bag", "VideoWriter"]

LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm")
_BAG_SUFFIXES = (".mcap", ".db3")


def is_bag(path: str | Path) -> bool:
    """True for a ROS 2 bag: a directory with ``metadata.yaml`` or a .mcap / .db3 file."""
    path = Path(path)
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or \
        path.suffix.lower() in _BAG_SUFFIXES


def iter_frames(path: str | Path, topic: str | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(name, image)`` for every frame of ``path``, in order.

    - folder of images: files sorted by name (a data folder's ``images/`` is used when the
      folder itself holds no images); name = file stem, or the whole file name for files
      whose stems collide (``a.png`` and ``a.tif``). A file that cannot be decoded yields
      an empty (0, 0) array, which the pipeline rejects as a bad frame (counted, not fatal);
    - single image file: one frame;
    - video file: every frame, named ``<stem>_<index:06d>``;
    - ROS 2 bag: delegated to ``franet_ros.bag.iter_bag_frames(path, topic)``; ``topic``
      (the image topic) is then required. Undecodable messages yield empty arrays too.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if is_bag(path):
        if not topic:
            raise ValueError(f"{path} is a ROS 2 bag: give the image topic to read "
                             "(--image-topic)")
        from franet_ros.bag import iter_bag_frames

        yield from iter_bag_frames(path, topic)
    elif path.is_dir():
        yield from _iter_folder(path)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        yield path.stem, _read_image(path, strict=True)
    else:
        yield from _iter_video(path)


def _iter_folder(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files and (path / "images").is_dir():
        files = sorted(p for p in (path / "images").iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder "
                         "or its images/ subfolder")
    stems = Counter(f.stem for f in files)
    for f in files:
        yield f.stem if stems[f.stem] == 1 else f.name, _read_image(f, strict=False)


def _read_image(path: Path, strict: bool) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        if strict:
            raise ValueError(f"{path}: cannot decode this image")
        LOG.warning("%s: cannot decode this image", path)
        return np.zeros((0, 0), dtype=np.uint8)
    return image


def _iter_video(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: not an image folder, image, ROS 2 bag or readable video")
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield f"{path.stem}_{index:06d}", frame
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise ValueError(f"{path}: video has no readable frames")


class VideoWriter:
    """Write BGR uint8 frames to ``path`` (.mp4, or .gif); use as a context manager.

    The output size is fixed by the first frame (later frames are resized to it). If OpenCV
    cannot open an MP4 encoder, frames go to ``path`` with a .gif suffix instead;
    :attr:`path` is the file actually written.
    """

    def __init__(self, path: str | Path, fps: float = 10.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self._cv: cv2.VideoWriter | None = None
        self._gif = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 (H, W, 3) frame."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"VideoWriter needs BGR uint8 (H, W, 3), got {frame.shape} "
                             f"{frame.dtype}")
        if self._size is None:
            self._open((frame.shape[1], frame.shape[0]))
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        if self._cv is not None:
            self._cv.write(frame)
        else:
            self._gif.append_data(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        self.frames += 1

    def _open(self, size: tuple[int, int]) -> None:
        self._size = size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() != ".gif":
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                     size)
            if writer.isOpened():
                self._cv = writer
                return
            LOG.warning("%s: no MP4 encoder available, writing a GIF instead", self.path)
            self.path = self.path.with_suffix(".gif")
        import imageio.v2 as imageio

        self._gif = imageio.get_writer(self.path, mode="I", duration=1000.0 / self.fps,
                                       loop=0)

    def close(self) -> None:
        """Finish the file (safe to call twice)."""
        if self._cv is not None:
            self._cv.release()
            self._cv = None
        if self._gif is not None:
            self._gif.close()
            self._gif = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
