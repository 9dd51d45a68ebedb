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

"""ROS message <-> numpy / FrameResult conversions, written against message *fields* only.

Nothing here imports rclpy or a message package. Message classes come from a
:class:`MessageKit`, so the same functions build real rclpy messages in the node and
``rosbags`` typestore messages in tests and bag replay.

Image decoding follows cv_bridge's ``imgmsg_to_cv2(msg, "passthrough")`` semantics for the
encodings listed in :data:`ENCODINGS` (``is_bigendian`` honoured, rows ``step`` bytes apart),
but refuses what cv_bridge would let through silently: a data length other than
``step * height``, an empty image, NaN/inf in a float image, or an image larger than a
configured pixel budget. Every refusal is an :class:`ImageConversionError` with a reason.

Coordinates in the produced messages are pixels of the input image (x right, y down,
origin at the centre of the top-left pixel, z = 0); see ``msg/Guidewire.msg``.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import sys
from typing import Any, Callable, Mapping

import numpy as np

from franet_core.types import FrameResult, WireState, WireStatus

#: encoding -> (numpy dtype of one channel, channels), as in cv_bridge's encoding table.
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
}
#: Default pixel budget (H * W) of an input image: 4096 x 4096.
DEFAULT_MAX_PIXELS = 4096 * 4096

IMAGE = "sensor_msgs/msg/Image"
HEADER = "std_msgs/msg/Header"
TIME = "builtin_interfaces/msg/Time"
POINT = "geometry_msgs/msg/Point"
QUATERNION = "geometry_msgs/msg/Quaternion"
POSE = "geometry_msgs/msg/Pose"
POSE_STAMPED = "geometry_msgs/msg/PoseStamped"
VECTOR3 = "geometry_msgs/msg/Vector3"
PATH = "nav_msgs/msg/Path"
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"
DIAGNOSTIC_STATUS = "diagnostic_msgs/msg/DiagnosticStatus"
KEY_VALUE = "diagnostic_msgs/msg/KeyValue"
GUIDEWIRE = "franet_ros/msg/Guidewire"
GUIDEWIRE_ARRAY = "franet_ros/msg/GuidewireArray"

#: Every message type the conversions build; a kit must provide all of them.
MESSAGE_TYPES = (IMAGE, HEADER, TIME, POINT, QUATERNION, POSE, POSE_STAMPED, VECTOR3, PATH,
                 DIAGNOSTIC_ARRAY, DIAGNOSTIC_STATUS, KEY_VALUE, GUIDEWIRE, GUIDEWIRE_ARRAY)

_STATUS_CONSTANT = {WireStatus.LOST: "LOST", WireStatus.TRACKING: "TRACKING",
                    WireStatus.PREDICTED: "PREDICTED"}


class ImageConversionError(ValueError):
    """An Image message that cannot become a valid array; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad sensor_msgs/Image: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class MessageKit:
    """Where message classes come from, and how a ``uint8[]`` field is filled.

    types: full type name (``"sensor_msgs/msg/Image"``) -> message class; every class is
        called with all of its fields as keywords, which rclpy and rosbags both accept.
    byte_array: turns ``bytes`` into the value a ``uint8[]`` field wants (``array.array``
        for rclpy, a uint8 ndarray for rosbags).
    """

    types: Mapping[str, Any]
    byte_array: Callable[[bytes], Any]

    def new(self, msgtype: str, /, **fields: Any) -> Any:
        """Build message ``msgtype`` from keyword fields; KeyError names a missing type."""
        try:
            cls = self.types[msgtype]
        except KeyError:
            raise KeyError(f"message kit has no type {msgtype!r}") from None
        return cls(**fields)

    def constant(self, msgtype: str, constant: str) -> Any:
        """Return a constant of message ``msgtype`` in the kit's own representation."""
        return getattr(self.types[msgtype], constant)


def typestore_kit(typestore: Any) -> MessageKit:
    """Make a kit over a ``rosbags`` typestore (which must have ``msg/`` registered)."""
    missing = [t for t in MESSAGE_TYPES if t not in typestore.types]
    if missing:
        raise KeyError(f"typestore lacks message types {missing}")
    return MessageKit(types=typestore.types,
                      byte_array=lambda data: np.frombuffer(data, dtype=np.uint8).copy())


