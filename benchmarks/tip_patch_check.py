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

"""Could a small CNN that sees the tip tell true tips from false ones? Prints figures.

An exploration for the tip check (franet_core.tip_check), not a shipped component. Every tip
the pipeline publishes with the check off is labelled true (within 5 px of a true tip) or
false; for each, a patch of the normalised frame and of the probability map is sampled,
rotated so that the tip direction points along the patch (``BEHIND`` px behind the tip,
``AHEAD`` past it, ±``HALF`` across; (x, y) px, x right, y down). A CNN over the patches and
the check's 13 cues is trained on the --fit folders' tips, its gate chosen on the --gate
folders' tips (lowest with a false-tip rate <= 1 %) and applied to the --test folders' tips;
the shipped logistic check is scored the same way beside it. Use validation folders only.

Usage (session 13, docs/results.md)::

  python benchmarks/tip_patch_check.py --fit runs/cache/calib1{1,2,3,4} \\
      --gate runs/cache/valk_* runs/cache/val{3,4,5,6} runs/cache/val_long{,2,3} \\
      --test runs/cache/valpool
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.stats import rankdata
from torch import nn
from tqdm import tqdm

from franet_core.checkpoint import DEFAULT_WEIGHTS
from franet_core.commands.tipcheck import published_tips
from franet_core.pipeline import FramePipeline, PipelineConfig
from franet_core.tip_check import lowest_safe_gate, TipCheck, tip_check_path, tip_features

BEHIND, AHEAD, HALF = 32, 32, 24  # patch extent around the tip, px
MAX_FALSE_RATE = 0.01
TIP_TOLERANCE_PX = 5.0
GATES = np.round(np.arange(0.0, 1.0, 0.005), 3)


def oriented_patch(values: np.ndarray, tip: np.ndarray, angle: float) -> np.ndarray:
    """(2·HALF, BEHIND + AHEAD) bilinear samples of ``values``, the tip direction along axis 1."""
    d = np.array([np.cos(angle), np.sin(angle)])
    n = np.array([-d[1], d[0]])
    along = np.arange(-BEHIND, AHEAD, 1.0)
    across = np.arange(-HALF, HALF, 1.0)
    pts = tip + along[None, :, None] * d + across[:, None, None] * n
    return ndi.map_coordinates(values, [pts[..., 1], pts[..., 0]], order=1, mode="nearest")


def collect(pipe: FramePipeline, folders: list[Path]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cues (N, 13), labels (N,), patches (N, 2, 2·HALF, BEHIND + AHEAD)) of published tips."""
    cues, labels, patches = [], [], []
    for wire, result, image, is_true in published_tips(pipe, folders, TIP_TOLERANCE_PX):
        tip = np.asarray(wire.tip, dtype=np.float64)
        angle = wire.tip_angle if wire.tip_angle is not None else 0.0
        level, spread = float(np.median(image)), float(image.std()) + 1e-3
        cues.append(tip_features(wire, result.probability, result.mask, image))
        labels.append(is_true)
        patches.append(np.stack([
            np.clip((oriented_patch(image, tip, angle) - level) / spread, -8, 8),
            oriented_patch(result.probability, tip, angle)]))
    return (np.asarray(cues), np.asarray(labels, dtype=bool),
            np.asarray(patches, dtype=np.float32))


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))


class PatchNet(nn.Module):
    """Three conv blocks over the 2-channel patch, pooled, then a head that adds the cues."""

    def __init__(self, n_cues: int, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(_block(2, width), _block(width, 2 * width),
                                  _block(2 * width, 4 * width))
        self.head = nn.Sequential(nn.Linear(4 * width + n_cues, 32), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(32, 1))

    def forward(self, patches: torch.Tensor, cues: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.conv(patches).mean((2, 3)), cues], 1))[:, 0]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged)."""
    ranks = rankdata(scores)
    n1 = labels.sum()
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(labels) - n1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, what in (("fit", "train the CNN on"), ("gate", "choose each gate on"),
                       ("test", "report on")):
        parser.add_argument(f"--{name}", type=Path, nargs="+", required=True,
                            help=f"annotated folders to {what}")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    pipe = FramePipeline.from_weights(str(DEFAULT_WEIGHTS), "torch", "cpu",
                                      PipelineConfig(threshold=None), tip_check=None)
    (x, y, p), gate_set, test_set = (collect(pipe, f) for f in (args.fit, args.gate, args.test))
    mean, std = x.mean(0), x.std(0) + 1e-9
    net = PatchNet(x.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    cues, patches = torch.tensor((x - mean) / std, dtype=torch.float32), torch.tensor(p)
    target = torch.tensor(y, dtype=torch.float32)
    for _ in tqdm(range(args.epochs), desc="fit", unit="epoch"):
        net.train()
        for batch in torch.randperm(len(y)).split(64):
            pb = patches[batch].clone()
            flip = torch.rand(len(batch)) < 0.5
            pb[flip] = pb[flip].flip(2)  # a mirror image across the wire is as likely
            pb[:, 0] *= 0.8 + 0.4 * torch.rand(len(batch), 1, 1)  # contrast
            loss = nn.functional.binary_cross_entropy_with_logits(net(pb, cues[batch]),
                                                                  target[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()

    def cnn(xs: np.ndarray, ps: np.ndarray) -> np.ndarray:
        c, q = torch.tensor((xs - mean) / std, dtype=torch.float32), torch.tensor(ps)
        with torch.no_grad():  # average over the patch and its mirror image
            return torch.sigmoid((net(q, c) + net(q.flip(2), c)) / 2).numpy()

    logistic = TipCheck.load(tip_check_path(DEFAULT_WEIGHTS))
    print(f"fit: {len(y)} tips ({int(y.sum())} true); gate: {len(gate_set[1])} "
          f"({int(gate_set[1].sum())}); test: {len(test_set[1])} ({int(test_set[1].sum())})")
    print("| check | AUC (test) | gate (on --gate) | published (test) | true | false-tip rate |")
    print("|---|---|---|---|---|---|")
    for name, score in (("shipped logistic", lambda xs, ps: logistic.score(xs)), ("CNN", cnn)):
        gate = lowest_safe_gate(score(gate_set[0], gate_set[2]), gate_set[1], GATES,
                                MAX_FALSE_RATE)
        s, labels = score(test_set[0], test_set[2]), test_set[1]
        kept = s >= gate if gate is not None else np.zeros(len(s), dtype=bool)
        rate = 1.0 - labels[kept].mean() if kept.any() else 0.0
        shown = f"{gate:.3f}" if gate is not None else "none safe"
        print(f"| {name} | {auc(labels, s):.3f} | {shown} | {int(kept.sum())} | "
              f"{int(labels[kept].sum())} | {rate:.3f} |")


if __name__ == "__main__":
    main()
