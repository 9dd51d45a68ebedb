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

"""``franet replay`` end to end on bags written here directly with rosbags (not franet code).

The input bag is a rosbag2 (sqlite3 and MCAP) at 7.5 Hz with mono16 frames of a dark wire
advancing from the left border, plus a ground-truth mask topic. The output MCAP is read
back with rosbags' own reader and compared with the drawn wire. A second bag comes from
PRODUCER, a stand-alone script run in its own interpreter (rosbags and numpy only): Jazzy
format, 15 Hz, little-endian 12-bit mono16 with padded rows, and an unrelated topic.
"""
import json
from pathlib import Path
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from franet_core.pipeline import FramePipeline, PipelineConfig
from franet_ros import bag as franet_bag

SHAPE = (100, 120)  # (H, W) px, not a multiple of 32 on purpose
FRAMES = 8
PERIOD_NS = 133_333_333  # 7.5 Hz


def wire_points(frame: int) -> np.ndarray:
    """Wire centerline (x, y) px, from the left border to a tip that advances 3 px/frame."""
    x = np.linspace(0.0, 60.0 + 3.0 * frame, 80)
    return np.stack([x, 50.0 + 12.0 * np.sin(x / 25.0)], axis=1)


def draw_frame(frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(mono16 image, uint8 {0, 1} mask): a 3 px dark wire on a bright noisy background."""
    mask = np.zeros(SHAPE, np.uint8)
    pts = np.round(wire_points(frame) * 16).astype(np.int32)  # 4 fractional bits
    cv2.polylines(mask, [pts], False, 1, thickness=3, lineType=cv2.LINE_8, shift=4)
    rng = np.random.default_rng(frame)
    image = 40000 + rng.normal(0, 500, SHAPE)
    image[mask > 0] = 12000
    return np.clip(image, 0, 65535).astype(np.uint16), mask


def write_input_bag(path: Path, storage: StoragePlugin) -> None:
    """Write /xray/image (mono16, big-endian) and /xray/gt (mono8 0/255) at 7.5 Hz."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    Image = store.types["sensor_msgs/msg/Image"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=8, storage_plugin=storage) as writer:
        image_conn = writer.add_connection("/xray/image", Image.__msgtype__, typestore=store)
        gt_conn = writer.add_connection("/xray/gt", Image.__msgtype__, typestore=store)
        for i in range(FRAMES):
            t = 1_700_000_000_000_000_000 + i * PERIOD_NS
            header = Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="c_arm")
            image, mask = draw_frame(i)
            big = image.astype(">u2").view(np.uint8).reshape(-1)
            msg = Image(header=header, height=SHAPE[0], width=SHAPE[1], encoding="mono16",
                        is_bigendian=1, step=SHAPE[1] * 2, data=big)
            writer.write(image_conn, t, store.serialize_cdr(msg, Image.__msgtype__))
            gt = Image(header=header, height=SHAPE[0], width=SHAPE[1], encoding="mono8",
                       is_bigendian=0, step=SHAPE[1], data=(mask * 255).reshape(-1))
            writer.write(gt_conn, t + 1000, store.serialize_cdr(gt, Image.__msgtype__))


