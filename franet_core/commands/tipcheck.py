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
"""Fit the tip check of a set of weights, and choose its gate on validation folders.

The pipeline tracks every annotated sequence of the --data folders (frames the weights never
trained on), labels each published tip true (within --tip-tolerance of a true tip) or false,
and fits a logistic regression over the tip's cues (franet_core.tip_check). It then scores
the published tips of the --val-data folders and sets min_score to the lowest gate at which
their false-tip rate is at or under --max-false-rate. The check is written as JSON beside
the weights (``<stem>.tipcheck.json``), where ``franet track``, ``franet eval`` and the ROS
node find it. Choose the gate on validation folders, never on a test folder.

Typical use:
  franet synth --out runs/cache/calib --sequences 64 --frames 8 --seed 11 --background-split train
  franet tipcheck --weights runs/x/best.safetensors --data runs/cache/calib \\
      --val-data runs/cache/valk_mono runs/cache/valk_dual runs/cache/valk_stiff
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from franet_core.commands._flags import add_model_flags

HELP = "fit the tip check that withholds unlikely tips, gate chosen on validation folders"
ORDER = 45
GATES = np.round(np.arange(0.0, 1.0, 0.01), 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``franet tipcheck``."""
    parser.add_argument("--data", type=Path, required=True, nargs="+", metavar="DIR",
                        help="annotated sequences to fit on (not the weights' training data)")
    parser.add_argument("--val-data", type=Path, required=True, nargs="+", metavar="DIR",
                        help="annotated validation folders the gate is chosen on")
    add_model_flags(parser)
    parser.add_argument("--threshold", type=float,
                        help="probability threshold of the mask (default: the weights' own)")
    parser.add_argument("--max-false-rate", type=float, default=0.01, metavar="R",
                        help="highest false-tip rate allowed on --val-data (default 0.01, the "
                             "project's limit)")
    parser.add_argument("--tip-tolerance", type=float, default=5.0, metavar="PX",
                        help="a published tip this close to a true tip is true, px (default 5)")
    parser.add_argument("--hidden", type=int, default=0, metavar="H",
                        help="H > 0: a network with one hidden layer of H ReLU units instead "
                             "of a logistic regression (default 0)")
    parser.add_argument("--out", type=Path,
                        help="where to write the check (default: beside the weights, "
                             "<stem>.tipcheck.json)")


