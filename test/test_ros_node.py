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

"""Real ROS 2: the installed tracker_node as a subprocess, driven like a robot would drive it.

Needs rclpy, Fast DDS and the built franet_ros messages: ``make test-ros`` (ROS 2 Jazzy from
pip wheels, scripts/ros_from_wheels.sh) or a sourced colcon workspace. Skipped elsewhere.
What test/test_launch_tracker.py checks through ``ros2 launch`` is covered here too, with
the node started as ``tracker_node --ros-args --params-file config/tracker.yaml``.

Every process of a run shares a random ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE
=LOCALHOST, so parallel runs on one machine do not see each other, and loads
config/fastdds.xml (large frames; docs/ros.md). Best-effort frames can be dropped (the node
drops frames while busy, by design), so a frame is re-sent until its answer arrives.
"""
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("franet_ros.msg", reason="franet_ros messages not built (make ros)")

from ament_index_python.packages import get_package_prefix  # noqa: E402, I100
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from nav_msgs.msg import Path as PathMsg  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import GetParameters, SetParameters  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from franet_ros.msg import GuidewireArray  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "config" / "tracker.yaml"
FASTDDS_PROFILE = ROOT / "config" / "fastdds.xml"
NODE = "/tracker_node"
IMAGE_TOPIC = "/xray/image"
START_TIMEOUT_S = 180.0  # import torch, load and warm up the model, on a busy 2-core machine
FRAME_TIMEOUT_S = 120.0  # one 1024x1024 frame through the shipped model on such a machine

pytestmark = [pytest.mark.ros, pytest.mark.timeout(900)]


def node_executable() -> Path:
    """Return the installed ``lib/franet_ros/tracker_node`` (skip when it is not installed)."""
    try:
        prefix = Path(get_package_prefix("franet_ros"))
    except Exception as exc:  # PackageNotFoundError, or no AMENT_PREFIX_PATH at all
        pytest.skip(f"franet_ros is not installed on AMENT_PREFIX_PATH: {exc}")
    return prefix / "lib" / "franet_ros" / "tracker_node"


@pytest.fixture(scope="module")
def ros_env():
    """Isolate DDS traffic (own domain, localhost only) and load the large-frame profile."""
    saved = dict(os.environ)
    os.environ.update({
        "ROS_DOMAIN_ID": str(random.Random(os.getpid() ^ time.time_ns()).randint(1, 100)),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(FASTDDS_PROFILE),
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
    })
    yield dict(os.environ)
    os.environ.clear()
    os.environ.update(saved)


