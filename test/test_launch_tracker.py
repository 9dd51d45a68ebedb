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

"""launch_testing: start tracker_node, publish X-ray frames, check what comes back.

Runs where ROS 2 (Humble or Jazzy) and a built workspace are sourced, with
``launch_test test/test_launch_tracker.py`` or ``colcon test`` (CMakeLists.txt registers it).
Elsewhere it is skipped at import. The node autostarts on CPU; its weights are the shipped
model when present, else a tiny untrained U-Net written here (then only the message flow
and stamps are checked, not the tip position).
"""
from pathlib import Path
import tempfile
import time
import unittest

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("launch_testing")
pytest.importorskip("launch_ros")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100 (after the skips)
from geometry_msgs.msg import PoseStamped  # noqa: E402
import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from franet_ros.msg import GuidewireArray  # noqa: E402

SHAPE = (128, 160)  # (H, W) px
IMAGE_TOPIC = "/xray/image"


def shipped_weights() -> Path | None:
    """Return the model shipped with franet_core, or None before it has been trained."""
    from franet_core.checkpoint import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.is_file() else None


def tiny_weights() -> Path:
    """Write an untrained two-level U-Net, enough to run the node end to end."""
    from franet_core.checkpoint import save_weights
    from franet_core.models import build_model, model_config

    config = model_config("unet", base_channels=4, depth=2)
    path = Path(tempfile.mkdtemp(prefix="franet_launch_")) / "tiny.safetensors"
    return save_weights(path, build_model("unet", **config).state_dict(),
                        {"model": "unet", "model_config": config})


def wire_frame(index: int) -> tuple[np.ndarray, tuple[float, float]]:
    """(mono16 frame, tip x y px): a dark curved wire entering from the left border."""
    import cv2

    x = np.linspace(0.0, 70.0 + 2.0 * index, 90)
    pts = np.stack([x, 64.0 + 15.0 * np.sin(x / 30.0)], axis=1)
    mask = np.zeros(SHAPE, np.uint8)
    cv2.polylines(mask, [np.round(pts * 16).astype(np.int32)], False, 1, 3, cv2.LINE_AA, 4)
    image = np.full(SHAPE, 42000.0) + np.random.default_rng(index).normal(0, 400, SHAPE)
    image[mask > 0] = 15000.0
    return np.clip(image, 0, 65535).astype(np.uint16), (pts[-1, 0], pts[-1, 1])


WEIGHTS = shipped_weights()


@pytest.mark.launch_test
def generate_test_description():
    """Launch the node with autostart on CPU, its image input remapped to IMAGE_TOPIC."""
    tracker = launch_ros.actions.LifecycleNode(
        package="franet_ros", executable="tracker_node", name="tracker_node", namespace="",
        output="screen",
        parameters=[{"device": "cpu", "autostart": True, "warmup_frames": 1,
                     "diagnostics_period_s": 0.5,
                     "weights": str(WEIGHTS or tiny_weights())}],
        remappings=[("image", IMAGE_TOPIC)])
    return (launch.LaunchDescription([tracker, launch_testing.actions.ReadyToTest()]),
            {"tracker": tracker})


class TestTrackerNode(unittest.TestCase):
    """Publish frames, collect the node's outputs, compare stamps (and the tip)."""

    @classmethod
    def setUpClass(cls):
        """Start a client node once for all tests."""
        rclpy.init()
        cls.node = rclpy.create_node("franet_launch_test_client")

    @classmethod
    def tearDownClass(cls):
        """Stop the client node."""
        cls.node.destroy_node()
        rclpy.shutdown()

    def exchange(self, proc_output, frames: int = 12) -> dict:
        """Publish ``frames`` frames 0.25 s apart; return what came back and what was sent."""
        proc_output.assertWaitFor("active: listening on " + IMAGE_TOPIC, timeout=120)
        got = {"guidewires": [], "tip_pose": [], "diagnostics": []}
        subs = [
            self.node.create_subscription(GuidewireArray, "/guidewires",
                                          got["guidewires"].append, 10),
            self.node.create_subscription(PoseStamped, "/tip_pose", got["tip_pose"].append, 10),
            self.node.create_subscription(DiagnosticArray, "/diagnostics",
                                          got["diagnostics"].append, 10)]
        pub = self.node.create_publisher(Image, IMAGE_TOPIC, 10)
        sent = {}
        try:
            time.sleep(1.0)  # discovery
            for i in range(frames):
                image, tip = wire_frame(i)
                msg = Image(height=SHAPE[0], width=SHAPE[1], encoding="mono16",
                            is_bigendian=1, step=SHAPE[1] * 2)
                msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + i, 500
                msg.header.frame_id = "c_arm"
                msg.data.frombytes(image.astype(">u2").tobytes())
                pub.publish(msg)
                sent[(1000 + i, 500)] = tip
                end = time.monotonic() + 0.25
                while time.monotonic() < end:
                    rclpy.spin_once(self.node, timeout_sec=0.05)
            end = time.monotonic() + 5.0
            while time.monotonic() < end and len(got["guidewires"]) < 3:
                rclpy.spin_once(self.node, timeout_sec=0.1)
        finally:
            for sub in subs:
                self.node.destroy_subscription(sub)
            self.node.destroy_publisher(pub)
        return {"sent": sent, **got}

    def test_outputs_carry_the_input_stamps(self, proc_output):
        """Every GuidewireArray and tip pose is stamped like a frame we sent."""
        out = self.exchange(proc_output)
        arrays = out["guidewires"]
        self.assertGreaterEqual(len(arrays), 3)
        for msg in arrays:
            self.assertIn((msg.header.stamp.sec, msg.header.stamp.nanosec), out["sent"])
            self.assertEqual(msg.header.frame_id, "c_arm")
            self.assertEqual((msg.image_width, msg.image_height), (SHAPE[1], SHAPE[0]))
        for pose in out["tip_pose"]:
            self.assertIn((pose.header.stamp.sec, pose.header.stamp.nanosec), out["sent"])
        statuses = [s for d in out["diagnostics"] for s in d.status]
        self.assertTrue(statuses)
        values = {kv.key: kv.value for kv in statuses[-1].values}
        self.assertEqual(values["device"], "cpu")
        self.assertGreater(int(values["frames_processed"]), 0)

    @unittest.skipIf(WEIGHTS is None, "no shipped model: an untrained one finds no tip")
    def test_tip_pose_is_near_the_drawn_tip(self, proc_output):
        """With the shipped model the tip pose lands on the drawn wire's inner end."""
        out = self.exchange(proc_output)
        self.assertTrue(out["tip_pose"])
        for pose in out["tip_pose"]:
            tip = out["sent"][(pose.header.stamp.sec, pose.header.stamp.nanosec)]
            error = np.hypot(pose.pose.position.x - tip[0], pose.pose.position.y - tip[1])
            self.assertLess(error, 10.0)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """The node exits cleanly when launch shuts it down."""

    def test_exit_code(self, proc_info):
        """Exit code 0 (main() handles the interrupt and shuts rclpy down)."""
        launch_testing.asserts.assertExitCodes(proc_info)
