#!/usr/bin/env python3
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

"""``tracker_node``: a ROS 2 lifecycle node that tracks guidewires in X-ray images.

The only module of franet that imports rclpy. Every decision lives in plain, tested code:
parameters in :mod:`franet_ros.params`, admission (drop while busy, rate cap) in
:mod:`franet_ros.frame_gate`, message conversion in :mod:`franet_ros.conversions`, and the
per-frame path (Image -> array -> FramePipeline -> messages) in
:class:`franet_ros.processor.FrameProcessor`, which ``franet replay`` shares.

Lifecycle: configure reads the parameters, loads the model and warms it up, and creates the
(lifecycle) publishers and the diagnostics timer; activate subscribes to ``image`` and
enables the publishers; deactivate unsubscribes; cleanup and shutdown release the model and
the GPU memory. ``autostart:=true`` configures and activates at start-up.

Topics (relative, so a namespace or remap applies): sub ``image`` (sensor_msgs/Image);
pub ``mask`` (mono8 0/255), ``overlay`` (bgr8, optional), ``tip_pose``
(geometry_msgs/PoseStamped, px), ``centerline`` (nav_msgs/Path, px), ``guidewires``
(franet_ros/GuidewireArray), and ``/diagnostics`` (diagnostic_msgs/DiagnosticArray).
QoS profiles are named below (:data:`RESULTS_QOS`, :data:`OVERLAY_QOS`, :func:`image_qos`).
The overlay is drawn after the results are published and only while it has a subscriber.

Start-up errors (bad arguments or parameters, an autostart that cannot configure) end the
process with one FATAL/ERROR log line and exit status 1; SIGINT and SIGTERM exit 0.
"""
from __future__ import annotations

import array
import gc
import logging
import os
import signal
import sys
import time
from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Vector3
from nav_msgs.msg import Path
import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data,
                       qos_profile_system_default, QoSProfile, ReliabilityPolicy)
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from franet_ros import conversions as conv
from franet_ros import params
from franet_ros.frame_gate import Admission, diagnostic_status, FrameGate
from franet_ros.msg import Guidewire, GuidewireArray
from franet_ros.processor import FrameOutputs, FrameProcessor

#: Message classes of this ROS installation, for the framework-free conversions.
KIT = conv.MessageKit(
    types={conv.IMAGE: Image, conv.HEADER: Header, conv.TIME: Time, conv.POINT: Point,
           conv.QUATERNION: Quaternion, conv.POSE: Pose, conv.POSE_STAMPED: PoseStamped,
           conv.VECTOR3: Vector3, conv.PATH: Path, conv.DIAGNOSTIC_ARRAY: DiagnosticArray,
           conv.DIAGNOSTIC_STATUS: DiagnosticStatus, conv.KEY_VALUE: KeyValue,
           conv.GUIDEWIRE: Guidewire, conv.GUIDEWIRE_ARRAY: GuidewireArray},
    byte_array=lambda data: array.array("B", data))

_PARAMETER_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                    float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
#: Side of the blank square frames used to warm the model up when input_size is 0, px.
WARMUP_SIZE = 512
#: Minimum interval between two "bad frame" warnings in the log, s.
WARN_THROTTLE_S = 5.0
#: Longest wait of the spin loop between two looks for SIGINT/SIGTERM, s.
SPIN_PERIOD_S = 0.5
#: Longest wait, at exit, for a frame being processed to finish before the node is destroyed, s.
STOP_TIMEOUT_S = 10.0

#: mask, tip_pose, centerline, guidewires: reliable, keep last 10 (robot-facing results).
RESULTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
#: overlay: best effort, keep last 1. A slow viewer of large pictures never holds the
#: results back (a reliable writer would wait for it and retransmit to it).
OVERLAY_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.VOLATILE)
#: /diagnostics: the system default, like other diagnostic publishers.
DIAGNOSTICS_QOS = qos_profile_system_default


