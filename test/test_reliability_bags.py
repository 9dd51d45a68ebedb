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

"""Damaged bags: truncated MCAP, corrupt messages and sqlite rows, bad ground truth.

Bags are written here with rosbags directly, then damaged the way recorders and disks
damage them. Replay must process every good frame up to the damage, skip and count the bad
ones, and always leave an output bag that rosbags can read back.
"""
import json
import sqlite3

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from franet_core.pipeline import FramePipeline, PipelineConfig
from franet_ros import bag as franet_bag

SHAPE = (64, 96)
FRAMES = 12
PER_CHUNK = 3  # a 1.1 MB filler message after every 3 frames closes an MCAP chunk
T0 = 1_700_000_000_000_000_000
STORE = franet_bag.make_typestore()
Image = STORE.types["sensor_msgs/msg/Image"]
Header = STORE.types["std_msgs/msg/Header"]
Time = STORE.types["builtin_interfaces/msg/Time"]
String = STORE.types["std_msgs/msg/String"]


class DarkLineSegmenter:
    """Stand-in network: probability 1 where the normalised frame is dark (the wire)."""

    name = "dark-line"
    device = "cpu"

    def predict(self, batch):
        """(N, H, W) in [0, 1] -> (N, H, W) probabilities."""
        return (batch < 0.5).astype(np.float32)


def pipeline():
    """Return a fresh pipeline around the stand-in network."""
    return FramePipeline(DarkLineSegmenter(), PipelineConfig())


def frame(i):
    """Draw frame ``i`` (mono8): a dark wire on a bright background, tip advancing 2 px."""
    img = np.full(SHAPE, 220, np.uint8)
    cv2.line(img, (0, 20), (40 + 3 * i, 34), 20, 3)
    return img


def image_msg(i, data=None, shape=SHAPE):
    """Build the Image message of frame ``i`` (optionally with other data or size)."""
    t = T0 + i * 100_000_000
    header = Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="c_arm")
    pixels = frame(i) if shape == SHAPE else np.full(shape, 200, np.uint8)
    data = pixels.reshape(-1) if data is None else data
    return Image(header=header, height=shape[0], width=shape[1], encoding="mono8",
                 is_bigendian=0, step=shape[1], data=data)


def write_bag(path, storage=StoragePlugin.MCAP, *, raw=None, filler=True, gt=None):
    """Write /xray/image frames (``raw[i]`` replaces message i's bytes) and optional /xray/gt.

    ``gt`` maps a frame index to a ground-truth Image message (None: the frame's own mask).
    """
    raw = raw or {}
    with Writer(path, version=8, storage_plugin=storage) as writer:
        conn = writer.add_connection("/xray/image", Image.__msgtype__, typestore=STORE)
        gt_conn = writer.add_connection("/xray/gt", Image.__msgtype__, typestore=STORE)
        fill = writer.add_connection("/filler", String.__msgtype__, typestore=STORE)
        for i in range(FRAMES):
            t = T0 + i * 100_000_000
            data = raw.get(i, STORE.serialize_cdr(image_msg(i), Image.__msgtype__))
            writer.write(conn, t, data)
            if gt is not None:
                truth = gt.get(i) or image_msg(i, data=((frame(i) < 128) * 255).astype(
                    np.uint8).reshape(-1))
                writer.write(gt_conn, t + 1, STORE.serialize_cdr(truth, Image.__msgtype__))
            if filler and i % PER_CHUNK == PER_CHUNK - 1:
                writer.write(fill, t + 2, STORE.serialize_cdr(String(data="x" * 1_100_000),
                                                              String.__msgtype__))


def mcap_file(path):
    """Return the one .mcap file of a rosbag2 directory."""
    (f,) = path.glob("*.mcap")
    return f


def read_output(path):
    """Read the replayed bag back with rosbags: topic -> list of messages."""
    assert (path / "metadata.yaml").is_file()
    out = {}
    with AnyReader([path], default_typestore=STORE) as reader:
        for conn, _, raw in reader.messages():
            out.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    return out


def tips(messages):
    """Summarise the primary tip of each GuidewireArray."""
    return [[(w.id, round(w.tip.position.x, 4), round(w.tip.position.y, 4)) for w in m.wires]
            for m in messages]


@pytest.fixture(scope="module")
def full_replay(tmp_path_factory):
    """Replay the undamaged bag once: (guidewires messages, report)."""
    root = tmp_path_factory.mktemp("full")
    write_bag(root / "in")
    report = franet_bag.replay(root / "in", "/xray/image", root / "out", pipeline=pipeline())
    return read_output(root / "out")["/guidewires"], report


@pytest.mark.parametrize("keep", [0.45, 0.7])
def test_truncated_mcap_is_processed_up_to_the_damage(tmp_path, full_replay, keep):
    write_bag(tmp_path / "in")
    f = mcap_file(tmp_path / "in")
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * keep)])  # a recorder killed mid-write
    report = franet_bag.replay(tmp_path / "in", "/xray/image", tmp_path / "out",
                               pipeline=pipeline())
    assert 0 < report.frames < FRAMES and report.frames % PER_CHUNK == 0
    assert report.bad_frames == 0
    assert "damaged at byte" in report.stopped and f.name in report.stopped
    out = read_output(tmp_path / "out")["/guidewires"]
    assert len(out) == report.frames
    assert tips(out) == tips(full_replay[0][: report.frames]) and all(tips(out))
    summary = json.loads((tmp_path / "out" / "franet_replay.json").read_text())
    assert summary["stopped"] == report.stopped and summary["complete"] is True


