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

"""The tracker node over real DDS: frames delivered, publish -> /guidewires latency, overlay.

A camera-like publisher (sensor-data QoS: best effort, keep last 5) in this process sends
mono16 frames of a drawn wire at a fixed rate to the installed tracker_node, started as a
subprocess with ``--params-file config/tracker.yaml`` and autostart. Measured per case:

- delivered: frames that reached the node's image callback (its /diagnostics counter
  ``frames_received``, which also counts the frames it then drops while busy) / frames sent;
- processed: GuidewireArray messages received back / frames sent;
- latency: header stamp (set to the wall clock at publish) -> GuidewireArray received here,
  p50 and p95 over the processed frames, ms. The node drops frames while one is processed,
  so the latency is transport + one frame's processing, never a queue.

``--overlay`` measures /guidewires latency in alternating blocks without and with an overlay
subscriber in this process (best effort, depth 1, like a viewer). ``--profile`` says which
processes load config/fastdds.xml: both (the default), only the node, only the camera (this
process), or none (Fast DDS's defaults). Needs the ROS environment of ``make ros``::

    source install/setup.bash
    python -P benchmarks/bench_ros_node.py [--seconds 20] [--profile none] [--overlay]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import random
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
IMAGE_TOPIC = "/bench/image"


def wire_frames(side: int, count: int = 8) -> list[np.ndarray]:
    """Return ``count`` mono16 frames: noisy bright background, a dark curved wire."""
    import cv2

    frames = []
    for seed in range(count):
        x = np.linspace(0.0, (0.5 + 0.02 * seed) * side, 200)
        pts = np.stack([x, side / 2 + side / 8 * np.sin(x / (side / 5))], axis=1)
        mask = np.zeros((side, side), np.uint8)
        cv2.polylines(mask, [np.round(pts * 16).astype(np.int32)], False, 1,
                      max(2, side // 170), cv2.LINE_AA, 4)
        image = 42000.0 + np.random.default_rng(seed).normal(0, 600, (side, side))
        image[mask > 0] = 15000.0
        frames.append(np.clip(image, 0, 65535).astype(np.uint16))
    return frames


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Bench:
    """The camera publisher and the result subscribers, spun in a thread."""

    def __init__(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        from franet_ros.msg import GuidewireArray

        rclpy.init()
        self.rclpy = rclpy
        self.Image = Image
        self.node = rclpy.create_node("franet_bench")
        self.pub = self.node.create_publisher(Image, IMAGE_TOPIC, qos_profile_sensor_data)
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.diagnostics: dict[str, str] = {}
        self.overlays = 0
        self.overlay_sub = None
        self.node.create_subscription(GuidewireArray, "/guidewires", self._on_result, 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # shut down at the end
            pass

    def _on_result(self, msg) -> None:
        now = time.time()
        sent = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if msg.header.frame_id == "bench":
            with self.lock:
                self.latencies.append((now - sent) * 1000.0)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            with self.lock:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def _on_overlay(self, msg) -> None:
        with self.lock:
            self.overlays += 1

    def set_overlay_viewer(self, on: bool) -> None:
        """Subscribe to /overlay like a viewer (best effort, depth 1), or stop."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        if on and self.overlay_sub is None:
            self.overlay_sub = self.node.create_subscription(
                self.Image, "/overlay", self._on_overlay,
                QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        elif not on and self.overlay_sub is not None:
            self.node.destroy_subscription(self.overlay_sub)
            self.overlay_sub = None
        time.sleep(2.0)  # discovery / undiscovery

    def received(self) -> int:
        with self.lock:
            return int(self.diagnostics.get("frames_received", "0"))

    def wait_for_node(self, timeout: float = 300.0) -> None:
        end = time.monotonic() + timeout
        while self.node.count_subscribers(IMAGE_TOPIC) == 0 or not self.diagnostics:
            if time.monotonic() > end:
                raise SystemExit("the node did not come up (see its log)")
            time.sleep(0.5)

    def run(self, frames: list[np.ndarray], rate_hz: float, seconds: float,
            settle_s: float = 4.0) -> dict:
        """Publish at ``rate_hz`` for ``seconds``; return delivered/processed/latency."""
        side = frames[0].shape[0]
        payloads = [f.astype("<u2").tobytes() for f in frames]
        before = self.received()
        with self.lock:
            self.latencies = []
        count = int(round(rate_hz * seconds))
        msg = self.Image(height=side, width=side, encoding="mono16", is_bigendian=0,
                         step=side * 2)
        msg.header.frame_id = "bench"
        start = time.perf_counter()
        for i in range(count):
            msg.data = payloads[i % len(payloads)]
            now = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
            self.pub.publish(msg)
            time.sleep(max(0.0, start + (i + 1) / rate_hz - time.perf_counter()))
        time.sleep(settle_s)  # last frame processed, diagnostics published
        with self.lock:
            latencies = list(self.latencies)
        return {"sent": count, "delivered": (self.received() - before) / count,
                "processed": len(latencies) / count, "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95), "latencies": latencies}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def start_node(log_path: Path, extra: list[str], env: dict[str, str]) -> subprocess.Popen:
    from ament_index_python.packages import get_package_prefix

    exe = Path(get_package_prefix("franet_ros")) / "lib" / "franet_ros" / "tracker_node"
    args = [sys.executable, str(exe), "--ros-args", "--params-file",
            str(ROOT / "config" / "tracker.yaml"), "-r", f"image:={IMAGE_TOPIC}",
            "-p", "autostart:=true", "-p", "publish_overlay:=true",
            "-p", "diagnostics_period_s:=0.5"]
    for item in extra:
        args += ["-p", item]
    return subprocess.Popen(args, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                            env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per case")
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--rates", type=float, nargs="+", default=[15.0, 30.0])
    parser.add_argument("--profile", choices=["both", "node", "camera", "none"],
                        default="both", help="processes that load config/fastdds.xml")
    parser.add_argument("--overlay", action="store_true",
                        help="latency without/with an overlay subscriber, alternating blocks")
    parser.add_argument("--blocks", type=int, default=3, help="overlay blocks per condition")
    parser.add_argument("--param", action="append", default=[],
                        help="extra node parameter name:=value (repeatable)")
    parser.add_argument("--log", type=Path, default=Path("out/bench_ros_node.log"))
    args = parser.parse_args()

    os.environ["ROS_DOMAIN_ID"] = str(random.Random(os.getpid()).randint(1, 100))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    profile = {"FASTRTPS_DEFAULT_PROFILES_FILE": str(ROOT / "config" / "fastdds.xml")}
    os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
    node_env = {**os.environ, **(profile if args.profile in ("both", "node") else {})}
    if args.profile in ("both", "camera"):
        os.environ.update(profile)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    node = start_node(args.log, args.param, node_env)
    bench = Bench()
    try:
        bench.wait_for_node()
        print(f"# tracker_node, mono16, {args.seconds:g} s per case, config/fastdds.xml "
              f"loaded by: {args.profile}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        if args.overlay:
            print("| frame | rate | overlay subscriber | processed | /guidewires p50 | p95 | "
                  "overlays received |")
            print("|---|---|---|---|---|---|---|")
        else:
            print("| frame | rate | delivered | processed | /guidewires p50 | p95 |")
            print("|---|---|---|---|---|---|")
        for side in args.sides:
            frames = wire_frames(side)
            bench.run(frames, args.rates[0], 3.0)  # warm up at this size
            for rate in args.rates:
                if not args.overlay:
                    r = bench.run(frames, rate, args.seconds)
                    print(f"| {side}² | {rate:g} Hz | {r['delivered']:.1%} ({r['sent']} sent) "
                          f"| {r['processed']:.1%} | {r['p50']:.0f} ms | {r['p95']:.0f} ms |",
                          flush=True)
                    continue
                pooled = {False: [], True: []}
                shares = {False: [], True: []}
                seen = 0
                for block in range(2 * args.blocks):
                    viewer = bool(block % 2)
                    bench.set_overlay_viewer(viewer)
                    before = bench.overlays
                    r = bench.run(frames, rate, args.seconds / args.blocks)
                    pooled[viewer] += r["latencies"]
                    shares[viewer].append(r["processed"])
                    seen += bench.overlays - before
                bench.set_overlay_viewer(False)
                for viewer in (False, True):
                    lat = pooled[viewer]
                    print(f"| {side}² | {rate:g} Hz | {'yes' if viewer else 'no'} | "
                          f"{np.mean(shares[viewer]):.1%} | {percentile(lat, 50):.0f} ms | "
                          f"{percentile(lat, 95):.0f} ms | {seen if viewer else 0} |",
                          flush=True)
    finally:
        bench.close()
        node.send_signal(2)
        node.wait(60)


if __name__ == "__main__":
    main()
