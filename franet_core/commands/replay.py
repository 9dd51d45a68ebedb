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

"""Replay a rosbag2 (sqlite3 or MCAP) or ROS 1 bag through the tracker node's pipeline.

Every sensor_msgs/Image on --image-topic goes through exactly the code path of the ROS node
(Image -> array -> FramePipeline -> messages); the mask, tip pose, centerline and
GuidewireArray messages are written to a new MCAP bag at --out (a directory, which must not
exist), stamped like their input frames. Prints latency; with --gt-topic (a mask Image topic,
matched by header stamp) also precision, sensitivity, F1 and GSP. No ROS installation needed.
"""
from __future__ import annotations

import argparse
import math

from franet_core.commands._flags import add_model_flags

HELP = "run the ROS node's pipeline over a bag and write the results to an MCAP bag"
ORDER = 70


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``franet replay``."""
    parser.add_argument("bag", help="input bag (rosbag2 directory or file, or ROS 1 .bag)")
    parser.add_argument("--image-topic", required=True, help="sensor_msgs/Image topic to track")
    parser.add_argument("--gt-topic", help="ground-truth mask Image topic for metrics")
    parser.add_argument("--out", required=True, help="output MCAP bag directory (new)")
    add_model_flags(parser)
    parser.add_argument("--params", help="tracker node parameter YAML (config/tracker.yaml "
                                         "layout) for threshold, input size and tracker")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")


def run(args: argparse.Namespace) -> int:
    """Replay, print the summary, return 0 (2 for user errors via ValueError).

    Also 2 when not one frame could be processed: the output bag is still written (closed,
    with metadata), so a damaged recording leaves a readable, explained result.
    """
    from franet_core.commands import _checks as check
    from franet_ros.bag import replay
    from franet_ros.params import NodeSettings, load_params_file

    check.at_least(args.max_frames, "--max-frames")
    values = load_params_file(args.params) if args.params else {}
    values.update(backend=args.backend, device=args.device)
    settings = NodeSettings.from_values(values)
    report = replay(args.bag, args.image_topic, args.out, gt_topic=args.gt_topic,
                    weights=args.weights or settings.weights, backend=args.backend,
                    device=args.device, settings=settings, max_frames=args.max_frames)
    lat = report.latency_ms
    print(f"frames: {report.frames} processed, {report.bad_frames} skipped as bad input")
    for reason in report.bad_reasons[:5]:
        print(f"  skipped {reason}")
    if report.stopped:
        print(f"bag damaged: {report.stopped}; frames before it were processed")
    if lat:
        print(f"latency ms (receive -> messages): mean {lat['mean']:.1f}  p50 {lat['p50']:.1f}"
              f"  p95 {lat['p95']:.1f}  max {lat['max']:.1f}")
    if report.metrics is not None:
        overall = report.metrics["overall"]
        scores = "  ".join(f"{m} {overall[m]['mean']:.3f}" for m in overall
                           if not math.isnan(overall[m]["mean"]))
        print(f"ground truth: {report.gt_frames} frames matched; {scores}")
    if report.bad_gt_frames:
        print(f"ground truth: {report.bad_gt_frames} bad mask message(s) skipped")
    print(f"wrote {report.out} (MCAP) and {report.out / 'franet_replay.json'}")
    if report.frames == 0:
        raise ValueError(f"{args.bag}: no frame of {args.image_topic} could be processed "
                         f"({report.bad_frames} bad)")
    return 0
