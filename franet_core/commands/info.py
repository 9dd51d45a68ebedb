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

"""Print parameters, GMACs / GFLOPs and the output shape of one or all models.

GFLOPs are counted as 2 x multiply-accumulates of the convolutions and linear layers at the
given input size (see franet_core.flops). Config options of a single model can be
overridden with --set KEY=VALUE (values parsed as YAML: --set attention=false,
--set decoder_channels=[32,16,16,8,8]).

Example: franet info --model all --size 512
"""
from __future__ import annotations

import argparse

HELP = "parameters, GFLOPs and output shape of the models"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``franet info``."""
    parser.add_argument("--model", default="all", help="model name, or 'all' (default)")
    parser.add_argument("--size", default="512",
                        help="input size in px: S (square) or HxW, multiples of 32 (default 512)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override for --model NAME (repeatable)")


def _parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--size must be S or HxW in px, got {text!r}") from None
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise ValueError(f"--size must be S or HxW in px, got {text!r}")


def _parse_overrides(items: list[str]) -> dict:
    import yaml

    config = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        config[key.strip()] = yaml.safe_load(value)
    return config


def run(args: argparse.Namespace) -> int:
    """Build each model, count it at the given size and print one line per model."""
    import torch

    from franet_core.flops import model_cost
    from franet_core.models import MODEL_NAMES, build_model

    height, width = _parse_size(args.size)
    config = _parse_overrides(args.overrides)
    if args.model == "all":
        if config:
            raise ValueError("--set needs a single --model NAME, not 'all'")
        names = list(MODEL_NAMES)
    else:
        names = [args.model]
    torch.manual_seed(0)
    print(f"{'model':16s} {'params (M)':>10s} {'GMACs':>8s} {'GFLOPs':>8s}  output (C,H,W)"
          f"  @ input 1x{height}x{width}")
    for name in names:
        model = build_model(name, **config)
        cost = model_cost(model, height, width, getattr(model.config, "in_channels", 1))
        print(f"{name:16s} {cost.params / 1e6:10.3f} {cost.macs / 1e9:8.2f} "
              f"{cost.gflops:8.2f}  {cost.output_shape}")
    return 0