class NodeProcess:
    """``tracker_node --ros-args --params-file config/tracker.yaml [-p name:=value ...]``."""

    def __init__(self, log_path: Path, *overrides: str) -> None:
        args = [sys.executable, str(node_executable()), "--ros-args",
                "--params-file", str(PARAMS_FILE), "-r", f"image:={IMAGE_TOPIC}"]
        for override in overrides:
            args += ["-p", override]
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=os.environ.copy())

    def log(self) -> str:
        """Everything the node printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT_S) -> None:
        end = time.monotonic() + timeout
        while text not in self.log():
            assert self.proc.poll() is None, f"node exited {self.proc.returncode}:\n{self.log()}"
            assert time.monotonic() < end, f"no {text!r} in the node's log:\n{self.log()}"
            time.sleep(0.2)

    def stop(self, sig: int, timeout: float = 60.0) -> int:
        """Send ``sig``; return the exit status (a hang dumps every thread into the log)."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: thread stacks
            self.proc.wait(10.0)
            raise AssertionError(f"no exit {timeout} s after signal {sig}:\n{self.log()}")
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Client:
    """A test-side rclpy node spun in a thread; collects what the tracker publishes."""

    def __init__(self) -> None:
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("franet_test_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.got: dict[str, list] = {}
        self.image_pub = self.node.create_publisher(Image, IMAGE_TOPIC, qos_profile_sensor_data)
        self.subscribe("guidewires", GuidewireArray, "/guidewires", 10)
        self.subscribe("mask", Image, "/mask", 10)
        self.subscribe("centerline", PathMsg, "/centerline", 10)
        self.subscribe("diagnostics", DiagnosticArray, "/diagnostics", 50)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # context shut down at teardown
            pass

    def subscribe(self, key: str, msg_type, topic: str, qos) -> None:
        self.got.setdefault(key, [])

        def store(msg, key=key):
            with self.lock:
                self.got[key].append(msg)
        self.node.create_subscription(msg_type, topic, store, qos)

    def received(self, key: str) -> list:
        with self.lock:
            return list(self.got[key])

    def wait(self, predicate, timeout: float, what: str, every=None, period: float = 0.5):
        """Poll ``predicate`` until it returns something truthy; call ``every`` meanwhile."""
        end = time.monotonic() + timeout
        while True:
            if every is not None:
                every()
            result = predicate()
            if result:
                return result
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(period)

    def call(self, srv_type, name: str, request, timeout: float = START_TIMEOUT_S):
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"no service {name}"
            future = client.call_async(request)
            self.wait(future.done, timeout, f"{name} to answer", period=0.05)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def transition(self, transition_id: int) -> bool:
        response = self.call(ChangeState, f"{NODE}/change_state",
                             ChangeState.Request(transition=Transition(id=transition_id)))
        return response.success

    def state(self) -> int:
        return self.call(GetState, f"{NODE}/get_state", GetState.Request()).current_state.id

    def send_until_answered(self, msg: Image, timeout: float = FRAME_TIMEOUT_S) -> dict:
        """Publish ``msg`` every 0.5 s until its GuidewireArray arrives; return the outputs."""
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)

        def answered():
            return any(stamp_of(m) == stamp for m in self.received("guidewires"))
        self.wait(answered, timeout, f"the answer to frame {stamp}",
                  every=lambda: self.image_pub.publish(msg))
        time.sleep(0.5)  # the other outputs follow the GuidewireArray
        return {key: [m for m in self.received(key) if stamp_of(m) == stamp]
                for key in self.got if key != "diagnostics"}

    def last_status(self):
        statuses = [s for d in self.received("diagnostics") for s in d.status]
        return statuses[-1] if statuses else None

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(5.0)


def stamp_of(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def image_msg(pixels: np.ndarray, encoding: str, sec: int, frame_id: str = "c_arm",
              bigendian: bool = False) -> Image:
    """Build an Image of ``pixels`` (H x W) in ``encoding``, stamped ``sec``.500."""
    height, width = pixels.shape
    data = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).tobytes()
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(bigendian),
                step=width * pixels.dtype.itemsize)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 500
    msg.header.frame_id = frame_id
    msg.data = data
    return msg


