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

Damaged bags are read message by message (:class:`BagImages`): a message that cannot be
deserialised is skipped and counted; reading that fails part-way (a damaged chunk, a corrupt
sqlite page) ends with everything before the damage processed and the place reported; an
MCAP file whose end is missing (a recorder that crashed) is scanned record by record up to
the damage. The replayed output bag is always closed with its index and metadata.yaml, also
when the replay stops on an error or Ctrl-C.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import io
import json
import logging
import os
from pathlib import Path
import struct
from typing import Any, Callable, Iterator

import numpy as np

from franet_core import atomic
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
    """One Image message of a bag: position, bag receive time (ns) and the message.

    ``msg`` is None and ``error`` says why when the message could not be deserialised.
    """

    index: int
    timestamp_ns: int
    msg: Any
    error: str | None = None


class BagImages:
    """The sensor_msgs/Image messages of ``topic`` in bag order, read message by message.

    Iterating yields a :class:`BagImage` per message; one whose bytes cannot be deserialised
    comes with ``msg=None`` and ``error`` set, for the caller to skip and count. When reading
    fails part-way, iteration ends after the last good message, :attr:`stopped` says where
    and why, and a warning is logged. An MCAP file without its end (summary and footer, as a
    crashed recorder leaves it) is scanned record by record up to the damage
    (:attr:`salvaged` is then True). Opening raises FileNotFoundError for a missing bag and
    ValueError for a file that is no bag or has no Image topic ``topic``.
    """

    def __init__(self, path: str | Path, topic: str, typestore: Any | None = None) -> None:
        self.path = Path(path)
        self.topic = topic
        self.store = typestore or make_typestore()
        self.stopped: str | None = None
        self.salvaged = False

    def __iter__(self) -> Iterator[BagImage]:
        check_image_topic(self.path, self.topic, self.store)
        self.stopped = None
        index = 0
        for stamp, raw, deserialize in self._raw():
            try:
                yield BagImage(index, stamp, deserialize(raw))
            except Exception as exc:  # any decoder failure on damaged bytes
                yield BagImage(index, stamp, None, f"cannot deserialise: {_brief(exc)}")
            index += 1
        if self.stopped:
            log.warning("%s: %s", self.path, self.stopped)

    def _raw(self) -> Iterator[tuple[int, bytes, Callable[[bytes], Any]]]:
        """Yield (time ns, raw bytes, deserialiser) per message on the topic."""
        from rosbags.highlevel import AnyReader

        try:
            reader = AnyReader([self.path], default_typestore=self.store)
            reader.open()
        except Exception as exc:  # rosbags, sqlite3 and I/O errors alike
            if not _mcap_files(self.path):
                raise _not_a_bag(self.path, exc) from exc
            self.salvaged = True
            yield from self._salvage()
            return
        try:
            connections = [c for c in reader.connections if c.topic == self.topic]
            messages = reader.messages(connections=connections)
            count = 0
            while True:
                try:
                    conn, stamp, raw = next(messages)
                except StopIteration:
                    break
                except Exception as exc:  # the reader hit damaged data
                    self.stopped = (f"stopped reading after {count} message(s) on "
                                    f"{self.topic}: damaged bag ({_brief(exc)})")
                    break
                count += 1
                yield stamp, raw, (lambda data, t=conn.msgtype: reader.deserialize(data, t))
        finally:
            reader.close()

    def _salvage(self) -> Iterator[tuple[int, bytes, Callable[[bytes], Any]]]:
        """Scan MCAP records up to the damage (files without a valid end)."""
        count = 0
        for path in _mcap_files(self.path):
            scan = _McapScan(path)
            for channel, stamp, raw in scan.messages():
                if channel.topic == self.topic:
                    count += 1
                    yield stamp, raw, (lambda data, t=channel.msgtype:
                                       self.store.deserialize_cdr(data, t))
            if scan.damage:
                self.stopped = (f"stopped reading after {count} message(s) on {self.topic}: "
                                f"{path.name} {scan.damage}")
                return


