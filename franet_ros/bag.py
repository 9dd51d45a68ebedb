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

"""Rosbag I/O without ROS: read Image topics, replay them through the tracker, write MCAP.

Uses the ``rosbags`` library (rosbag2 sqlite3 or MCAP, and ROS 1 bags). Our own message
types are registered into a Humble typestore from the same ``msg/*.msg`` files colcon
builds, so a replayed bag carries exactly the messages the live node publishes.
:func:`replay` runs each frame through :class:`~franet_ros.processor.FrameProcessor`, the
node's own code path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from franet_ros import conversions as conv
from franet_ros.processor import FrameProcessor

log = logging.getLogger(__name__)

#: Topics of the replayed output bag (the node's topic names, rooted at ``/``).
OUTPUT_TOPICS = {
    "mask": ("/mask", conv.IMAGE),
    "tip_pose": ("/tip_pose", conv.POSE_STAMPED),
    "centerline": ("/centerline", conv.PATH),
    "guidewires": ("/guidewires", conv.GUIDEWIRE_ARRAY),
}
PACKAGE = "franet_ros"


def msg_dir() -> Path:
    """Find the ``msg/`` folder: in the source tree, else under an ament prefix's share/."""
    here = Path(__file__).resolve().parent.parent / "msg"
    if here.is_dir():
        return here
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "share" / PACKAGE / "msg"
        if prefix and candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {PACKAGE} msg/ definitions next to {here.parent} "
                            "or in $AMENT_PREFIX_PATH")


def make_typestore(msg_path: Path | None = None) -> Any:
    """Build a ROS 2 Humble typestore with ``franet_ros/msg/*`` registered from ``msg/*.msg``."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict[str, Any] = {}
    for path in sorted(Path(msg_path or msg_dir()).glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"),
                                        f"{PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


@dataclass(frozen=True)
class BagImage:
    """One Image message of a bag: position, bag receive time (ns) and the message."""

    index: int
    timestamp_ns: int
    msg: Any


def iter_bag_images(path: str | Path, topic: str, typestore: Any | None = None
                    ) -> Iterator[BagImage]:
    """Deserialised sensor_msgs/Image messages of ``topic`` in bag order.

    Raises FileNotFoundError for a missing bag and ValueError naming the image topics that
    do exist when ``topic`` is not one of them.
    """
    from rosbags.highlevel import AnyReader

    path = Path(path)
    store = typestore or make_typestore()
    check_image_topic(path, topic, store)
    with AnyReader([path], default_typestore=store) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for index, (conn, stamp, raw) in enumerate(reader.messages(connections=connections)):
            yield BagImage(index, stamp, reader.deserialize(raw, conn.msgtype))


def check_image_topic(path: str | Path, topic: str, typestore: Any | None = None) -> None:
    """Raise FileNotFoundError for a missing bag, ValueError if ``topic`` is no Image topic.

    The ValueError lists the Image topics the bag does have.
    """
    from rosbags.highlevel import AnyReader

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    with AnyReader([path], default_typestore=typestore or make_typestore()) as reader:
        types = {c.msgtype for c in reader.connections if c.topic == topic}
        if types != {conv.IMAGE}:
            images = sorted({c.topic for c in reader.connections if c.msgtype == conv.IMAGE})
            raise ValueError(f"{path}: no {conv.IMAGE} topic {topic!r}; image topics in the "
                             f"bag: {images}")


def iter_bag_frames(path: str | Path, topic: str, *,
                    max_pixels: int = conv.DEFAULT_MAX_PIXELS) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, frame)`` per Image of ``topic``; name is the zero-padded message index.

    Frames are decoded exactly as the node decodes them (BGR order for colour); bad frames
    are skipped with a warning, as the node skips them.
    """
    for item in iter_bag_images(path, topic):
        try:
            yield f"{item.index:06d}", conv.frame_from_image(item.msg, max_pixels=max_pixels)
        except conv.ImageConversionError as exc:
            log.warning("%s: frame %d skipped: %s", path, item.index, exc.reason)