# --------------------------------------------------------------------------- images


def image_to_array(msg: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a sensor_msgs/Image into a native-endian array that owns its memory.

    Returns (H, W) for one-channel encodings, (H, W, C) otherwise, channel order as in the
    message (cv_bridge passthrough). Raises :class:`ImageConversionError` for an unsupported
    encoding, zero or over-budget size (``max_pixels`` = H * W), a ``step`` shorter than a
    row, ``len(data) != step * height``, or non-finite values in a float image.
    """
    encoding = _field(msg, "encoding")
    if not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r}; supported: "
                                   f"{', '.join(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding]
    height, width, step = (_uint32_field(msg, name) for name in ("height", "width", "step"))
    big_endian = _field(msg, "is_bigendian")
    if isinstance(big_endian, (bool, np.bool_)):
        big_endian = int(big_endian)
    if not isinstance(big_endian, (int, np.integer)) or big_endian not in (0, 1):
        raise ImageConversionError(f"is_bigendian must be 0 or 1, got {big_endian!r}")
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"zero size {width}x{height} (width x height)")
    if height * width > max_pixels:
        raise ImageConversionError(f"{width}x{height} = {height * width} px exceeds the "
                                   f"limit of {max_pixels} px")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} B is shorter than one row of {width} px "
                                   f"{encoding} ({row_bytes} B)")
    data = _byte_view(_field(msg, "data"))
    if data.size != step * height:
        raise ImageConversionError(f"data length {data.size} B != step {step} x height "
                                   f"{height} = {step * height} B")
    wire_dtype = dtype.newbyteorder(">" if big_endian else "<")
    rows = data.reshape(height, step)[:, :row_bytes]
    array = np.ascontiguousarray(rows).view(wire_dtype).astype(dtype.newbyteorder("="))
    array = array.reshape((height, width, channels) if channels > 1 else (height, width))
    if dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ImageConversionError(f"{encoding} image contains NaN or infinite values")
    return array


def frame_from_image(msg: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an Image message into the array :class:`~franet_core.pipeline.FramePipeline` wants.

    Like :func:`image_to_array`, but colour channels are put in BGR(A) order (the OpenCV
    convention ``franet_core.preprocess.normalize_image`` assumes), as cv_bridge does with
    ``desired_encoding="bgr8"``.
    """
    array = image_to_array(msg, max_pixels=max_pixels)
    if msg.encoding in ("rgb8", "rgba8"):
        order = [2, 1, 0] + ([3] if array.shape[2] == 4 else [])
        array = np.ascontiguousarray(array[:, :, order])
    return array


def array_to_image(array: np.ndarray, kit: MessageKit, header: Any,
                   encoding: str | None = None) -> Any:
    """Encode an array as a sensor_msgs/Image with ``header`` (cv2_to_imgmsg semantics).

    The encoding defaults from the array: uint8 (H, W) -> mono8, uint8 (H, W, 3) -> bgr8,
    uint8 (H, W, 4) -> bgra8, uint16 (H, W) -> mono16, float32 (H, W) -> 32FC1. Rows are
    packed (``step = width * bytes per pixel``), byte order is the machine's.
    """
    array = np.asarray(array)
    if encoding is None:
        encoding = _default_encoding(array)
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r}")
    dtype, channels = ENCODINGS[encoding]
    expected_ndim = 2 if channels == 1 else 3
    if (array.dtype != dtype or array.ndim != expected_ndim
            or (channels > 1 and array.shape[2] != channels)):
        raise ValueError(f"array {array.dtype} {array.shape} does not fit encoding {encoding}")
    height, width = array.shape[:2]
    array = np.ascontiguousarray(array)
    return kit.new(IMAGE, header=header, height=height, width=width, encoding=encoding,
                   is_bigendian=int(sys.byteorder == "big"),
                   step=width * channels * dtype.itemsize,
                   data=kit.byte_array(array.tobytes()))


