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

"""Image <-> array and FrameResult -> message conversions on real ROS 2 message classes.

The classes come from the rosbags Humble typestore with our msg/*.msg registered, so field
names and types are those of sensor_msgs, geometry_msgs, nav_msgs, diagnostic_msgs and
franet_ros. Expected arrays are built independently with numpy byte packing.
"""
import array
import math
import struct
from types import SimpleNamespace

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from franet_core.types import FrameResult, WireState, WireStatus
from franet_ros import conversions as conv
from franet_ros.bag import make_typestore

STORE = make_typestore()
KIT = conv.typestore_kit(STORE)
HEADER = conv.make_header(KIT, 12, 345, "xray")


def make_image(array_: np.ndarray, encoding: str, *, big_endian: bool = False,
               pad: int = 0) -> object:
    """Pack ``array_`` by hand (row by row, ``pad`` junk bytes per row) into an Image."""
    arr = np.asarray(array_)
    wire = arr.astype(arr.dtype.newbyteorder(">" if big_endian else "<"))
    height = arr.shape[0]
    rows = wire.reshape(height, -1).view(np.uint8).reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    return KIT.new(conv.IMAGE, header=HEADER, height=height, width=arr.shape[1],
                   encoding=encoding, is_bigendian=int(big_endian), step=padded.shape[1],
                   data=np.ascontiguousarray(padded).reshape(-1))


RNG = np.random.default_rng(0)
CASES = [
    ("mono8", RNG.integers(0, 256, (5, 7), dtype=np.uint8)),
    ("8UC1", RNG.integers(0, 256, (5, 7), dtype=np.uint8)),
    ("mono16", RNG.integers(0, 65536, (5, 7), dtype=np.uint16)),
    ("16UC1", RNG.integers(0, 65536, (5, 7), dtype=np.uint16)),
    ("32FC1", RNG.standard_normal((5, 7)).astype(np.float32)),
    ("rgb8", RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)),
    ("bgr8", RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)),
    ("rgba8", RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)),
    ("bgra8", RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)),
]


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("encoding,expected", CASES, ids=[c[0] for c in CASES])
def test_every_encoding_decodes_with_endianness_and_padding(encoding, expected, big_endian,
                                                            pad):
    out = conv.image_to_array(make_image(expected, encoding, big_endian=big_endian, pad=pad))
    assert out.dtype == expected.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, expected)


def test_big_endian_mono16_reads_most_significant_byte_first():
    msg = KIT.new(conv.IMAGE, header=HEADER, height=1, width=2, encoding="mono16",
                  is_bigendian=1, step=4, data=np.array([0x01, 0x02, 0xFF, 0x00], np.uint8))
    assert conv.image_to_array(msg).tolist() == [[0x0102, 0xFF00]]
    msg.is_bigendian = 0
    assert conv.image_to_array(msg).tolist() == [[0x0201, 0x00FF]]


def test_rgb_frames_reach_the_pipeline_in_bgr_order():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    frame = conv.frame_from_image(make_image(rgb, "rgb8"))
    assert frame[0, 0].tolist() == [0, 0, 200]
    rgba = np.dstack([rgb, np.full((2, 2), 7, np.uint8)])
    assert conv.frame_from_image(make_image(rgba, "rgba8"))[1, 1].tolist() == [0, 0, 200, 7]
    assert conv.image_to_array(make_image(rgb, "rgb8"))[0, 0].tolist() == [200, 0, 0]


def test_rclpy_style_data_containers_are_accepted():
    expected = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    raw = expected.astype("<u2").tobytes()
    for data in (array.array("B", raw), raw, list(raw)):
        msg = SimpleNamespace(height=3, width=4, encoding="16UC1", is_bigendian=False,
                              step=8, data=data, header=None)
        np.testing.assert_array_equal(conv.image_to_array(msg), expected)