def image_qos(reliability: str) -> QoSProfile:
    """Image subscription: sensor-data QoS, keep last 1, reliability ``qos_reliability``.

    Best effort (the default) matches every camera publisher; reliable matches only reliable
    ones. Depth 1: a frame that waits is stale, the newest one is what counts.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                                   else ReliabilityPolicy.BEST_EFFORT),
                      durability=qos_profile_sensor_data.durability)


def descriptor(param: params.Param) -> ParameterDescriptor:
    """Build the ParameterDescriptor (type, description, range, choices) of an entry."""
    desc = ParameterDescriptor(name=param.name, type=_PARAMETER_TYPES[param.kind],
                               description=param.description)
    if param.limits is not None and param.kind is int:
        desc.integer_range = [IntegerRange(from_value=int(param.limits[0]),
                                           to_value=int(param.limits[1]), step=param.step)]
    elif param.limits is not None and param.kind is float:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(param.limits[0]), to_value=float(param.limits[1]), step=0.0)]
    if param.choices:
        desc.additional_constraints = "one of: " + ", ".join(param.choices)
    return desc


class StartupError(RuntimeError):
    """The node cannot start as asked; the message is the one line that is logged."""


class RosLogHandler(logging.Handler):
    """Forward franet_core's Python log records to a ROS logger (and nowhere else).

    Without it they reach stderr through Python's last-resort handler, outside ROS logging
    (/rosout, the log files, the console format).
    """

    def __init__(self, ros_logger: Any) -> None:
        super().__init__(logging.INFO)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` at the matching ROS severity."""
        text = self.format(record)
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warning(text)
        else:
            self._ros_logger.info(text)


