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

"""Export trained weights to an ONNX graph for the onnxruntime backend.

The graph takes ``image`` (N, 1, H, W) float32 in [0, 1] and returns ``prob`` (N, 1, H, W)
sigmoid probabilities, with a dynamic batch axis (and dynamic H/W when the model allows it).
A JSON config is written beside it; right after export the graph is run in ONNX Runtime and
compared with PyTorch, and the largest probability difference is printed.

Typical run:
  franet export --weights runs/franet/best.safetensors --format onnx --out franet.onnx
"""
from __future__ import annotations

import argparse
from pathlib import Path

from franet_core.commands._flags import add_weights

HELP = "export weights to ONNX (dynamic batch) and verify the round trip"
ORDER = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command-line options of ``franet export``."""
    add_weights(parser, onnx=False)
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="output format")
    parser.add_argument("--out", type=Path, required=True, help="output file (.onnx)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--size", type=int, default=512,
                        help="trace size in px, and the fixed size if H/W cannot be dynamic")
    parser.add_argument("--static-hw", action="store_true",
                        help="fix H and W at --size instead of making them dynamic")


def run(args: argparse.Namespace) -> int:
    """Export, verify and print the round-trip differences; returns the exit status."""
    from franet_core.export import export_weights_onnx

    report = export_weights_onnx(args.weights, args.out, size=args.size, opset=args.opset,
                                 dynamic_hw=False if args.static_hw else None)
    axes = "batch, H, W" if report.dynamic_hw else f"batch (H = W = {args.size})"
    print(f"wrote {report.onnx_path} and {report.config_path.name} (dynamic: {axes})")
    for check, diff in report.max_abs_diff.items():
        print(f"  round trip {check}: max |onnxruntime - torch| = {diff:.2e}")
    return 0