@pytest.mark.parametrize("change,reason", [
    ({"encoding": "yuv422"}, "unsupported encoding 'yuv422'"),
    ({"encoding": ""}, "unsupported encoding ''"),
    ({"height": 0, "data": np.zeros(0, np.uint8)}, "zero size"),
    ({"width": 0}, "zero size"),
    ({"data": np.zeros(5 * 8 - 1, np.uint8)}, "data length 39 B != step 8 x height 5"),
    ({"step": 7, "data": np.zeros(35, np.uint8)}, "step 7 B is shorter than one row"),
])
def test_malformed_images_raise_with_a_reason(change, reason):
    msg = make_image(np.zeros((5, 8), np.uint8), "mono8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(conv.ImageConversionError) as info:
        conv.image_to_array(msg)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_images_are_refused(bad):
    arr = np.ones((3, 3), np.float32)
    arr[1, 2] = bad
    with pytest.raises(conv.ImageConversionError, match="NaN or infinite"):
        conv.image_to_array(make_image(arr, "32FC1"))


def test_pixel_budget_is_enforced_before_reading_data():
    msg = KIT.new(conv.IMAGE, header=HEADER, height=100_000, width=100_000, encoding="mono8",
                  is_bigendian=0, step=100_000, data=np.zeros(1, np.uint8))
    with pytest.raises(conv.ImageConversionError, match="exceeds the limit"):
        conv.image_to_array(msg)
    small = make_image(np.zeros((4, 5), np.uint8), "mono8")
    assert conv.image_to_array(small, max_pixels=20).shape == (4, 5)
    with pytest.raises(conv.ImageConversionError, match="20 px exceeds the limit of 19"):
        conv.image_to_array(small, max_pixels=19)


#: sensor_msgs image encodings as REP 104 / cv_bridge define them: struct format of one
#: channel and channels per pixel. Written out here, not read from conv.ENCODINGS.
REFERENCE_ENCODINGS = {"mono8": ("B", 1), "8UC1": ("B", 1), "mono16": ("H", 1),
                       "16UC1": ("H", 1), "32FC1": ("f", 1), "rgb8": ("B", 3),
                       "bgr8": ("B", 3), "rgba8": ("B", 4), "bgra8": ("B", 4)}
#: Each kind of defect and the reason image_to_array must give for it.
DEFECT_REASONS = {"encoding": "unsupported encoding", "zero_size": "zero size",
                  "over_budget": "exceeds the limit", "short_step": "shorter than one row",
                  "data_length": "data length", "non_finite": "NaN or infinite"}


def test_reference_table_covers_the_supported_encodings():
    assert set(REFERENCE_ENCODINGS) == set(conv.ENCODINGS)


def decode_by_struct(data: bytes, height: int, width: int, step: int, encoding: str,
                     big: bool) -> np.ndarray:
    """Decode by reference: one struct.unpack per row, independent of numpy byte views."""
    fmt, channels = REFERENCE_ENCODINGS[encoding]
    order = ">" if big else "<"
    rows = [struct.unpack_from(f"{order}{width * channels}{fmt}", data, r * step)
            for r in range(height)]
    dtype = {"B": np.uint8, "H": np.uint16, "f": np.float32}[fmt]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.array(rows, dtype=dtype).reshape(shape)


@st.composite
def image_cases(draw):
    """Draw a well-formed Image, or one with exactly one defect, and the pixel budget to use.

    Returns ``(fields, defect, max_pixels)``; ``defect`` is None or a key of DEFECT_REASONS.
    Well-formed cases are drawn as often as each defect, so the decode path is exercised.
    """
    defect = draw(st.sampled_from([None, *DEFECT_REASONS]))
    encoding = "32FC1" if defect == "non_finite" else \
        draw(st.sampled_from(sorted(REFERENCE_ENCODINGS)))
    fmt, channels = REFERENCE_ENCODINGS[encoding]
    height, width = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    row = width * channels * struct.calcsize(fmt)
    step = row + draw(st.integers(0, 5))
    big = draw(st.booleans())
    max_pixels = 49
    if defect == "zero_size":
        height, width = draw(st.sampled_from([(0, width), (height, 0), (0, 0)]))
    elif defect == "over_budget":
        max_pixels = height * width - 1
    elif defect == "short_step":
        step = draw(st.integers(0, row - 1))
    data = bytearray(draw(st.binary(min_size=step * height, max_size=step * height)))
    if defect == "data_length":
        cut = draw(st.integers(-min(len(data), 4), 4).filter(lambda n: n != 0))
        data = data[:cut] if cut < 0 else data + bytes(cut)
    elif defect == "non_finite":
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        r, c = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        struct.pack_into((">" if big else "<") + "f", data, r * step + 4 * c, bad)
    elif defect == "encoding":
        encoding = draw(st.sampled_from(["mono32", "bgr16", "8UC3", "MONO8", "jpeg", ""]))
    fields = {"height": height, "width": width, "encoding": encoding, "is_bigendian": int(big),
              "step": step, "data": bytes(data)}
    return fields, defect, max_pixels


@settings(max_examples=300, deadline=None)
@given(case=image_cases())
def test_fuzzed_images_decode_like_the_reference_or_raise_the_specific_error(case):
    fields, defect, max_pixels = case
    msg = KIT.new(conv.IMAGE, header=HEADER, **{
        **fields, "data": np.frombuffer(fields["data"], np.uint8)})
    if defect is None:
        expected = decode_by_struct(fields["data"], fields["height"], fields["width"],
                                    fields["step"], fields["encoding"],
                                    bool(fields["is_bigendian"]))
        if np.isfinite(expected).all():
            out = conv.image_to_array(msg, max_pixels=max_pixels)
            assert out.dtype == expected.dtype and out.dtype.isnative
            np.testing.assert_array_equal(out, expected, strict=True)
            return
        defect = "non_finite"  # random float bytes that happen to spell NaN or inf
    with pytest.raises(conv.ImageConversionError) as info:
        conv.image_to_array(msg, max_pixels=max_pixels)
    assert DEFECT_REASONS[defect] in info.value.reason


@settings(max_examples=100, deadline=None)
@given(height=st.integers(1, 6), width=st.integers(1, 6), pad=st.integers(0, 5),
       big=st.booleans(), seed=st.integers(0, 2**16))
def test_fuzzed_valid_mono16_round_trips(height, width, pad, big, seed):
    expected = np.random.default_rng(seed).integers(0, 65536, (height, width), dtype=np.uint16)
    msg = make_image(expected, "mono16", big_endian=big, pad=pad)
    np.testing.assert_array_equal(conv.image_to_array(msg), expected)


@pytest.mark.parametrize("arr,encoding", [
    (np.arange(20, dtype=np.uint8).reshape(4, 5), "mono8"),
    (np.arange(60, dtype=np.uint8).reshape(4, 5, 3), "bgr8"),
    (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000, "mono16"),
    (np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5), "32FC1"),
])
def test_array_to_image_survives_cdr_round_trip(arr, encoding):
    msg = conv.array_to_image(arr, KIT, HEADER)
    assert msg.encoding == encoding and msg.step == arr.shape[1] * arr[0, 0].nbytes
    back = STORE.deserialize_cdr(STORE.serialize_cdr(msg, conv.IMAGE), conv.IMAGE)
    np.testing.assert_array_equal(conv.image_to_array(back), arr)
    assert (back.header.stamp.sec, back.header.stamp.nanosec, back.header.frame_id) == (
        12, 345, "xray")