class TrackerNode(Node):
    """Lifecycle node wrapping :class:`franet_core.pipeline.FramePipeline`."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare every parameter of :data:`franet_ros.params.PARAMETERS` (validated).

        Raises :class:`StartupError` with the reason when a start-up value is refused.
        """
        super().__init__("tracker_node", **kwargs)
        self._log_handler = RosLogHandler(self.get_logger())
        logging.getLogger("franet_core").addHandler(self._log_handler)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        for param in params.PARAMETERS:
            try:
                self.declare_parameter(param.name, param.default, descriptor(param))
            except ParameterException as exc:  # "<message>: <name>"; keep the reason
                reason = str(exc.args[0]).split("Reason: ", 1)[-1]
                reason = reason.removesuffix(f": {param.name}")
                raise StartupError(f"bad parameter {param.name}: {reason}") from None
        self._overlay_pub = None
        self._stopping = False
        self._settings: params.NodeSettings | None = None
        self._processor: FrameProcessor | None = None
        self._gate: FrameGate | None = None
        self._device = "none"
        # Not ``_publishers``: rclpy's Node keeps its own list under that name (and
        # ``_subscriptions``, ``_timers``, ...); see test_ros_package.py.
        self._outputs: dict[str, Publisher] = {}
        self._diagnostics_pub = None
        self._diagnostics_timer = None
        self._subscription = None
        self._active = False
        self._image_group = ReentrantCallbackGroup()
        self._timer_group = MutuallyExclusiveCallbackGroup()

    # ------------------------------------------------------------------ parameters

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Refuse bad values with the reason; new values take effect at the next configure."""
        reasons = params.validate({p.name: p.value for p in parameters
                                   if p.name in params.BY_NAME})
        return SetParametersResult(successful=not reasons, reason="; ".join(reasons))

    def _read_settings(self) -> params.NodeSettings:
        return params.NodeSettings.from_values(
            {p.name: self.get_parameter(p.name).value for p in params.PARAMETERS})

    # ------------------------------------------------------------------- lifecycle

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Read parameters, load and warm up the model, create publishers and diagnostics."""
        try:
            settings = self._read_settings()
            pipeline = self._load_pipeline(settings)
        except Exception as exc:  # rclpy turns an escaping exception into ERROR, unlogged
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            self._release_model()
            return TransitionCallbackReturn.FAILURE
        self._settings = settings
        # The overlay is drawn by the node itself (draw_overlay), after the results.
        self._processor = FrameProcessor(pipeline, KIT,
                                         max_pixels=int(settings["max_image_pixels"]))
        self._gate = FrameGate(max_rate_hz=float(settings["max_rate_hz"]))
        topics = {"mask": Image, "tip_pose": PoseStamped, "centerline": Path,
                  "guidewires": GuidewireArray}
        self._outputs = {name: self.create_lifecycle_publisher(msg_type, name, RESULTS_QOS)
                         for name, msg_type in topics.items()}
        if settings["publish_overlay"]:
            self._overlay_pub = self.create_lifecycle_publisher(Image, "overlay", OVERLAY_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics",
                                                      DIAGNOSTICS_QOS)
        self._diagnostics_timer = self.create_timer(
            float(settings["diagnostics_period_s"]), self._publish_diagnostics,
            callback_group=self._timer_group)
        check = pipeline.meta.get("tip_check")
        self.get_logger().info(f"configured: model {pipeline.meta.get('model', '?')} on "
                               f"{self._device} ({settings['backend']}); "
                               + (f"tip check {check}" if check else
                                  "no tip check: every tracked tip is published"))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Subscribe to ``image`` and enable the lifecycle publishers."""
        self._subscription = self.create_subscription(
            Image, "image", self._on_image, image_qos(str(self._settings["qos_reliability"])),
            callback_group=self._image_group)
        self._active = True
        self.get_logger().info(f"active: listening on {self._subscription.topic_name}")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop listening; the model stays loaded for a fast re-activation."""
        self._active = False
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Destroy publishers and timer, free the model and the GPU memory."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Release everything, whatever the state."""
        self._active = False
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self.get_logger().error(f"error while in state {state.label}; releasing resources")
        return self.on_shutdown(state)

    def autostart(self) -> bool:
        """Configure then activate; True when the node ends up active.

        A failed transition has already logged its reason (one line).
        """
        return (self.trigger_configure() == TransitionCallbackReturn.SUCCESS
                and self.trigger_activate() == TransitionCallbackReturn.SUCCESS)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Take no more frames and wait (bounded) for the one in progress, before destroy."""
        self._stopping = True
        self._active = False
        end = time.monotonic() + timeout_s
        while self._gate is not None and self._gate.busy and time.monotonic() < end:
            time.sleep(0.01)

    def destroy_node(self) -> None:
        """Detach the log forwarding, then destroy the node."""
        logging.getLogger("franet_core").removeHandler(self._log_handler)
        super().destroy_node()

    def _load_pipeline(self, settings: params.NodeSettings) -> Any:
        """Build the pipeline from the parameters, check it against ``model``, warm it up."""
        from franet_core.pipeline import FramePipeline

        pipeline = FramePipeline.from_weights(settings.weights, backend=settings["backend"],
                                              device=settings["device"],
                                              config=settings.pipeline_config(),
                                              **settings.tip_check_args())
        expected, actual = settings["model"], pipeline.meta.get("model")
        if expected and actual != expected:
            raise ValueError(f"weights {settings.weights or '(shipped)'} are for model "
                             f"{actual!r}, but parameter model is {expected!r}")
        # A cuda -> cpu fallback is logged once, by franet_core (through RosLogHandler).
        self._device = str(getattr(pipeline.segmenter, "device", settings["device"]))
        side = int(settings["input_size"]) or WARMUP_SIZE
        for _ in range(int(settings["warmup_frames"])):
            pipeline.process(np.zeros((side, side), np.float32))
        pipeline.reset()
        return pipeline

    def _teardown(self) -> None:
        outputs, self._outputs = self._outputs, {}
        overlay, self._overlay_pub = self._overlay_pub, None
        for publisher in [*outputs.values(), *([overlay] if overlay else [])]:
            self.destroy_lifecycle_publisher(publisher)
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None
        self._release_model()

    def _release_model(self) -> None:
        self._processor = None
        self._gate = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ callbacks

    def _on_image(self, msg: Image) -> None:
        """Image -> array -> FramePipeline -> messages; drops the frame while busy."""
        received = time.perf_counter()
        gate, processor, pubs = self._gate, self._processor, self._outputs
        if not self._active or gate is None or processor is None or not pubs:
            return
        if gate.admit() is not Admission.ACCEPTED:
            return
        try:
            outputs = processor(msg, received)
        except ValueError as exc:  # bad input: skip the frame, count it, keep running
            gate.done(error=str(exc))
            self.get_logger().warning(f"frame skipped: {exc}",
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        except Exception as exc:  # e.g. CUDA out of memory: report, keep the node alive
            gate.done(error=f"{type(exc).__name__}: {exc}")
            self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}",
                                    throttle_duration_sec=WARN_THROTTLE_S)
            return
        try:
            self._publish(pubs, outputs)
            # Results first; the overlay only while someone looks, and after them.
            overlay = self._overlay_pub
            if overlay is not None and overlay.get_subscription_count() > 0:
                overlay.publish(processor.draw_overlay(outputs, msg.header))
        except Exception as exc:  # publishers destroyed by a concurrent cleanup/shutdown
            # An exception escaping a callback would stop MultiThreadedExecutor.spin(). At
            # exit (SIGINT, SIGTERM) the context is already shut down: nothing to report.
            if not self._stopping and self.context.ok():
                self.get_logger().warning(
                    f"results not published: {type(exc).__name__}: {exc}",
                    throttle_duration_sec=WARN_THROTTLE_S)
        finally:
            gate.done(latency_ms=outputs.latency_ms)

    @staticmethod
    def _publish(pubs: dict[str, Publisher], outputs: FrameOutputs) -> None:
        pubs["guidewires"].publish(outputs.guidewires)
        if outputs.tip_pose is not None:
            pubs["tip_pose"].publish(outputs.tip_pose)
        pubs["centerline"].publish(outputs.centerline)
        pubs["mask"].publish(outputs.mask)

    def _publish_diagnostics(self) -> None:
        gate, pub = self._gate, self._diagnostics_pub
        if gate is None or pub is None:
            return
        level, message, values = diagnostic_status(
            gate.snapshot(), active=self._active, device=self._device,
            backend=str(self._settings["backend"]))
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id="")
        msg = conv.diagnostic_array(
            KIT, header, name=f"{self.get_fully_qualified_name()}: guidewire tracking",
            hardware_id=self._device, level=level, message=message, values=values)
        try:
            pub.publish(msg)
        except Exception as exc:  # destroyed by a concurrent cleanup (other callback group)
            if not self._stopping and self.context.ok():
                self.get_logger().warning(f"diagnostics not published: {exc}",
                                          throttle_duration_sec=WARN_THROTTLE_S)


class _Signals:
    """SIGINT/SIGTERM: exit 0, never a KeyboardInterrupt in the middle of the shutdown.

    The node's only signal handlers; ``main`` tells ``rclpy.init`` to install none of its
    own. rclpy's handlers shut the context down from the signal, at any moment: a signal
    between the spin loop's ``context.ok()`` check and ``spin_once`` building its wait set
    made ``spin_once`` raise RCLError ("the given context is not valid") and the node exit 1
    (seen once in CI). Python's default SIGINT handler raises KeyboardInterrupt at whatever
    the main thread is doing, possibly inside ``destroy_node()``. This handler raises only
    during start-up (model loading, before spinning); later it sets ``received``, which the
    spin loop checks at least every SPIN_PERIOD_S, and the context is shut down once, after
    the loop. (A SIGTERM sometimes left ``executor.spin()`` waiting forever: seen 2 times in
    6 runs; hence the loop of ``spin_once``.)
    """

    def __init__(self) -> None:
        self.spinning = False
        self.received = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.spinning:
            raise KeyboardInterrupt
        self.received = True


def _fatal(text: str) -> int:
    rclpy.logging.get_logger("tracker_node").fatal(text)
    return 1


def main(args: list[str] | None = None) -> int:
    """Run the node in a multi-threaded executor (image callbacks may overlap and drop).

    Returns the exit status: 0 after SIGINT/SIGTERM or a normal end, 1 when the node cannot
    start (bad arguments or parameters, autostart failed); the reason is one log line.
    """
    signals = _Signals()
    argv = sys.argv if args is None else args
    missing = [path for flag, path in zip(argv, argv[1:])
               if flag == "--params-file" and not os.path.isfile(path)]
    if missing:  # rcl would say it less clearly, over two lines
        return _fatal(f"cannot start: parameter file not found: {missing[0]}")
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # e.g. a params file that does not parse
        return _fatal(f"cannot start: {exc}".rstrip())
    node = None
    status = 0
    try:
        node = TrackerNode()
        if node.get_parameter("autostart").value and not node.autostart():
            status = 1  # on_configure/on_activate logged the reason
        else:
            executor = MultiThreadedExecutor(num_threads=4)
            executor.add_node(node)
            signals.spinning = True
            while node.context.ok() and not signals.received:
                executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except StartupError as exc:
        status = _fatal(f"cannot start: {exc}")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signals.spinning = True  # from here on a signal only ends spin, never raises
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