class DarkLineSegmenter:
    """Stand-in network: probability 1 where the normalised frame is dark (the wire)."""

    name = "dark-line"
    device = "cpu"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W) in [0, 1] -> (N, H, W) probabilities."""
        return (batch < 0.5).astype(np.float32)


def read_output(path: Path) -> dict[str, list]:
    """Topic -> [(bag time ns, message)] from the replayed MCAP, read with rosbags."""
    store = franet_bag.make_typestore()
    out: dict[str, list] = {}
    with AnyReader([path], default_typestore=store) as reader:
        for conn, t, raw in reader.messages():
            out.setdefault(conn.topic, []).append((t, reader.deserialize(raw, conn.msgtype)))
    return out


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_replay_tracks_the_drawn_wire_and_scores_it(tmp_path, storage):
    bag = tmp_path / "input"
    write_input_bag(bag, storage)
    pipeline = FramePipeline(DarkLineSegmenter(), PipelineConfig())
    report = franet_bag.replay(bag, "/xray/image", tmp_path / "out", gt_topic="/xray/gt",
                               pipeline=pipeline)
    assert (report.frames, report.bad_frames, report.gt_frames) == (FRAMES, 0, FRAMES)
    # The stand-in segmenter returns exactly the drawn wire: every frame must score 1.
    assert report.metrics["overall"]["f1"]["mean"] == 1.0
    assert report.latency_ms["max"] > 0

    out = read_output(tmp_path / "out")
    stamps = [1_700_000_000_000_000_000 + i * PERIOD_NS for i in range(FRAMES)]
    arrays = [m for _, m in out["/guidewires"]]
    assert [t for t, _ in out["/guidewires"]] == stamps
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in arrays] == stamps
    assert all(m.header.frame_id == "c_arm" for m in arrays)
    assert [m.frame_index for m in arrays] == list(range(FRAMES))
    masks = [m for _, m in out["/mask"]]
    assert len(masks) == FRAMES and masks[0].encoding == "mono8"
    # Tip: the wire's inner end (the other touches the border), within 4 px of the drawing.
    poses = [m for _, m in out["/tip_pose"]]
    assert len(poses) >= FRAMES - 2
    for pose in poses:
        i = stamps.index(pose.header.stamp.sec * 10**9 + pose.header.stamp.nanosec)
        tip = wire_points(i)[-1]
        assert np.hypot(pose.pose.position.x - tip[0], pose.pose.position.y - tip[1]) < 4.0
    last = arrays[-1]
    primary = [w for w in last.wires if w.id == last.primary_id][0]
    assert primary.status == 1 and len(primary.centerline) > 20  # TRACKING, measured
    path = out["/centerline"][-1][1]
    assert len(path.poses) == len(primary.centerline)
    assert (tmp_path / "out" / "franet_replay.json").is_file()


def test_replay_command_with_tiny_weights(tmp_path, capsys):
    """The CLI path: weights file -> FramePipeline.from_weights -> replay -> summary."""
    from franet_core.checkpoint import save_weights
    from franet_core.cli import main
    from franet_core.models import build_model, model_config

    config = model_config("unet", base_channels=4, depth=2)
    weights = save_weights(tmp_path / "tiny.safetensors",
                           build_model("unet", **config).state_dict(),
                           {"model": "unet", "model_config": config})
    bag = tmp_path / "input"
    write_input_bag(bag, StoragePlugin.MCAP)
    code = main(["replay", str(bag), "--image-topic", "/xray/image", "--gt-topic", "/xray/gt",
                 "--out", str(tmp_path / "out"), "--weights", str(weights)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"frames: {FRAMES} processed, 0 skipped" in printed
    assert f"ground truth: {FRAMES} frames matched" in printed
    assert len(read_output(tmp_path / "out")["/guidewires"]) == FRAMES


def test_replay_errors_name_the_problem(tmp_path):
    bag = tmp_path / "input"
    write_input_bag(bag, StoragePlugin.SQLITE3)
    pipeline = FramePipeline(DarkLineSegmenter(), PipelineConfig())
    with pytest.raises(ValueError, match=r"no sensor_msgs/msg/Image topic '/cam'.*'/xray/gt'"):
        franet_bag.replay(bag, "/cam", tmp_path / "out", pipeline=pipeline)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        franet_bag.replay(bag, "/xray/image", tmp_path / "taken", pipeline=pipeline)
    with pytest.raises(FileNotFoundError, match="bag not found"):
        list(franet_bag.iter_bag_frames(tmp_path / "missing", "/xray/image"))


def test_iter_bag_frames_decodes_like_the_node(tmp_path):
    bag = tmp_path / "input"
    write_input_bag(bag, StoragePlugin.MCAP)
    frames = list(franet_bag.iter_bag_frames(bag, "/xray/image"))
    assert [name for name, _ in frames] == [f"{i:06d}" for i in range(FRAMES)]
    np.testing.assert_array_equal(frames[3][1], draw_frame(3)[0])


#: A stand-alone bag producer, run as its own process: numpy and rosbags only, no franet.
#: It writes what franet's own writer above does not: a rosbag2 version 9 (Jazzy) bag from
#: the Jazzy typestore, 15 Hz, 12-bit detector values in little-endian mono16 rows padded
#: to a longer ``step`` (padding bytes are garbage), a CameraInfo topic beside the images,
#: receive times a few ms after the acquisition stamps, and a 0/1 (not 0/255) mask topic.
#: It records the true tip of every frame in truth.json.
PRODUCER = textwrap.dedent("""\
    import json
    import sys
    from pathlib import Path

    import numpy as np
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores

    bag, storage, truth_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    H, W, N, PERIOD_NS, PAD = 96, 136, 10, 66_666_667, 8  # 15 Hz, 8 padding bytes per row
    store = get_typestore(Stores.ROS2_JAZZY)
    T = store.types
    Image, CameraInfo = T["sensor_msgs/msg/Image"], T["sensor_msgs/msg/CameraInfo"]
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    Roi = T["sensor_msgs/msg/RegionOfInterest"]
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:H, 0:W]
    centre = 40.0 + 10.0 * np.cos(xx / 20.0)
    truth = {"frames": []}
    with Writer(bag, version=9, storage_plugin=StoragePlugin[storage]) as writer:
        info_c = writer.add_connection("/c_arm/camera_info", CameraInfo.__msgtype__,
                                       typestore=store)
        image_c = writer.add_connection("/c_arm/image_raw", Image.__msgtype__, typestore=store)
        mask_c = writer.add_connection("/c_arm/wire_mask", Image.__msgtype__, typestore=store)
        for i in range(N):
            stamp = 1_712_345_678_000_000_000 + i * PERIOD_NS
            received = stamp + 4_000_000 + int(rng.integers(0, 3_000_000))
            header = Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9),
                            frame_id="xray_detector")
            tip_x = 50.0 + 4.0 * i
            mask = ((np.abs(yy - centre) <= 1.5) & (xx <= tip_x)).astype(np.uint8)
            image = 3000.0 + 300.0 * xx / W + rng.normal(0.0, 30.0, (H, W))
            image[mask > 0] = 1100.0
            rows = np.full((H, W * 2 + PAD), 0xAB, np.uint8)
            rows[:, :W * 2] = np.clip(image, 0, 4095).astype("<u2").view(np.uint8)
            info = CameraInfo(header=header, height=H, width=W, distortion_model="plumb_bob",
                              d=np.zeros(5), k=np.eye(3).reshape(-1),
                              r=np.eye(3).reshape(-1), p=np.eye(3, 4).reshape(-1),
                              binning_x=0, binning_y=0,
                              roi=Roi(x_offset=0, y_offset=0, height=0, width=0,
                                      do_rectify=False))
            writer.write(info_c, received, store.serialize_cdr(info, CameraInfo.__msgtype__))
            msg = Image(header=header, height=H, width=W, encoding="mono16", is_bigendian=0,
                        step=W * 2 + PAD, data=rows.reshape(-1))
            writer.write(image_c, received, store.serialize_cdr(msg, Image.__msgtype__))
            gt = Image(header=header, height=H, width=W, encoding="mono8", is_bigendian=0,
                       step=W, data=mask.reshape(-1))
            writer.write(mask_c, received + 1, store.serialize_cdr(gt, Image.__msgtype__))
            truth["frames"].append({"stamp_ns": stamp, "received_ns": received,
                                    "tip": [tip_x, 40.0 + 10.0 * np.cos(tip_x / 20.0)]})
    truth.update(height=H, width=W)
    truth_path.write_text(json.dumps(truth))