def test_mcap_cut_at_a_record_boundary_says_the_summary_is_missing(tmp_path):
    write_bag(tmp_path / "in", filler=False)
    f = mcap_file(tmp_path / "in")
    data = f.read_bytes()
    data_end = data.index(b"\x0f\x04" + b"\x00" * 7)  # the DataEnd record (op 0x0F, 4 B)
    f.write_bytes(data[:data_end])  # every chunk, but no DataEnd, summary or footer
    report = franet_bag.replay(tmp_path / "in", "/xray/image", tmp_path / "out",
                               pipeline=pipeline())
    assert (report.frames, report.bad_frames) == (FRAMES, 0)
    assert f"ends at byte {data_end} without its summary" in report.stopped
    assert len(read_output(tmp_path / "out")["/guidewires"]) == FRAMES


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_corrupt_messages_are_skipped_and_counted(tmp_path, full_replay, storage):
    bad_length = STORE.serialize_cdr(image_msg(5, data=np.zeros(10, np.uint8)),
                                     Image.__msgtype__)
    write_bag(tmp_path / "in", storage, raw={2: b"\x00\x01\x00\x00garbage", 5: bad_length},
              filler=False)
    report = franet_bag.replay(tmp_path / "in", "/xray/image", tmp_path / "out",
                               pipeline=pipeline())
    assert (report.frames, report.bad_frames, report.stopped) == (FRAMES - 2, 2, None)
    assert report.bad_reasons[0].startswith("frame 2: cannot deserialise")
    assert "data length" in report.bad_reasons[1]
    assert len(read_output(tmp_path / "out")["/guidewires"]) == FRAMES - 2


def test_corrupt_sqlite_row_is_skipped_and_counted(tmp_path):
    write_bag(tmp_path / "in", StoragePlugin.SQLITE3, filler=False)
    (db,) = (tmp_path / "in").glob("*.db3")
    with sqlite3.connect(db) as con:
        topic_id = con.execute("SELECT id FROM topics WHERE name = '/xray/image'").fetchone()[0]
        rows = [r[0] for r in con.execute(
            "SELECT id FROM messages WHERE topic_id = ? ORDER BY timestamp", (topic_id,))]
        con.execute("UPDATE messages SET data = randomblob(37) WHERE id = ?", (rows[4],))
        con.execute("UPDATE messages SET data = substr(data, 1, 100) WHERE id = ?", (rows[7],))
    report = franet_bag.replay(tmp_path / "in", "/xray/image", tmp_path / "out",
                               pipeline=pipeline())
    assert (report.frames, report.bad_frames) == (FRAMES - 2, 2)
    assert [r.split(":")[0] for r in report.bad_reasons] == ["frame 4", "frame 7"]


def test_bad_ground_truth_frames_are_skipped_not_fatal(tmp_path):
    short = image_msg(3, data=np.zeros(7, np.uint8))
    other_size = image_msg(6, shape=(20, 20))
    write_bag(tmp_path / "in", filler=False, gt={3: short, 6: other_size})
    report = franet_bag.replay(tmp_path / "in", "/xray/image", tmp_path / "out",
                               gt_topic="/xray/gt", pipeline=pipeline())
    assert (report.frames, report.gt_frames, report.bad_gt_frames) == (FRAMES, FRAMES - 2, 2)
    assert report.metrics["overall"]["f1"]["mean"] > 0.5


def test_output_bag_is_closed_with_metadata_when_the_replay_fails(tmp_path):
    class Failing(DarkLineSegmenter):
        calls = 0

        def predict(self, batch):
            Failing.calls += 1
            if Failing.calls == 4:
                raise RuntimeError("simulated crash in the model")
            return super().predict(batch)

    write_bag(tmp_path / "in", filler=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        franet_bag.replay(tmp_path / "in", "/xray/image", tmp_path / "out",
                          pipeline=FramePipeline(Failing(), PipelineConfig()))
    assert len(read_output(tmp_path / "out")["/guidewires"]) == 3
    summary = json.loads((tmp_path / "out" / "franet_replay.json").read_text())
    assert (summary["frames"], summary["complete"]) == (3, False)


def test_track_and_replay_commands_report_bag_damage(tmp_path, monkeypatch, capsys):
    from franet_core.cli import main

    monkeypatch.setattr(FramePipeline, "from_weights",
                        classmethod(lambda cls, *a, **k: cls(DarkLineSegmenter(),
                                                             PipelineConfig())))
    write_bag(tmp_path / "in", raw={2: b"\x00\x01\x00\x00garbage"})
    f = mcap_file(tmp_path / "in")
    f.write_bytes(f.read_bytes()[: int(f.stat().st_size * 0.7)])
    assert main(["track", str(tmp_path / "in"), "--image-topic", "/xray/image", "--out",
                 str(tmp_path / "track"), "--no-video"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 bad frame(s): 000002" in printed
    rows = (tmp_path / "track" / "tips.csv").read_text().splitlines()
    assert len({r.split(",")[0] for r in rows[1:]}) >= 4
    assert main(["replay", str(tmp_path / "in"), "--image-topic", "/xray/image", "--out",
                 str(tmp_path / "replay")]) == 0
    printed = capsys.readouterr().out
    assert "1 skipped as bad input" in printed and "bag damaged:" in printed
