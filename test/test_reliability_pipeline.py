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

"""Seeded fuzz of ``FramePipeline.process`` with malformed frames between valid ones.

Every malformed input (each dtype, rank, size and value class numpy offers, masked arrays,
lists and non-arrays) must raise ValueError and nothing else, and must leave the tracker as
it was: the tracks equal those of a run over the valid frames alone.
"""
import datetime

import cv2
import numpy as np
import pytest

from franet_core.pipeline import FramePipeline, PipelineConfig
from franet_core.preprocess import normalize_image

SEED = 16
VALID_FRAMES = 30
BAD_PER_GAP = 75  # 30 gaps x 75 = 2,250 malformed inputs
SHAPE = (48, 64)


class IntensitySegmenter:
    """Stand-in network: the probability is the padded image itself."""

    name = "intensity"
    device = "cpu"

    def predict(self, batch):
        """(N, H, W) in [0, 1] -> same."""
        return np.clip(batch, 0.0, 1.0).astype(np.float32)


def wire_frame(k):
    """Draw a bright wire from the left border whose tip advances 1 px per frame."""
    img = np.zeros(SHAPE, np.uint8)
    cv2.line(img, (0, 10), (30 + k, 20 + k // 3), 255, 3)
    return img


def malformed(rng):
    """Yield (kind, input) pairs that a pipeline must refuse, drawn from ``rng``."""
    numeric = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64,
               np.uint64, np.float16, np.float32, np.float64]
    never = [np.bool_, np.complex64, np.complex128, "datetime64[ms]", "timedelta64[s]",
             np.object_, "U3", "S2", "V4"]
    while True:
        kind = int(rng.integers(14))
        h, w = (int(v) for v in rng.integers(0, 40, 2))
        dtype = numeric[int(rng.integers(len(numeric)))]
        if kind == 0:  # a dtype that is never an image, any rank and size
            shape = tuple(int(v) for v in rng.integers(0, 6, int(rng.integers(0, 4))))
            yield "dtype", np.zeros(shape, dtype=never[int(rng.integers(len(never)))])
        elif kind == 1:  # empty, grayscale or colour
            shape = [(0, w), (h, 0), (0, 0), (0, w, 3), (h, 0, 4), (0, 0, 1)][int(rng.integers(6))]
            yield "empty", np.zeros(shape, dtype)
        elif kind == 2:  # wrong rank
            ndim = [0, 1, 4, 5][int(rng.integers(4))]
            shape = tuple(int(v) for v in rng.integers(1, 5, ndim))
            yield "rank", np.ones(shape, dtype)
        elif kind == 3:  # wrong channel count
            yield "channels", np.ones((h + 1, w + 1, [2, 5, 7, 16][int(rng.integers(4))]), dtype)
        elif kind in (4, 5):  # NaN / inf in a float frame, grey or colour
            ftype = [np.float16, np.float32, np.float64][int(rng.integers(3))]
            shape = (h + 1, w + 1) if kind == 4 else (h + 1, w + 1, 3 + int(rng.integers(2)))
            arr = rng.random(shape).astype(ftype)
            arr.flat[int(rng.integers(arr.size))] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
            yield "non-finite" if kind == 4 else "non-finite colour", arr
        elif kind == 6:  # beyond float32
            arr = rng.random((h + 1, w + 1))
            arr.flat[0] = 1e300 * (1 if rng.random() < 0.5 else -1)
            yield "huge", arr
        elif kind == 7:  # masked array (mask would be silently ignored)
            arr = np.ma.masked_array(wire_frame(0).astype(dtype), mask=rng.random(SHAPE) < 0.5)
            yield "masked", arr
        elif kind == 8:  # over the pixel budget (a broadcast view: no memory)
            yield "oversize", np.broadcast_to(np.zeros(1, dtype), (5000, 4000 + h))
        elif kind == 9:  # bool: a mask, not an image
            yield "bool", rng.random((h + 1, w + 1)) < 0.5
        elif kind == 10:  # ragged or non-numeric lists
            yield "list", [[1, 2, 3], [4, 5]][: 1 + int(rng.integers(2))] + [["a"]]
        elif kind == 11:  # not an array at all
            yield "object", [None, {"a": 1}, "frame.png", 3, 2.5, b"\x00\x01", object(),
                             datetime.timedelta(seconds=1)][int(rng.integers(8))]
        elif kind == 12:  # complex colour / timedelta colour
            odd = [np.complex64, "timedelta64[ns]"][int(rng.integers(2))]
            yield "colour dtype", np.zeros((h + 1, w + 1, 3), odd)
        else:  # empty list, or a list of non-finite floats
            yield "list values", [[]] if rng.random() < 0.5 else [[1.0, float("nan")]] * 3


def states(result):
    """Summarise a frame's tracked wires for comparison."""
    return [(w.id, w.status, None if w.tip is None else tuple(np.round(w.tip, 6)))
            for w in result.wires]


def test_malformed_frames_raise_value_error_and_leave_tracks_unchanged():
    rng = np.random.default_rng(SEED)
    bad_inputs = malformed(rng)
    pipe = FramePipeline(IntensitySegmenter(), PipelineConfig())
    ref = FramePipeline(IntensitySegmenter(), PipelineConfig())
    tried, refused, kinds = 0, 0, set()
    for k in range(VALID_FRAMES):
        for _ in range(BAD_PER_GAP):
            kind, frame = next(bad_inputs)
            kinds.add(kind)
            tried += 1
            try:
                pipe.process(frame)
            except ValueError:
                refused += 1
            else:
                pytest.fail(f"{kind} input accepted: {type(frame).__name__} "
                            f"{getattr(frame, 'dtype', '')} {np.shape(frame)}")
        assert states(pipe.process(wire_frame(k))) == states(ref.process(wire_frame(k)))
    assert tried == refused >= 2000
    assert len(kinds) == 14
    assert pipe.process(wire_frame(VALID_FRAMES)).index == VALID_FRAMES


def test_valid_but_unusual_arrays_are_accepted():
    for frame in (wire_frame(0).astype(np.int8), wire_frame(0).astype(np.float16),
                  wire_frame(0).tolist(), np.dstack([wire_frame(0)] * 3).astype(np.float64),
                  np.dstack([wire_frame(0)] * 4).astype(np.int32)):
        out = normalize_image(frame)
        assert out.shape == SHAPE and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() == pytest.approx(1.0)


def test_masked_bool_and_timedelta_frames_are_refused_by_name():
    with pytest.raises(ValueError, match="f1: masked arrays are not accepted"):
        normalize_image(np.ma.masked_array(wire_frame(0)), name="f1")
    with pytest.raises(ValueError, match="bool array is a mask"):
        normalize_image(wire_frame(0) > 0)
    with pytest.raises(ValueError, match="dtype timedelta64"):
        normalize_image(wire_frame(0).astype("timedelta64[s]"))


def test_frames_above_max_side_are_resized_not_processed_at_full_size():
    calls = []

    class Recording(IntensitySegmenter):
        def predict(self, batch):
            calls.append(batch.shape)
            return super().predict(batch)

    pipe = FramePipeline(Recording(), PipelineConfig(max_side=64))
    result = pipe.process(np.zeros((100, 300), np.uint8))
    assert calls == [(1, 64, 64)] and result.mask.shape == (100, 300)
    with pytest.raises(ValueError, match="exceeds the limit of 100 px"):
        FramePipeline(Recording(), PipelineConfig(max_pixels=100)).process(wire_frame(0))