""")


def produce_foreign_bag(tmp_path: Path, storage: str) -> tuple[Path, dict]:
    """Run PRODUCER in its own interpreter; return the bag and the producer's truth."""
    script, bag, truth = tmp_path / "make_bag.py", tmp_path / "foreign", tmp_path / "truth.json"
    script.write_text(PRODUCER, encoding="utf-8")
    subprocess.run([sys.executable, str(script), str(bag), storage, str(truth)], check=True,
                   cwd=tmp_path, timeout=300)
    return bag, json.loads(truth.read_text(encoding="utf-8"))


@pytest.mark.parametrize("storage", ["SQLITE3", "MCAP"])
def test_replay_on_a_bag_from_an_independent_producer(tmp_path, storage):
    """A Jazzy-format bag franet did not write: every frame tracked, stamps kept, tip found."""
    bag, truth = produce_foreign_bag(tmp_path, storage)
    frames = truth["frames"]
    pipeline = FramePipeline(DarkLineSegmenter(), PipelineConfig())
    report = franet_bag.replay(bag, "/c_arm/image_raw", tmp_path / "out",
                               gt_topic="/c_arm/wire_mask", pipeline=pipeline)
    assert (report.frames, report.bad_frames, report.gt_frames) == (len(frames), 0, len(frames))
    # Exact, as above: a 12-bit frame rescaled by the decoder must still threshold cleanly.
    assert report.metrics["overall"]["f1"]["mean"] == 1.0

    out = read_output(tmp_path / "out")
    arrays = [m for _, m in out["/guidewires"]]
    # Bag time of each output = receive time of its input; header = the acquisition stamp.
    assert [t for t, _ in out["/guidewires"]] == [f["received_ns"] for f in frames]
    assert ([m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in arrays]
            == [f["stamp_ns"] for f in frames])
    assert all(m.header.frame_id == "xray_detector" for m in arrays)
    assert all((m.image_width, m.image_height) == (truth["width"], truth["height"])
               for m in arrays)
    masks = [m for _, m in out["/mask"]]
    assert all((m.width, m.height, m.step) == (truth["width"], truth["height"], truth["width"])
               for m in masks)
    tips = {f["stamp_ns"]: f["tip"] for f in frames}
    poses = [m for _, m in out["/tip_pose"]]
    assert len(poses) >= len(frames) - 2
    for pose in poses:
        tip = tips[pose.header.stamp.sec * 10**9 + pose.header.stamp.nanosec]
        assert np.hypot(pose.pose.position.x - tip[0], pose.pose.position.y - tip[1]) < 4.0
    # The frames the node would see are the producer's 12-bit values, padding dropped.
    decoded = [f for _, f in franet_bag.iter_bag_frames(bag, "/c_arm/image_raw")]
    assert len(decoded) == len(frames)
    assert decoded[0].dtype == np.uint16 and decoded[0].shape == (truth["height"],
                                                                  truth["width"])
    assert 1000 <= int(decoded[0].min()) and int(decoded[0].max()) <= 4095