def test_array_to_image_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match="does not fit encoding mono8"):
        conv.array_to_image(np.zeros((2, 2), np.uint16), KIT, HEADER, "mono8")
    with pytest.raises(ValueError, match="no image encoding"):
        conv.array_to_image(np.zeros((2, 2), np.int64), KIT, HEADER)


def test_mask_image_is_mono8_0_255():
    mask = np.array([[0, 1], [1, 0]], np.uint8)
    msg = conv.mask_to_image(mask, KIT, HEADER)
    assert msg.encoding == "mono8"
    assert conv.image_to_array(msg).tolist() == [[0, 255], [255, 0]]


# ----------------------------------------------------------------- results -> messages


def wire(id_, status, tip=(10.0, 20.0), angle=0.3):
    alive = status is not WireStatus.LOST
    line = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]) if status is WireStatus.TRACKING \
        else np.zeros((0, 2))
    return WireState(
        id=id_, status=status, confidence=0.8,
        tip=np.array(tip) if alive else None, tip_angle=angle if alive else None,
        tip_covariance=np.array([[4.0, 1.0], [1.5, 9.0]]) if alive else None,
        tip_velocity=np.array([2.0, -1.0]) if alive else None,
        centerline=line, length_px=10.0 if status is WireStatus.TRACKING else 0.0,
        frames_since_measured=0 if status is WireStatus.TRACKING else 3)


def result(*wires):
    return FrameResult(index=7, mask=np.zeros((30, 40), np.uint8),
                       probability=np.zeros((30, 40), np.float32), wires=list(wires),
                       timings_ms={"inference": 5.0, "total": 9.0}, pixel_spacing_mm=0.2)


def yaw_of(q) -> float:
    """Yaw of a quaternion about z (standard ZYX formula, independent of the encoder)."""
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y ** 2 + q.z ** 2))


def test_guidewire_array_fields_and_cdr_round_trip():
    res = result(wire(3, WireStatus.LOST), wire(5, WireStatus.TRACKING, angle=2.5),
                 wire(4, WireStatus.PREDICTED, tip=(1.0, 2.0), angle=-1.0))
    msg = conv.guidewire_array(res, KIT, HEADER, total_latency_ms=12.5)
    back = STORE.deserialize_cdr(STORE.serialize_cdr(msg, conv.GUIDEWIRE_ARRAY),
                                 conv.GUIDEWIRE_ARRAY)
    assert back.header.frame_id == "xray" and back.frame_index == 7
    assert (back.image_width, back.image_height) == (40, 30)
    assert back.pixel_spacing_mm == pytest.approx(0.2)
    assert back.primary_id == 4  # lowest id that is not LOST
    assert back.inference_latency_ms == 5.0 and back.total_latency_ms == 12.5
    lost, tracking, predicted = back.wires
    G = STORE.types[conv.GUIDEWIRE]
    assert [w.status for w in back.wires] == [G.LOST, G.TRACKING, G.PREDICTED] == [0, 1, 2]
    assert lost.tip.position.x == lost.tip.position.y == 0.0 and lost.tip.orientation.w == 1.0
    assert not lost.tip_covariance.any() and len(lost.centerline) == 0
    assert (tracking.tip.position.x, tracking.tip.position.y) == (10.0, 20.0)
    assert yaw_of(tracking.tip.orientation) == pytest.approx(2.5)
    assert yaw_of(predicted.tip.orientation) == pytest.approx(-1.0)
    assert tracking.tip_covariance.tolist() == [4.0, 1.0, 1.5, 9.0]  # row-major
    assert (tracking.tip_velocity.x, tracking.tip_velocity.y) == (2.0, -1.0)
    assert [(p.x, p.y, p.z) for p in tracking.centerline] == [(0, 0, 0), (3, 4, 0), (6, 8, 0)]
    assert predicted.frames_since_measured == 3 and tracking.length_px == 10.0


