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

"""Train a segmentation model on the simulator and/or data folders (paper recipe by default).

The configuration is built in layers: the paper's defaults (franet_core.train.TrainConfig),
then --config FILE (YAML or JSON; with --resume and no --config, the run's own config.yaml),
then the flags below, then --set KEY=VALUE pairs (dotted keys reach nested fields, e.g.
--set sim.kind=dual). The resolved config is written to RUN_DIR/config.yaml.

Typical use:
  franet train --config configs/shipped.yaml --out runs/shipped
  franet train --data mydata/train --val-data mydata/val --crop 256
  franet train --out runs/shipped --resume            # continue after a kill
  franet train --config configs/shipped.yaml --init runs/old/best.safetensors --out runs/next
  torchrun --nproc_per_node 4 -m franet_core.cli train --config configs/shipped.yaml
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from franet_core.commands._flags import add_device

HELP = "train a model (SGD + augmented focal loss, checkpoints, TensorBoard, DDP)"
ORDER = 30

# flag destination -> TrainConfig field
_FLAGS = {"model": "model", "epochs": "epochs", "steps": "steps_per_epoch",
          "batch_size": "batch_size", "lr": "lr", "crop": "crop",
          "backbone_weights": "backbone_weights", "backgrounds": "backgrounds",
          "sim_fraction": "sim_fraction", "val_frames": "val_frames", "workers": "num_workers",
          "seed": "seed", "device": "device", "loss": "loss", "init": "init"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet train``."""
    parser.add_argument("--config", type=Path, help="YAML/JSON TrainConfig file")
    parser.add_argument("--out", type=Path, default=Path("runs/train"),
                        help="run directory: checkpoints, config, logs (default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its state.safetensors")
    parser.add_argument("--model", help="model name (franet, unet, ...)")
    parser.add_argument("--loss", help="loss name (augmented_focal, focal, ghm, bce)")
    parser.add_argument("--data", nargs="+", metavar="DIR", help="training data folder(s)")
    parser.add_argument("--val-data", nargs="+", metavar="DIR",
                        help="validation data folder(s) (held-out sequences)")
    parser.add_argument("--sim-fraction", type=float,
                        help="share of training samples from the simulator (0..1)")
    parser.add_argument("--sim-kind", choices=("mono", "dual", "stiff", "mixed"),
                        help="kind of simulated sequences")
    parser.add_argument("--backgrounds", metavar="DIR",
                        help="folder of real X-ray images to composite simulated wires onto")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps", type=int, help="optimiser steps per epoch")
    parser.add_argument("--batch-size", type=int, help="global batch size (all ranks)")
    parser.add_argument("--lr", type=float, help="initial learning rate")
    parser.add_argument("--crop", type=int, help="training crop side in px (multiple of 32)")
    parser.add_argument("--val-frames", type=int, help="simulated validation frames")
    parser.add_argument("--backbone-weights", metavar="FILE",
                        help="safetensors file with pretrained encoder tensors")
    parser.add_argument("--workers", type=int, help="DataLoader worker processes")
    parser.add_argument("--init", metavar="WEIGHTS",
                        help="start from these weights (.safetensors with sidecar), fresh optimiser")
    parser.add_argument("--seed", type=int)
    add_device(parser, auto=True)
    parser.add_argument("--no-amp", action="store_true", help="disable CUDA mixed precision")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override any config field (value parsed as YAML); repeatable")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_config(args: argparse.Namespace) -> Any:
    """Build the TrainConfig described by ``args`` (layers as in the module docstring)."""
    from franet_core import config as config_io
    from franet_core.train import TrainConfig

    data: dict[str, Any] = {}
    if args.config is not None:
        data = config_io.load_file(args.config)
    elif args.resume:
        if not (args.out / "config.yaml").is_file():
            raise FileNotFoundError(f"--resume: {args.out / 'config.yaml'} not found, so the "
                                    "run's settings are unknown; pass --config FILE with them")
        data = config_io.load_file(args.out / "config.yaml")
    for dest, key in _FLAGS.items():
        if getattr(args, dest) is not None:
            data[key] = getattr(args, dest)
    if args.data is not None:
        data["data"] = [str(p) for p in args.data]
    if args.val_data is not None:
        data["val_data"] = [str(p) for p in args.val_data]
    if args.sim_kind is not None:
        data.setdefault("sim", {})["kind"] = args.sim_kind
    if args.no_amp:
        data["amp"] = False
    config_io.apply_overrides(data, args.set)
    return config_io.from_dict(TrainConfig, data, where="train config")


def run(args: argparse.Namespace) -> int:
    """Resolve the config, train, print where the weights are."""
    from franet_core.commands import _checks as check
    from franet_core.train import train

    logging.getLogger("franet_core.train").setLevel(logging.INFO)
    check.out_dir(args.out)
    if args.resume and not (args.out / "state.safetensors").is_file():
        raise FileNotFoundError(f"--resume: no state.safetensors in {args.out}")
    cfg = resolve_config(args)
    check.device(cfg.device, "train config.device", auto=True)
    check.positive(cfg.lr, "train config.lr")
    try:
        result = train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    except FloatingPointError as exc:  # diverged: the settings' fault, told in one line
        raise ValueError(str(exc)) from exc
    print(f"best validation F1 {result['best_f1']:.4f} after {result['epochs']} epochs; "
          f"weights: {args.out / 'best.safetensors'} "
          f"(try: franet eval --weights {args.out / 'best.safetensors'} --data DIR --out OUT)")
    return 0