def wire_frame(side: int, seed: int) -> np.ndarray:
    """Draw a float frame in [0, 1]: noisy bright background, dark curved wire from the left."""
    import cv2

    x = np.linspace(0.0, 0.6 * side, 200)
    pts = np.stack([x, side / 2 + side / 8 * np.sin(x / (side / 5))], axis=1)
    mask = np.zeros((side, side), np.uint8)
    cv2.polylines(mask, [np.round(pts * 16).astype(np.int32)], False, 1,
                  max(2, side // 170), cv2.LINE_AA, 4)
    image = 0.65 + np.random.default_rng(seed).normal(0, 0.01, (side, side))
    image[mask > 0] = 0.25
    return np.clip(image, 0.0, 1.0)


def encoded(frame: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "mono8":
        return np.round(frame * 255).astype(np.uint8)
    if encoding == "mono16":
        return np.round(frame * 65535).astype(np.uint16)
    return frame.astype(np.float32)  # 32FC1


@pytest.fixture(scope="module")
def client(ros_env):
    c = Client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def managed(ros_env, client, tmp_path_factory):
    """Start a node without autostart, overlay on, for the lifecycle tests below."""
    node = NodeProcess(tmp_path_factory.mktemp("node") / "tracker_node.log",
                       "publish_overlay:=true", "diagnostics_period_s:=0.5",
                       "warmup_frames:=1")
    yield node
    node.close()


# ------------------------------------------------------------- lifecycle, managed node


def test_lifecycle_configure_and_activate_over_the_services(managed, client):
    assert client.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert client.transition(Transition.TRANSITION_CONFIGURE)
    assert client.state() == State.PRIMARY_STATE_INACTIVE
    assert client.transition(Transition.TRANSITION_ACTIVATE)
    assert client.state() == State.PRIMARY_STATE_ACTIVE
    managed.wait_for_log(f"active: listening on {IMAGE_TOPIC}")
    assert "franet_sim.tipcheck.json" in managed.log()  # the shipped weights' tip check


def test_the_cuda_fallback_is_reported_once_through_ros_logging(managed):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is usable here: no fallback")
    lines = [line for line in managed.log().splitlines() if "falling back to CPU" in line]
    assert len(lines) == 1, managed.log()
    assert lines[0].startswith("[WARN]") and "[tracker_node]" in lines[0]


@pytest.mark.parametrize("side", [512, 1024])
@pytest.mark.parametrize("encoding", ["mono8", "mono16", "32FC1"])
def test_camera_frames_are_answered_with_the_input_header(managed, client, encoding, side):
    sec = 1000 + side + ["mono8", "mono16", "32FC1"].index(encoding)
    pixels = encoded(wire_frame(side, seed=sec), encoding)
    msg = image_msg(pixels, encoding, sec, frame_id=f"c_arm_{encoding}",
                    bigendian=encoding == "mono16")
    out = client.send_until_answered(msg)
    for key in ("guidewires", "mask", "centerline"):
        assert out[key], f"no {key} for frame {sec}"
        for m in out[key]:
            assert m.header.frame_id == f"c_arm_{encoding}", key
    wires = out["guidewires"][0]
    assert (wires.image_width, wires.image_height) == (side, side)
    for wire in wires.wires:  # a published tip passed the shipped check's gate (0.97)
        assert wire.status == 0 or wire.tip_score >= 0.97, wire
    mask = out["mask"][0]
    assert (mask.width, mask.height, mask.encoding) == (side, side, "mono8")
    assert len(mask.data) == side * side


def test_overlay_is_best_effort_depth_1_and_stamped_like_the_input(managed, client):
    infos = client.node.get_publishers_info_by_topic("/overlay")
    assert len(infos) == 1
    assert infos[0].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    results = client.node.get_publishers_info_by_topic("/guidewires")
    assert results[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    client.subscribe("overlay", Image, "/overlay",
                     QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    client.wait(lambda: client.node.count_subscribers("/overlay") > 0, 10.0, "discovery")
    time.sleep(1.0)
    pixels = encoded(wire_frame(512, seed=7), "mono16")
    msg = image_msg(pixels, "mono16", 2000, frame_id="c_arm_overlay")
    client.wait(lambda: [m for m in client.received("overlay") if stamp_of(m) == (2000, 500)],
                FRAME_TIMEOUT_S, "an overlay", every=lambda: client.image_pub.publish(msg))
    overlay = [m for m in client.received("overlay") if stamp_of(m) == (2000, 500)][0]
    assert overlay.encoding == "bgr8" and overlay.header.frame_id == "c_arm_overlay"
    assert (overlay.width, overlay.height) == (512, 512)


def malformed_frames() -> list[tuple[str, Image]]:
    """Return (reason fragment, message) for frames the node must skip and count."""
    good = encoded(wire_frame(64, seed=1), "mono16")
    short = image_msg(good, "mono16", 3000)
    short.data = bytes(short.data)[:-10]
    nan = encoded(wire_frame(64, seed=2), "32FC1")
    nan[10, 10] = np.nan
    empty = image_msg(good[:0], "mono16", 3003)
    return [("data length", short),
            ("unsupported encoding", image_msg(good.astype(np.uint8), "yuv422", 3001)),
            ("NaN", image_msg(nan, "32FC1", 3002)),
            ("zero size", empty)]


def test_malformed_frames_are_skipped_and_counted_in_diagnostics(managed, client):
    client.wait(client.last_status, 10.0, "diagnostics")
    before = int(values(client.last_status())["bad_frames"])
    for count, (reason, msg) in enumerate(malformed_frames(), start=1):
        def counted(count=count, reason=reason):
            status = client.last_status()
            return (reason in values(status)["last_error"]
                    and int(values(status)["bad_frames"]) >= before + count)
        client.wait(counted, 30.0, f"bad frame {reason!r} counted",
                    every=lambda msg=msg: client.image_pub.publish(msg), period=1.0)
    assert "frame skipped" in managed.log()
    assert managed.proc.poll() is None
    # The node keeps working, and /diagnostics goes back from WARN to OK.
    statuses = [s for d in client.received("diagnostics") for s in d.status]
    assert any(s.level == DiagnosticStatus.WARN for s in statuses)
    client.send_until_answered(image_msg(encoded(wire_frame(256, 9), "mono8"), "mono8", 3100))
    client.wait(lambda: (s := client.last_status()) and s.level == DiagnosticStatus.OK, 10.0,
                "diagnostics back to OK")


def test_runtime_parameters_are_validated_or_refused(managed, client):
    def set_param(name: str, value: ParameterValue):
        request = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
        return client.call(SetParameters, f"{NODE}/set_parameters", request).results[0]

    refused = set_param("threshold", ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                    double_value=1.5))
    assert not refused.successful and "threshold" in refused.reason
    refused = set_param("device", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                 string_value="tpu"))
    assert not refused.successful and "not one of" in refused.reason
    wrong_type = set_param("max_rate_hz", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                         string_value="fast"))
    assert not wrong_type.successful
    accepted = set_param("threshold", ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                     double_value=0.4))
    assert accepted.successful, accepted.reason
    got = client.call(GetParameters, f"{NODE}/get_parameters",
                      GetParameters.Request(names=["threshold", "device"]))
    assert got.values[0].double_value == 0.4 and got.values[1].string_value == "cuda"


def test_lifecycle_deactivate_cleanup_shutdown_then_sigterm_exits_0(managed, client):
    assert client.transition(Transition.TRANSITION_DEACTIVATE)
    assert client.state() == State.PRIMARY_STATE_INACTIVE
    assert client.transition(Transition.TRANSITION_CLEANUP)
    assert client.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert client.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert client.state() == State.PRIMARY_STATE_FINALIZED
    assert managed.stop(signal.SIGTERM) == 0, managed.log()
    assert "Traceback" not in managed.log()


# -------------------------------------------------------------------- autostart, exits


def test_autostart_and_sigint_while_frames_arrive_exits_0(ros_env, client, tmp_path):
    node = NodeProcess(tmp_path / "autostart.log", "autostart:=true", "device:=cpu",
                       "warmup_frames:=0")
    try:
        node.wait_for_log(f"active: listening on {IMAGE_TOPIC}")
        assert client.state() == State.PRIMARY_STATE_ACTIVE
        msg = image_msg(encoded(wire_frame(256, 11), "mono8"), "mono8", 4000)
        client.send_until_answered(msg)
        stop = threading.Event()

        def stream():  # 20 Hz camera until the node is gone
            sec = 4001
            while not stop.is_set():
                client.image_pub.publish(image_msg(
                    encoded(wire_frame(256, sec), "mono8"), "mono8", sec))
                sec += 1
                time.sleep(0.05)
        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        time.sleep(2.0)
        try:
            status = node.stop(signal.SIGINT)
        finally:
            stop.set()
            streamer.join(5.0)
        log = node.log()
        assert status == 0, log
        for bad in ("Traceback", "InvalidHandle", "not published", "KeyboardInterrupt"):
            assert bad not in log, log
    finally:
        node.close()


@pytest.mark.parametrize("overrides,message", [
    (["backend:=foo"], "bad parameter backend: backend='foo' is not one of"),
    (["threshold:=1.5"], "bad parameter threshold"),
    (["autostart:=true", "device:=cpu", "weights:=/no/such.safetensors"],
     "configure failed: FileNotFoundError"),
])
def test_startup_errors_are_one_log_line_and_a_nonzero_exit(ros_env, tmp_path, overrides,
                                                            message):
    node = NodeProcess(tmp_path / "bad.log", *overrides)
    try:
        status = node.proc.wait(START_TIMEOUT_S)
    finally:
        node.close()
    lines = [line for line in node.log().splitlines() if line.strip()]
    assert status == 1, node.log()
    assert len(lines) == 1 and message in lines[0], node.log()