def run(args: argparse.Namespace) -> int:
    """Collect, fit, choose the gate, write; returns 0, or 2 when no gate is safe enough."""
    from franet_core.checkpoint import DEFAULT_WEIGHTS
    from franet_core.commands import _checks as check
    from franet_core.pipeline import FramePipeline, PipelineConfig
    from dataclasses import replace

    from franet_core.tip_check import (fit_logistic, fit_network, lowest_safe_gate,
                                       sha256_file, TipCheck, tip_check_path)

    for folder in (*args.data, *args.val_data):
        if not folder.is_dir():
            raise FileNotFoundError(f"data folder not found: {folder}")
    check.probability(args.threshold, "--threshold")
    check.probability(args.max_false_rate, "--max-false-rate")
    check.positive(args.tip_tolerance, "--tip-tolerance")
    check.at_least(args.hidden, "--hidden", minimum=0)
    weights = Path(args.weights) if args.weights is not None else DEFAULT_WEIGHTS
    if weights.suffix == ".onnx":
        raise ValueError("--weights: fit the tip check on the .safetensors weights the .onnx "
                         "file was exported from")
    pipe = FramePipeline.from_weights(str(weights), args.backend, args.device,
                                      PipelineConfig(threshold=args.threshold), tip_check=None)
    x, y = collect(pipe, args.data, args.tip_tolerance)
    if y.all() or not y.any():
        raise ValueError(f"--data: the {len(y)} published tips are all "
                         f"{'true' if y.all() else 'false'}; a check needs both")
    if args.hidden > 0:
        mean, std, w1, b1, w, b = fit_network(x, y, hidden=args.hidden)
        layer = {"hidden_weights": tuple(map(tuple, w1.tolist())),
                 "hidden_bias": tuple(b1.tolist())}
    else:
        mean, std, w, b = fit_logistic(x, y)
        layer = {}
    fitted = TipCheck(tuple(mean), tuple(std), tuple(w), float(b), 0.0, **layer)
    vx, vy = collect(pipe, args.val_data, args.tip_tolerance)
    scores = fitted.score(vx) if len(vy) else np.zeros(0)
    print(f"fitted on {len(y)} tips ({int(y.sum())} true) from {_names(args.data)}; "
          f"validation: {len(vy)} tips ({int(vy.sum())} true)")
    print("| gate | published | true | false-tip rate |\n|---|---|---|---|")
    for gate in GATES:
        kept = scores >= gate
        rate = 1.0 - vy[kept].mean() if kept.any() else 0.0
        if round(gate * 100) % 10 == 0 or gate >= 0.9:
            print(f"| {gate:.2f} | {int(kept.sum())} | {int(vy[kept].sum())} | {rate:.3f} |")
    chosen = lowest_safe_gate(scores, vy, GATES, args.max_false_rate)
    if chosen is None:
        print(f"no gate keeps a tip with a validation false-tip rate <= {args.max_false_rate:g}"
              "; nothing written")
        return 2
    kept = scores >= chosen
    out = args.out or tip_check_path(weights)
    model = f"one hidden layer of {args.hidden}" if args.hidden > 0 else "logistic regression"
    note = (f"{model} fitted on {_names(args.data)} ({len(y)} tips); min_score chosen on "
            f"{_names(args.val_data)} for a false-tip rate <= {args.max_false_rate:g} (there: "
            f"{int(kept.sum())} tips published, {int(vy[kept].sum())} true, of {len(vy)} "
            "before the check)")
    replace(fitted, min_score=chosen, weights_sha256=sha256_file(weights), note=note).save(out)
    print(f"min_score {chosen:.2f}: {int(kept.sum())} of {len(vy)} validation tips published, "
          f"{int(vy[kept].sum())} true; wrote {out}")
    return 0


def published_tips(pipe, folders: list[Path], tolerance_px: float):
    """Yield ``(wire, result, image, is_true)`` for every tip the pipeline publishes.

    Each annotated sequence of ``folders`` is tracked from a reset pipeline; ``image`` is the
    normalised frame and ``is_true`` whether the tip lies within ``tolerance_px`` of a true tip.
    """
    from tqdm import tqdm

    from franet_core.data import load_folder
    from franet_core.preprocess import normalize_image

    for folder in folders:
        data = load_folder(folder, check=False)
        if not data.annotations:
            raise ValueError(f"{folder}: no annotations.json with wire tips to label tips by")
        for samples in tqdm(data.sequences().values(), desc=folder.name, unit="sequence"):
            pipe.reset()
            for sample in samples:
                result = pipe.process(sample.image)
                image = normalize_image(sample.image)
                tips = [np.asarray(t.tip, dtype=np.float64) for t in sample.wires]
                for wire in result.wires:
                    if wire.tip is not None:
                        yield wire, result, image, any(
                            np.hypot(*(t - wire.tip)) <= tolerance_px for t in tips)


def collect(pipe, folders: list[Path], tolerance_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels (true tip or not) of every tip the pipeline publishes."""
    from franet_core.tip_check import FEATURES, tip_features

    rows, labels = [], []
    for wire, result, image, is_true in published_tips(pipe, folders, tolerance_px):
        rows.append(tip_features(wire, result.probability, result.mask, image))
        labels.append(is_true)
    return (np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES)),
            np.array(labels, dtype=bool))


def _names(folders: list[Path]) -> str:
    return ", ".join(str(f) for f in folders)