def mask_to_image(mask: np.ndarray, kit: MessageKit, header: Any) -> Any:
    """Encode a {0, 1} mask as a mono8 Image with values 0 / 255 (viewable in rviz)."""
    return array_to_image((np.asarray(mask) > 0).astype(np.uint8) * 255, kit, header, "mono8")


def _default_encoding(array: np.ndarray) -> str:
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else 0)
    table = {(np.dtype(np.uint8), 1): "mono8", (np.dtype(np.uint8), 3): "bgr8",
             (np.dtype(np.uint8), 4): "bgra8", (np.dtype(np.uint16), 1): "mono16",
             (np.dtype(np.float32), 1): "32FC1"}
    try:
        return table[(array.dtype, channels)]
    except KeyError:
        raise ValueError(f"no image encoding for a {array.dtype} array of shape "
                         f"{array.shape}") from None


def _field(msg: Any, name: str) -> Any:
    """Return field ``name`` of ``msg``; a missing field is an ImageConversionError."""
    try:
        return getattr(msg, name)
    except AttributeError:
        raise ImageConversionError(f"message has no field {name!r}") from None


def _uint32_field(msg: Any, name: str) -> int:
    """Return a ``uint32`` field as an int; wrong types and out-of-range values are refused."""
    value = _field(msg, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value <= 0xFFFFFFFF:
        raise ImageConversionError(f"{name} must be a uint32, got {type(value).__name__} "
                                   f"{value!r:.40}")
    return int(value)


def _byte_view(data: Any) -> np.ndarray:
    """Return the ``data`` field as a flat uint8 array (ndarray, bytes, array or list)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageConversionError(f"data has dtype {data.dtype}, expected uint8")
        return data.reshape(-1)
    try:
        if isinstance(data, (bytes, bytearray, memoryview)) or hasattr(data, "typecode"):
            return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        values = np.asarray(data)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged lists, odd buffers
        raise ImageConversionError(f"data is not a sequence of bytes "
                                   f"({type(data).__name__}: {exc})") from None
    if values.size == 0:
        return np.zeros(0, np.uint8)
    if values.dtype.kind not in "iu" or values.min() < 0 or values.max() > 255:
        raise ImageConversionError(f"data is not a sequence of bytes "
                                   f"({type(data).__name__} of {values.dtype})")
    return values.astype(np.uint8).reshape(-1)


# ------------------------------------------------------------------ results -> messages


def yaw_quaternion(kit: MessageKit, yaw: float) -> Any:
    """Build the quaternion of a ``yaw`` rad rotation about the image +z axis (into the image)."""
    return kit.new(QUATERNION, x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


def _point(kit: MessageKit, xy: np.ndarray) -> Any:
    return kit.new(POINT, x=float(xy[0]), y=float(xy[1]), z=0.0)


def guidewire(wire: WireState, kit: MessageKit) -> Any:
    """Convert one tracked wire to a ``franet_ros/msg/Guidewire`` (px, see the .msg file)."""
    has_tip = wire.status is not WireStatus.LOST and wire.tip is not None
    tip = np.zeros(2) if not has_tip else np.asarray(wire.tip, dtype=np.float64)
    yaw = float(wire.tip_angle) if has_tip and wire.tip_angle is not None else 0.0
    covariance = np.zeros(4)
    if has_tip and wire.tip_covariance is not None:
        covariance = np.asarray(wire.tip_covariance, dtype=np.float64).reshape(4)
    velocity = np.zeros(2)
    if has_tip and wire.tip_velocity is not None:
        velocity = np.asarray(wire.tip_velocity, dtype=np.float64)
    return kit.new(
        GUIDEWIRE,
        id=int(wire.id),
        status=int(kit.constant(GUIDEWIRE, _STATUS_CONSTANT[wire.status])),
        confidence=float(wire.confidence),
        tip_score=-1.0 if wire.tip_score is None else float(wire.tip_score),
        tip=kit.new(POSE, position=_point(kit, tip), orientation=yaw_quaternion(kit, yaw)),
        tip_covariance=covariance,
        tip_velocity=kit.new(VECTOR3, x=float(velocity[0]), y=float(velocity[1]), z=0.0),
        centerline=[_point(kit, p) for p in np.asarray(wire.centerline).reshape(-1, 2)],
        length_px=float(wire.length_px),
        frames_since_measured=int(wire.frames_since_measured),
    )


def guidewire_array(result: FrameResult, kit: MessageKit, header: Any, *,
                    total_latency_ms: float | None = None) -> Any:
    """Convert every tracked wire of ``result`` to a GuidewireArray stamped with ``header``.

    ``total_latency_ms`` defaults to the pipeline's own total when the caller did not
    measure the whole receive-to-publish path.
    """
    primary = result.primary
    timings = result.timings_ms
    total = timings.get("total", 0.0) if total_latency_ms is None else total_latency_ms
    height, width = result.mask.shape[:2]
    return kit.new(
        GUIDEWIRE_ARRAY,
        header=header,
        frame_index=int(result.index),
        image_width=int(width),
        image_height=int(height),
        pixel_spacing_mm=float(result.pixel_spacing_mm or 0.0),
        primary_id=-1 if primary is None else int(primary.id),
        wires=[guidewire(w, kit) for w in result.wires],
        inference_latency_ms=float(timings.get("inference", 0.0)),
        total_latency_ms=float(total),
    )


def tip_pose(result: FrameResult, kit: MessageKit, header: Any) -> Any | None:
    """Build the primary wire's tip PoseStamped (px, yaw about +z); None if none is alive.

    Only TRACKING or PREDICTED wires have a tip; a LOST wire never yields a stale pose.
    """
    wire = result.primary
    if wire is None or wire.tip is None:
        return None
    pose = kit.new(POSE, position=_point(kit, np.asarray(wire.tip)),
                   orientation=yaw_quaternion(kit, float(wire.tip_angle or 0.0)))
    return kit.new(POSE_STAMPED, header=header, pose=pose)


def centerline_path(result: FrameResult, kit: MessageKit, header: Any) -> Any:
    """Build the nav_msgs/Path of the primary wire's centerline, proximal -> tip, in px.

    Each pose's yaw is the direction of the segment leaving it (the last repeats the one
    before). The path is empty when no wire was measured this frame, so a display never
    keeps a stale centerline.
    """
    wire = result.primary
    points = np.zeros((0, 2)) if wire is None else np.asarray(wire.centerline).reshape(-1, 2)
    steps = np.diff(points, axis=0)
    yaws = np.arctan2(steps[:, 1], steps[:, 0]) if len(steps) else np.zeros(0)
    yaws = np.append(yaws, yaws[-1]) if len(yaws) else np.zeros(len(points))
    poses = [kit.new(POSE_STAMPED, header=header,
                     pose=kit.new(POSE, position=_point(kit, p),
                                  orientation=yaw_quaternion(kit, float(a))))
             for p, a in zip(points, yaws)]
    return kit.new(PATH, header=header, poses=poses)


def make_header(kit: MessageKit, sec: int, nanosec: int, frame_id: str) -> Any:
    """Build a std_msgs/Header from a stamp split into seconds and nanoseconds."""
    return kit.new(HEADER, stamp=kit.new(TIME, sec=int(sec), nanosec=int(nanosec)),
                   frame_id=frame_id)


def diagnostic_array(kit: MessageKit, header: Any, *, name: str, hardware_id: str,
                     level: str, message: str, values: Mapping[str, object]) -> Any:
    """Build a DiagnosticArray with one status; ``level``: "OK", "WARN", "ERROR", "STALE"."""
    if level not in ("OK", "WARN", "ERROR", "STALE"):
        raise ValueError(f"diagnostic level must be OK, WARN, ERROR or STALE, not {level!r}")
    status = kit.new(DIAGNOSTIC_STATUS, level=kit.constant(DIAGNOSTIC_STATUS, level),
                     name=name, message=message, hardware_id=hardware_id,
                     values=[kit.new(KEY_VALUE, key=k, value=str(v)) for k, v in values.items()])
    return kit.new(DIAGNOSTIC_ARRAY, header=header, status=[status])
