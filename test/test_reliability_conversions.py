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

"""Seeded fuzz of the node's Image path with malformed messages between valid ones.

Each malformed sensor_msgs/Image (every field of the wrong type, out of range, or
inconsistent with the others; data too short, too long, not bytes; NaN in a float image;
over the pixel budget) must raise ImageConversionError (a ValueError) and nothing else, from
the conversion and from the node's whole per-frame path, which must then leave the tracker
as it was: the tracks equal those of a run over the valid messages alone.
"""
import array

import cv2
import numpy as np
import pytest

from franet_core.pipeline import FramePipeline, PipelineConfig
from franet_ros import conversions as conv
from franet_ros.bag import make_typestore
from franet_ros.processor import FrameProcessor
from test_reliability_pipeline import IntensitySegmenter, states

SEED = 17
VALID = 24
BAD_PER_GAP = 90  # 24 gaps x 90 = 2,160 malformed messages
SHAPE = (40, 56)
MAX_PIXELS = 64 * 64
STORE = make_typestore()
KIT = conv.typestore_kit(STORE)
HEADER = conv.make_header(KIT, 1, 2, "xray")


def wire_image(k, encoding="mono8"):
    """Build an Image of a bright wire whose tip advances 1 px per frame."""
    img = np.zeros(SHAPE, np.uint8)
    cv2.line(img, (0, 8), (26 + k, 18 + k // 3), 255, 3)
    if encoding == "rgb8":
        img = np.dstack([img] * 3)
    elif encoding == "32FC1":
        img = img.astype(np.float32) / 255.0
    elif encoding == "mono16":
        img = img.astype(np.uint16) * 200
    return conv.array_to_image(img, KIT, HEADER, encoding)


def with_fields(msg, **fields):
    """Copy an Image message with some fields replaced (no validation: any value goes)."""
    values = {f: getattr(msg, f) for f in ("header", "height", "width", "encoding",
                                           "is_bigendian", "step", "data")}
    values.update(fields)
    return KIT.new(conv.IMAGE, **values)


def malformed(rng):
    """Yield (kind, message) pairs that must be refused, drawn from ``rng``."""
    not_uint32 = [-1, -(2 ** 31), 2 ** 32, 2 ** 63, 3.5, float("nan"), "40", None, True,
                  [40], b"\x28"]
    while True:
        encoding = ["mono8", "mono16", "32FC1", "rgb8"][int(rng.integers(4))]
        good = wire_image(int(rng.integers(10)), encoding)
        pick = int(rng.integers(len(not_uint32)))
        kind = int(rng.integers(12))
        if kind == 0:
            yield "encoding", with_fields(good, encoding=["mono12", "", "MONO8", "yuv422",
                                                          "bayer_rggb8", "64FC1", None, 8,
                                                          b"mono8", "mono8 "][pick % 10])
        elif kind in (1, 2, 3):
            field = ("height", "width", "step")[kind - 1]
            yield field, with_fields(good, **{field: not_uint32[pick]})
        elif kind == 4:  # zero size
            yield "zero size", with_fields(good, **{"height" if pick % 2 else "width": 0})
        elif kind == 5:  # step shorter than a row
            yield "short step", with_fields(good, step=good.step - 1 - pick % 3)
        elif kind == 6:  # data truncated or extended
            cut = int(rng.integers(1, good.data.size))
            longer = np.concatenate([good.data, good.data[:cut]])
            data = good.data[:-cut] if pick % 2 else longer
            yield "data length", with_fields(good, data=data)
        elif kind == 7:  # data that is not bytes
            n = good.data.size
            yield "data type", with_fields(good, data=[
                good.data.astype(np.int16), good.data.astype(np.float32), [256] * n,
                [-1] * n, [0.5] * n, "x" * n, None, [[1, 2], [3]], {"a": 1},
                array.array("d", [0.0] * n), np.zeros(n, bool)][pick])
        elif kind == 8:  # non-finite 32FC1
            values = np.full(SHAPE, 0.5, np.float32)
            values.flat[int(rng.integers(values.size))] = [np.nan, np.inf, -np.inf][pick % 3]
            yield "non-finite", conv.array_to_image(values, KIT, HEADER, "32FC1")
        elif kind == 9:  # over the pixel budget (data never read)
            yield "oversize", with_fields(good, height=100 + pick, width=100)
        elif kind == 10:  # is_bigendian not a flag
            yield "is_bigendian", with_fields(good, is_bigendian=[2, -1, "yes", None, 1.0,
                                                                  255][pick % 6])
        else:  # width and step consistent but the data left for the old size
            yield "inconsistent size", with_fields(good, width=good.width + 1,
                                                   step=good.step + good.step // good.width)


def test_malformed_messages_raise_image_conversion_error_and_leave_tracks_unchanged():
    rng = np.random.default_rng(SEED)
    bad = malformed(rng)
    node = FrameProcessor(FramePipeline(IntensitySegmenter(), PipelineConfig()), KIT,
                          max_pixels=MAX_PIXELS)
    ref = FramePipeline(IntensitySegmenter(), PipelineConfig())
    tried, kinds = 0, set()
    for k in range(VALID):
        for _ in range(BAD_PER_GAP):
            kind, msg = next(bad)
            kinds.add(kind)
            tried += 1
            for convert in (lambda m: conv.frame_from_image(m, max_pixels=MAX_PIXELS), node):
                try:
                    convert(msg)
                except conv.ImageConversionError as exc:
                    assert exc.reason
                else:
                    pytest.fail(f"{kind} message accepted: {msg!r:.300}")
        good = wire_image(k, ["mono8", "rgb8", "32FC1", "mono16"][k % 4])
        out = node(good)
        assert states(out.result) == states(ref.process(conv.frame_from_image(good)))
    assert tried >= 2000
    assert len(kinds) == 12
