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

"""One frame through the tracker: Image message -> array -> FramePipeline -> messages.

The node's image callback and ``franet replay`` both call :class:`FrameProcessor`, so a
replayed bag exercises exactly the code path of the live node. Framework-free: message
classes come from a :class:`~franet_ros.conversions.MessageKit`.
"""
from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any

from franet_core.types import FrameResult
from franet_ros import conversions as conv


@dataclass
class FrameOutputs:
    """The messages produced for one processed frame (all stamped with the input header).

    tip_pose is None when no wire is TRACKING or PREDICTED; overlay is None unless enabled.
    latency_ms: wall time from the call (message received) to the last message built.
    frame: the input image as an ndarray, for drawing the overlay later
    (:meth:`FrameProcessor.draw_overlay`).
    """

    result: FrameResult
    guidewires: Any
    mask: Any
    tip_pose: Any | None
    centerline: Any
    overlay: Any | None
    latency_ms: float
    frame: Any = None


class FrameProcessor:
    """Turns Image messages into tracker messages with a :class:`FramePipeline`.

    Bad input raises :class:`~franet_ros.conversions.ImageConversionError` (a ValueError) or
    the pipeline's ValueError; the caller skips the frame and counts it.
    """

    def __init__(self, pipeline: Any, kit: conv.MessageKit, *,
                 max_pixels: int = conv.DEFAULT_MAX_PIXELS, overlay: bool = False) -> None:
        self.pipeline = pipeline
        self.kit = kit
        self.max_pixels = max_pixels
        self.overlay = overlay

    def __call__(self, msg: Any, received: float | None = None) -> FrameOutputs:
        """Process one Image; ``received`` is its ``time.perf_counter()`` arrival time."""
        start = time.perf_counter() if received is None else received
        frame = conv.frame_from_image(msg, max_pixels=self.max_pixels)
        result = self.pipeline.process(frame)
        header = msg.header
        mask = conv.mask_to_image(result.mask, self.kit, header)
        pose = conv.tip_pose(result, self.kit, header)
        path = conv.centerline_path(result, self.kit, header)
        outputs = FrameOutputs(result, None, mask, pose, path, None, 0.0, frame)
        if self.overlay:
            outputs.overlay = self.draw_overlay(outputs, header)
        outputs.latency_ms = (time.perf_counter() - start) * 1000.0
        outputs.guidewires = conv.guidewire_array(result, self.kit, header,
                                                  total_latency_ms=outputs.latency_ms)
        return outputs

    def draw_overlay(self, outputs: FrameOutputs, header: Any) -> Any:
        """Return the bgr8 overlay Image of processed ``outputs``, stamped with ``header``.

        The node calls it after the other messages are published, and only while someone
        subscribes to the overlay, so drawing never delays the results.
        """
        from franet_core.overlay import draw_result

        picture = draw_result(outputs.frame, outputs.result)
        return conv.array_to_image(picture, self.kit, header, "bgr8")
