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

"""FramePipeline: the one place that turns an image into a tracked-wire FrameResult.

preprocess (``normalize_image`` + ``Letterbox``; the field of view, the part of the frame the
collimator leaves open) → ``Segmenter.predict`` → postprocess (back to the input size,
threshold) → centerline → tip → tracker. The CLI, the ROS node and
the Python API all call this class, so every front door sees the same behaviour.

A bad frame (wrong shape, NaN, empty, ...) raises ``ValueError`` from :meth:`process` before
the tracker is touched, so callers can skip it, count it and carry on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from franet_core.centerline import CenterlineConfig, extract_centerlines
from franet_core.field_of_view import FieldOfView, FieldOfViewConfig
from franet_core.preprocess import (check_input_size, Letterbox, MAX_NATIVE_SIDE, MAX_PIXELS,
                                    normalize_image)
from franet_core.tip import observe
from franet_core.tip_check import check_tips, resolve as resolve_tip_check, TipCheck
from franet_core.tracker import Tracker, TrackerConfig
from franet_core.types import FrameResult

__all__ = ["PipelineConfig", "FramePipeline", "px_to_mm", "px2_to_mm2"]

STAGES = ("preprocess", "inference", "postprocess", "centerline", "tracking", "total")


@dataclass(frozen=True)
class PipelineConfig:
    """Pipeline parameters.

    threshold: probability above which a pixel is wire (the comparison of training
        validation, ``franet eval`` and ``franet segment``); None: the weights' own
        (``FramePipeline.from_weights``), else 0.5.
    input_size: None pads the frame to a multiple of 32 (no resampling) unless its longer
        side exceeds ``max_side``; S resizes the longer side to S px first (bounded latency
        on large detectors).
    max_side: with ``input_size`` None, a frame whose longer side is above this many px is
        resized to it (bounded time and memory; docs/reliability.md). A multiple of 32.
    max_pixels: frames with more pixels (H * W) are refused as bad frames.
    pixel_spacing_mm: mm per px of the *input* image, if known; then results also carry mm.
    field_of_view: how the open field is estimated from each frame, so that a wire entering
        at a collimator shutter is oriented from there (:mod:`franet_core.field_of_view`);
        None takes the whole image as the field.
    centerline, tracker: the stage configs.
    tip_check: scores every published tip and withholds (publishes as LOST) those under its
        ``min_score`` (:mod:`franet_core.tip_check`); None publishes every tracked tip.
        ``FramePipeline.from_weights`` loads the one fitted for the weights when there is one.
    """

    threshold: float | None = None
    input_size: int | None = None
    pixel_spacing_mm: float | None = None
    centerline: CenterlineConfig = field(default_factory=CenterlineConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    field_of_view: FieldOfViewConfig | None = field(default_factory=FieldOfViewConfig)
    max_side: int = MAX_NATIVE_SIDE
    max_pixels: int = MAX_PIXELS
    tip_check: TipCheck | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None and not (_is_number(self.threshold)
                                               and 0.0 < self.threshold < 1.0):
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if self.pixel_spacing_mm is not None and not (_is_number(self.pixel_spacing_mm)
                                                      and 0 < self.pixel_spacing_mm < np.inf):
            raise ValueError(f"pixel_spacing_mm must be a finite number > 0, got "
                             f"{self.pixel_spacing_mm!r}")
        if self.input_size is not None:
            check_input_size(self.input_size, "input_size")
        check_input_size(self.max_side, "max_side")
        if not (_is_number(self.max_pixels) and self.max_pixels >= 1):
            raise ValueError(f"max_pixels must be >= 1, got {self.max_pixels!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class FramePipeline:
    """Segment, extract and track guidewires frame by frame.

    segmenter: any object with ``predict((N, H, W) float32 in [0, 1], H and W multiples of
    32) -> (N, H, W) float32 probabilities`` (see ``franet_core.segmenter``).
    """

    def __init__(self, segmenter: Any, config: PipelineConfig = PipelineConfig()) -> None:
        self.segmenter = segmenter
        self.config = config
        self.threshold = 0.5 if config.threshold is None else config.threshold
        self.tracker = Tracker(config.tracker)
        self.meta: dict[str, Any] = {}
        self._index = 0

    @classmethod
    def from_weights(cls, weights: str | None = None, backend: str = "torch",
                     device: str = "cpu", config: PipelineConfig = PipelineConfig(),
                     tip_check: str | None = "auto", min_tip_score: float | None = None
                     ) -> "FramePipeline":
        """Build the segmenter from ``weights`` (None: the shipped default) and wrap it.

        tip_check: "auto" loads ``<weights stem>.tipcheck.json`` beside the weights when it
        exists (refusing one fitted for other weights), a path loads that check, None or
        "off" runs none (:func:`franet_core.tip_check.resolve`). ``config.tip_check``, when
        set, wins. ``min_tip_score`` replaces the loaded check's gate. ``meta["tip_check"]``
        says which ran (None: none).
        """
        from franet_core.checkpoint import DEFAULT_WEIGHTS
        from franet_core.segmenter import build_segmenter

        segmenter, meta = build_segmenter(weights, backend, device)
        if config.threshold is None:
            config = replace(config, threshold=float((meta or {}).get("threshold", 0.5)))
        meta = dict(meta or {})
        if config.tip_check is not None:
            meta["tip_check"] = "given in the pipeline config"
        else:
            check, meta["tip_check"] = resolve_tip_check(
                tip_check, weights if weights is not None else DEFAULT_WEIGHTS, min_tip_score)
            config = replace(config, tip_check=check)
        pipe = cls(segmenter, config)
        pipe.meta = meta
        return pipe

    def reset(self) -> None:
        """Start a new sequence: forget tracks and restart frame indices at 0."""
        self.tracker.reset()
        self._index = 0

    def process(self, image: np.ndarray) -> FrameResult:
        """Run one frame through every stage; ValueError for a bad frame (tracker untouched)."""
        return self.process_batch([image])[0]

    def process_batch(self, images: Sequence[np.ndarray]) -> list[FrameResult]:
        """Segment N frames with one segmenter call per frame size, then track in order.

        Every frame is validated and segmented before any is tracked, so a bad frame raises
        ValueError (naming its position) and leaves the tracker as it was. Preprocess and
        inference timings are the batch's wall time divided by N.
        """
        if len(images) == 0:
            return []
        t0 = time.perf_counter()
        inputs, boxes, views, frames = [], [], [], []
        for i, image in enumerate(images):
            name = "frame" if len(images) == 1 else f"frame {i} of the batch"
            try:
                img = normalize_image(image, name=name, max_pixels=self.config.max_pixels)
            except ValueError as exc:
                raise ValueError(f"bad frame: {exc}") from exc
            box = Letterbox.fit(img.shape, self.config.input_size, max_side=self.config.max_side)
            frames.append(img)
            inputs.append(box.apply(img))
            boxes.append(box)
            views.append(FieldOfView(img.shape) if self.config.field_of_view is None
                         else FieldOfView.estimate(img, self.config.field_of_view))
        t1 = time.perf_counter()
        probs = self._segment(inputs)
        t2 = time.perf_counter()
        n = len(images)
        shared = {"preprocess": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n}
        maps = [self._postprocess(p, b) for p, b in zip(probs, boxes)]
        t3 = time.perf_counter()
        post_each = (t3 - t2) * 1e3 / n
        return [self._track(prob, mask, view, img, dict(shared, postprocess=post_each))
                for (prob, mask), view, img in zip(maps, views, frames)]

    def _segment(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One ``predict`` call per distinct padded size; validates the segmenter's output."""
        out: dict[int, np.ndarray] = {}
        groups: dict[tuple[int, int], list[int]] = {}
        for i, x in enumerate(inputs):
            groups.setdefault(x.shape, []).append(i)
        for idx in groups.values():
            batch = np.stack([inputs[i] for i in idx]).astype(np.float32, copy=False)
            probs = np.asarray(self.segmenter.predict(batch))
            if probs.shape != batch.shape:
                raise ValueError(f"segmenter returned shape {probs.shape} for input "
                                 f"{batch.shape}")
            if not np.all(np.isfinite(probs)):
                raise ValueError("segmenter returned non-finite probabilities")
            for k, i in enumerate(idx):
                out[i] = probs[k]
        return [out[i] for i in range(len(inputs))]

    def _postprocess(self, prob: np.ndarray, box: Letterbox) -> tuple[np.ndarray, np.ndarray]:
        prob = np.clip(box.invert(prob.astype(np.float32, copy=False)), 0.0, 1.0)
        return prob, (prob > self.threshold).astype(np.uint8)

    def _track(self, prob: np.ndarray, mask: np.ndarray, view: FieldOfView,
               image: np.ndarray, timings: dict[str, float]) -> FrameResult:
        t0 = time.perf_counter()
        observations = [observe(c, view)
                        for c in extract_centerlines(prob, self.config.centerline, mask)]
        t1 = time.perf_counter()
        wires = self.tracker.update(observations, view)
        if self.config.tip_check is not None:
            wires = check_tips(self.config.tip_check, wires, prob, mask, image)
        t2 = time.perf_counter()
        timings.update(centerline=(t1 - t0) * 1e3, tracking=(t2 - t1) * 1e3)
        timings["total"] = sum(timings[k] for k in STAGES[:-1])
        result = FrameResult(self._index, mask, prob, wires, timings,
                             self.config.pixel_spacing_mm)
        self._index += 1
        return result


def px_to_mm(value_px: Any, pixel_spacing_mm: float) -> Any:
    """Convert lengths/positions in px (scalar, array, or None) to mm."""
    if value_px is None:
        return None
    return np.asarray(value_px, dtype=np.float64) * pixel_spacing_mm


def px2_to_mm2(cov_px2: Any, pixel_spacing_mm: float) -> Any:
    """Convert a covariance in px² (array or None) to mm²."""
    if cov_px2 is None:
        return None
    return np.asarray(cov_px2, dtype=np.float64) * pixel_spacing_mm ** 2