@dataclass
class ReplayReport:
    """What a replay did: frame counts, latency (ms) and, with ground truth, metrics."""

    out: Path
    frames: int = 0
    bad_frames: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    pipeline_ms: dict[str, float] = field(default_factory=dict)
    gt_frames: int = 0
    metrics: dict[str, Any] | None = None
    bad_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (per-frame metric records left out)."""
        metrics = None
        if self.metrics is not None:
            metrics = {k: v for k, v in self.metrics.items() if k != "per_frame"}
        return {"out": str(self.out), "frames": self.frames, "bad_frames": self.bad_frames,
                "latency_ms": self.latency_ms, "pipeline_ms": self.pipeline_ms,
                "gt_frames": self.gt_frames, "metrics": metrics,
                "bad_reasons": self.bad_reasons[:10]}


def replay(bag: str | Path, image_topic: str, out: str | Path, *, gt_topic: str | None = None,
           weights: str | Path | None = None, backend: str = "torch", device: str = "cpu",
           pipeline: Any | None = None, settings: Any | None = None,
           max_frames: int | None = None) -> ReplayReport:
    """Run the node's per-frame path over every Image of ``image_topic``; write MCAP to ``out``.

    The pipeline is ``pipeline`` if given, else built like the node builds it from
    ``settings`` (a :class:`~franet_ros.params.NodeSettings`, default parameters) with
    ``weights``/``backend``/``device``. ``gt_topic`` names a mask Image topic (non-zero =
    wire) matched to the frames by header stamp; its frames are scored with
    :class:`franet_core.metrics.MetricAccumulator`. ``out`` must not exist yet.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from franet_ros.params import NodeSettings

    out = Path(out)
    if out.exists():
        raise ValueError(f"output bag already exists: {out}")
    store = make_typestore()
    check_image_topic(bag, image_topic, store)
    if gt_topic:
        check_image_topic(bag, gt_topic, store)
    kit = conv.typestore_kit(store)
    settings = settings or NodeSettings.from_values({"device": device, "backend": backend})
    if pipeline is None:
        from franet_core.pipeline import FramePipeline

        pipeline = FramePipeline.from_weights(weights, backend=backend, device=device,
                                              config=settings.pipeline_config())
    processor = FrameProcessor(pipeline, kit, max_pixels=int(settings["max_image_pixels"]))
    gt = _load_gt_masks(bag, gt_topic, store) if gt_topic else None
    accumulator = None
    if gt is not None:
        from franet_core.metrics import MetricAccumulator

        accumulator = MetricAccumulator()
    report = ReplayReport(out=out)
    latencies: list[float] = []
    stage_ms: dict[str, list[float]] = {}
    with Writer(out, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {key: writer.add_connection(topic, msgtype, typestore=store)
                       for key, (topic, msgtype) in OUTPUT_TOPICS.items()}
        for item in iter_bag_images(bag, image_topic, store):
            if max_frames is not None and report.frames + report.bad_frames >= max_frames:
                break
            try:
                outputs = processor(item.msg)
            except ValueError as exc:
                report.bad_frames += 1
                report.bad_reasons.append(f"frame {item.index}: {exc}")
                log.warning("frame %d skipped: %s", item.index, exc)
                continue
            report.frames += 1
            latencies.append(outputs.latency_ms)
            for stage, ms in outputs.result.timings_ms.items():
                stage_ms.setdefault(stage, []).append(ms)
            for key, msg in (("mask", outputs.mask), ("tip_pose", outputs.tip_pose),
                             ("centerline", outputs.centerline),
                             ("guidewires", outputs.guidewires)):
                if msg is not None:
                    msgtype = OUTPUT_TOPICS[key][1]
                    writer.write(connections[key], item.timestamp_ns,
                                 store.serialize_cdr(msg, msgtype))
            if accumulator is not None:
                truth = gt.get(_stamp_key(item.msg.header))
                if truth is not None:
                    accumulator.update(outputs.result.mask, truth, name=f"{item.index:06d}")
                    report.gt_frames += 1
    report.latency_ms = _latency_summary(latencies)
    report.pipeline_ms = {k: float(np.mean(v)) for k, v in stage_ms.items()}
    if accumulator is not None:
        report.metrics = accumulator.aggregate()
    (out / "franet_replay.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n",
                                            encoding="utf-8")
    return report


def _stamp_key(header: Any) -> tuple[int, int]:
    return int(header.stamp.sec), int(header.stamp.nanosec)


def _load_gt_masks(bag: str | Path, topic: str, store: Any) -> dict[tuple[int, int], np.ndarray]:
    """Ground-truth masks of ``topic`` keyed by header stamp, as {0, 1} uint8 (H, W)."""
    masks = {}
    for item in iter_bag_images(bag, topic, store):
        array = conv.image_to_array(item.msg)
        if array.ndim == 3:
            array = array.max(axis=2)
        masks[_stamp_key(item.msg.header)] = (array > 0).astype(np.uint8)
    return masks


def _latency_summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "max": float(arr.max())}