def iter_bag_images(path: str | Path, topic: str, typestore: Any | None = None) -> BagImages:
    """Return the (iterable) :class:`BagImages` of ``topic``; see there for damaged bags."""
    return BagImages(path, topic, typestore)


def check_image_topic(path: str | Path, topic: str, typestore: Any | None = None) -> None:
    """Raise FileNotFoundError for a missing bag, ValueError if ``topic`` is no Image topic.

    The ValueError lists the Image topics the bag does have; a file that is no readable bag
    is a ValueError saying so.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    topics = _bag_topics(path, typestore or make_typestore())
    if topics.get(topic) != {conv.IMAGE}:
        images = sorted(t for t, types in topics.items() if conv.IMAGE in types)
        raise ValueError(f"{path}: no {conv.IMAGE} topic {topic!r}; image topics in the "
                         f"bag: {images}")


def _bag_topics(path: Path, store: Any) -> dict[str, set[str]]:
    """Topic -> message types of a bag (of the readable part of a truncated MCAP)."""
    from rosbags.highlevel import AnyReader

    try:
        with AnyReader([path], default_typestore=store) as reader:
            topics: dict[str, set[str]] = {}
            for c in reader.connections:
                topics.setdefault(c.topic, set()).add(c.msgtype)
            return topics
    except Exception as exc:  # rosbags, sqlite3 and I/O errors alike
        files = _mcap_files(path)
        if not files:
            raise _not_a_bag(path, exc) from exc
    topics = {}
    for f in files:
        scan = _McapScan(f)
        for channel in scan.channels():
            topics.setdefault(channel.topic, set()).add(channel.msgtype)
    if not topics:
        raise ValueError(f"{path}: not a readable ROS bag (no channel before the damage: "
                         f"{scan.damage})")
    return topics


def _not_a_bag(path: Path, exc: BaseException) -> ValueError:
    return ValueError(f"{path}: not a readable ROS bag ({_brief(exc)})")


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _mcap_files(path: Path) -> list[Path]:
    """MCAP files of a bag path that start like MCAP (candidates for a record scan)."""
    files = [path] if path.is_file() else sorted(path.glob("*.mcap")) if path.is_dir() else []
    out = []
    for f in files:
        try:
            with open(f, "rb") as fh:
                if fh.read(len(_MCAP_MAGIC)) == _MCAP_MAGIC:
                    out.append(f)
        except OSError:
            continue
    return out


_MCAP_MAGIC = b"\x89MCAP0\r\n"


@dataclass(frozen=True)
class _Channel:
    topic: str
    msgtype: str


class _McapScan:
    """Read the records of an MCAP file front to back, stopping at the first damage.

    Knows the records franet needs (schema, channel, message, chunk; the MCAP specification,
    https://mcap.dev/spec) and skips the others. :attr:`damage` says where reading stopped,
    or is None when the data section ended cleanly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damage: str | None = None

    def channels(self) -> Iterator[_Channel]:
        """Yield every channel record before the damage."""
        for kind, value in self._records():
            if kind == "channel":
                yield value

    def messages(self) -> Iterator[tuple[_Channel, int, bytes]]:
        """Yield (channel, log time ns, raw CDR bytes) per message before the damage."""
        channels: dict[int, _Channel] = {}
        for kind, value in self._records(channels):
            if kind == "message":
                channel_id, stamp, raw = value
                if channel_id in channels:
                    yield channels[channel_id], stamp, raw

    def _records(self, channels: dict[int, _Channel] | None = None
                 ) -> Iterator[tuple[str, Any]]:
        channels = {} if channels is None else channels
        schemas: dict[int, str] = {}
        offset = len(_MCAP_MAGIC)
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(offset)
                for op, body in _read_records(f, size):
                    if op in (0x02, 0x0F):  # footer, data end: the data section is complete
                        return
                    if op == 0x06:  # chunk: its records, decompressed
                        inner = _chunk_records(body)
                        for inner_op, inner_body in _read_records(io.BytesIO(inner),
                                                                  len(inner)):
                            yield from _record(inner_op, inner_body, schemas, channels)
                    else:
                        yield from _record(op, body, schemas, channels)
                    offset = f.tell()
        except _Truncated as exc:
            self.damage = f"is damaged at byte {offset}: {exc}"
        except Exception as exc:  # corrupt lengths, strings, compression
            self.damage = f"is damaged at byte {offset}: {_brief(exc)}"
        else:
            self.damage = f"ends at byte {offset} without its summary (truncated recording)"


class _Truncated(Exception):
    """A record runs past the end of its file or chunk."""


def _read_records(f: Any, size: int) -> Iterator[tuple[int, bytes]]:
    while True:
        head = f.read(9)
        if not head:
            return
        if len(head) < 9:
            raise _Truncated("record header cut short")
        op, length = head[0], struct.unpack("<Q", head[1:])[0]
        if length > size - f.tell():
            raise _Truncated(f"record 0x{op:02x} of {length} B runs past the end")
        yield op, f.read(length)


def _chunk_records(body: bytes) -> bytes:
    from rosbags.rosbag2.storage_mcap import decompress

    _, _, uncompressed_size, crc = struct.unpack_from("<QQQI", body, 0)
    pos = 28
    compression, pos = _string(body, pos)
    (length,) = struct.unpack_from("<Q", body, pos)
    pos += 8
    if pos + length > len(body):
        raise _Truncated("chunk records run past the chunk")
    return decompress(body[pos:pos + length], compression, uncompressed_size, crc)


def _record(op: int, body: bytes, schemas: dict[int, str],
            channels: dict[int, _Channel]) -> Iterator[tuple[str, Any]]:
    if op == 0x03:  # schema: id, name, encoding, data
        (schema_id,) = struct.unpack_from("<H", body, 0)
        schemas[schema_id] = _string(body, 2)[0]
    elif op == 0x04:  # channel: id, schema id, topic, message encoding, metadata
        channel_id, schema_id = struct.unpack_from("<HH", body, 0)
        topic, _ = _string(body, 4)
        channels[channel_id] = _Channel(topic, schemas.get(schema_id, ""))
        yield "channel", channels[channel_id]
    elif op == 0x05:  # message: channel id, sequence, log time, publish time, data
        channel_id, _, stamp, _ = struct.unpack_from("<HIQQ", body, 0)
        yield "message", (channel_id, stamp, body[22:])


def _string(body: bytes, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", body, pos)
    pos += 4
    if pos + length > len(body):
        raise _Truncated("string runs past its record")
    return body[pos:pos + length].decode("utf-8"), pos + length


def iter_bag_frames(path: str | Path, topic: str, *,
                    max_pixels: int = conv.DEFAULT_MAX_PIXELS) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, frame)`` per Image of ``topic``; name is the zero-padded message index.

    Frames are decoded exactly as the node decodes them (BGR order for colour). A message
    that cannot be deserialised or decoded is logged and yielded as an empty (0, 0) array,
    which the pipeline refuses, so callers skip and count it like an unreadable image file.
    A bag damaged part-way ends the iteration after the last good message, with a warning.
    """
    for item in iter_bag_images(path, topic):
        name = f"{item.index:06d}"
        if item.msg is None:
            log.warning("%s: frame %d unreadable: %s", path, item.index, item.error)
            yield name, np.zeros((0, 0), np.uint8)
            continue
        try:
            yield name, conv.frame_from_image(item.msg, max_pixels=max_pixels)
        except conv.ImageConversionError as exc:
            log.warning("%s: frame %d unreadable: %s", path, item.index, exc.reason)
            yield name, np.zeros((0, 0), np.uint8)


@dataclass
class ReplayReport:
    """What a replay did: frame counts, latency (ms) and, with ground truth, metrics.

    bad_frames: input messages skipped (undecodable, malformed or refused by the pipeline);
    bad_gt_frames: ground-truth messages skipped; stopped: where and why reading ended
    early on a damaged bag (None when the whole bag was read); complete: False when the
    replay itself was interrupted (the output bag still holds every frame before that).
    """

    out: Path
    frames: int = 0
    bad_frames: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    pipeline_ms: dict[str, float] = field(default_factory=dict)
    gt_frames: int = 0
    metrics: dict[str, Any] | None = None
    bad_reasons: list[str] = field(default_factory=list)
    bad_gt_frames: int = 0
    stopped: str | None = None
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (per-frame metric records left out)."""
        metrics = None
        if self.metrics is not None:
            metrics = {k: v for k, v in self.metrics.items() if k != "per_frame"}
        return {"out": str(self.out), "frames": self.frames, "bad_frames": self.bad_frames,
                "latency_ms": self.latency_ms, "pipeline_ms": self.pipeline_ms,
                "gt_frames": self.gt_frames, "metrics": metrics,
                "bad_reasons": self.bad_reasons[:10], "bad_gt_frames": self.bad_gt_frames,
                "stopped": self.stopped, "complete": self.complete}


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

    Bad input messages and bad ground-truth messages are skipped and counted; a bag damaged
    part-way is processed up to the damage (:class:`BagImages`). The output bag is closed
    with its index and metadata.yaml whatever ends the replay, and ``franet_replay.json``
    beside it says what happened.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from franet_ros.params import NodeSettings

    out = Path(out)
    if out.exists():
        raise ValueError(f"output bag already exists: {out}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    store = make_typestore()
    check_image_topic(bag, image_topic, store)
    if gt_topic:
        check_image_topic(bag, gt_topic, store)
    kit = conv.typestore_kit(store)
    settings = settings or NodeSettings.from_values({"device": device, "backend": backend})
    if pipeline is None:
        from franet_core.pipeline import FramePipeline

        pipeline = FramePipeline.from_weights(weights, backend=backend, device=device,
                                              config=settings.pipeline_config(),
                                              **settings.tip_check_args())
    processor = FrameProcessor(pipeline, kit, max_pixels=int(settings["max_image_pixels"]))
    report = ReplayReport(out=out)
    gt = _load_gt_masks(bag, gt_topic, store, report) if gt_topic else None
    accumulator = None
    if gt is not None:
        from franet_core.metrics import MetricAccumulator

        accumulator = MetricAccumulator()
    latencies: list[float] = []
    stage_ms: dict[str, list[float]] = {}
    images = iter_bag_images(bag, image_topic, store)
    writer = Writer(out, version=8, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    report.complete = False
    try:
        connections = {key: writer.add_connection(topic, msgtype, typestore=store)
                       for key, (topic, msgtype) in OUTPUT_TOPICS.items()}
        for item in images:
            if max_frames is not None and report.frames + report.bad_frames >= max_frames:
                break
            try:
                if item.msg is None:
                    raise ValueError(item.error)
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
                    try:
                        accumulator.update(outputs.result.mask, truth,
                                           name=f"{item.index:06d}")
                    except ValueError as exc:  # e.g. a mask of another size than the frame
                        report.bad_gt_frames += 1
                        log.warning("ground truth for frame %d skipped: %s", item.index, exc)
                        continue
                    report.gt_frames += 1
        report.stopped = images.stopped
        report.complete = True
    finally:
        writer.close()  # index + metadata.yaml, also after an error or Ctrl-C
        report.latency_ms = _latency_summary(latencies)
        report.pipeline_ms = {k: float(np.mean(v)) for k, v in stage_ms.items()}
        if accumulator is not None and accumulator.frames:
            report.metrics = accumulator.aggregate()
        atomic.write_text(out / "franet_replay.json",
                          json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _stamp_key(header: Any) -> tuple[int, int]:
    return int(header.stamp.sec), int(header.stamp.nanosec)


def _load_gt_masks(bag: str | Path, topic: str, store: Any, report: ReplayReport
                   ) -> dict[tuple[int, int], np.ndarray]:
    """Ground-truth masks of ``topic`` keyed by header stamp, as {0, 1} uint8 (H, W).

    A message that cannot be read is skipped and counted in ``report.bad_gt_frames``.
    """
    masks = {}
    for item in iter_bag_images(bag, topic, store):
        try:
            if item.msg is None:
                raise ValueError(item.error)
            array = conv.image_to_array(item.msg)
        except ValueError as exc:
            report.bad_gt_frames += 1
            log.warning("ground-truth frame %d skipped: %s", item.index, exc)
            continue
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