def test_tip_score_is_carried_and_a_withheld_tip_is_never_published():
    from dataclasses import replace

    withheld = replace(wire(6, WireStatus.LOST), tip_score=0.42)
    kept = replace(wire(2, WireStatus.TRACKING), tip_score=0.98)
    msg = conv.guidewire_array(result(kept, withheld, wire(8, WireStatus.PREDICTED)), KIT,
                               HEADER)
    back = STORE.deserialize_cdr(STORE.serialize_cdr(msg, conv.GUIDEWIRE_ARRAY),
                                 conv.GUIDEWIRE_ARRAY)
    scored, held, unchecked = back.wires
    assert scored.tip_score == pytest.approx(0.98) and scored.status == 1
    assert held.status == 0 and held.tip_score == pytest.approx(0.42)
    assert held.tip.position.x == held.tip.position.y == 0.0 and not held.tip_covariance.any()
    assert unchecked.tip_score == -1.0
    assert back.primary_id == 2


def test_default_total_latency_is_the_pipeline_total():
    assert conv.guidewire_array(result(), KIT, HEADER).total_latency_ms == 9.0
    assert conv.guidewire_array(result(), KIT, HEADER).primary_id == -1


def test_tip_pose_only_for_a_live_primary_wire():
    assert conv.tip_pose(result(wire(1, WireStatus.LOST)), KIT, HEADER) is None
    pose = conv.tip_pose(result(wire(2, WireStatus.PREDICTED, tip=(5.5, 6.5), angle=math.pi / 2),
                                wire(1, WireStatus.LOST)), KIT, HEADER)
    STORE.serialize_cdr(pose, conv.POSE_STAMPED)
    assert pose.header.stamp.sec == 12
    assert (pose.pose.position.x, pose.pose.position.y, pose.pose.position.z) == (5.5, 6.5, 0)
    q = pose.pose.orientation
    assert yaw_of(q) == pytest.approx(math.pi / 2)
    assert q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2 == pytest.approx(1.0)


def test_centerline_path_follows_the_primary_wire():
    path = conv.centerline_path(result(wire(1, WireStatus.TRACKING)), KIT, HEADER)
    STORE.serialize_cdr(path, conv.PATH)
    assert [(p.pose.position.x, p.pose.position.y) for p in path.poses] == [
        (0, 0), (3, 4), (6, 8)]
    for p in path.poses:
        assert yaw_of(p.pose.orientation) == pytest.approx(math.atan2(4, 3))
    assert conv.centerline_path(result(wire(1, WireStatus.PREDICTED)), KIT, HEADER).poses == []
    assert conv.centerline_path(result(), KIT, HEADER).poses == []


def test_diagnostic_array_levels_and_values():
    msg = conv.diagnostic_array(KIT, HEADER, name="franet: tracker", hardware_id="cpu",
                                level="WARN", message="2 bad frames",
                                values={"rate_hz": 29.5, "device": "cpu"})
    back = STORE.deserialize_cdr(STORE.serialize_cdr(msg, conv.DIAGNOSTIC_ARRAY),
                                 conv.DIAGNOSTIC_ARRAY)
    status = back.status[0]
    assert status.level == STORE.types[conv.DIAGNOSTIC_STATUS].WARN == 1
    pairs = [(kv.key, kv.value) for kv in status.values]
    assert pairs == [("rate_hz", "29.5"), ("device", "cpu")]
    with pytest.raises(ValueError, match="diagnostic level"):
        conv.diagnostic_array(KIT, HEADER, name="x", hardware_id="", level="BAD",
                              message="", values={})


def test_kit_names_missing_types():
    with pytest.raises(KeyError, match="franet_ros/msg/Guidewire"):
        conv.typestore_kit(SimpleNamespace(types={}))
    with pytest.raises(KeyError, match="no type 'x/msg/Y'"):
        KIT.new("x/msg/Y")
