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

"""Training loop for FRA-Net and the baselines: one config, one function, readable top to bottom.

The default :class:`TrainConfig` is the paper's recipe: SGD (lr 1e-3, momentum 0.9, weight decay
5e-4), learning rate halved when validation F1 stops improving, batch 32, augmented focal loss
(alpha 100, gamma 2.5), validation on held-out sequences (simulator seeds never used for
training, or separate data folders).

A run directory holds::

    config.yaml              the resolved TrainConfig (what was actually run)
    last.safetensors/.json   weights + sidecar after the latest epoch (franet_core.checkpoint)
    best.safetensors/.json   weights with the best validation F1 so far
    state.safetensors        everything --resume needs, in ONE file written atomically: model
                             and optimizer tensors, plus JSON scalars (epoch, step, learning-rate
                             state, best F1, GradScaler, history) in the safetensors metadata.
                             No pickle anywhere.
    tb/                      TensorBoard logs

Randomness is a pure function of ``(seed, epoch, rank)``: every epoch reseeds torch and numpy
and draws its sample indices from ``epoch_indices``, so a run resumed after a kill repeats
exactly what the uninterrupted run would have done (on CPU, bit for bit).

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel; the global batch of ``batch_size`` is split over the ranks (each rank
takes its own slice of the same index list); rank 0 validates, broadcasts the F1 so all ranks
update the learning rate alike, and is the only rank that writes files or logs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import logging
import math
import os
from pathlib import Path
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from safetensors import safe_open, SafetensorError
from safetensors.torch import save_file
import torch
from torch import nn
import torch.nn.functional as F

from franet_core import atomic, checkpoint, config as config_io
from franet_core.datasets import WIRE_CROP_PROB
from franet_core.losses import cldice_loss, mark_weights
from franet_core.metrics import METRICS, MetricAccumulator
from franet_core.sim import SimConfig

__all__ = ["OPTIMIZERS", "PlateauState", "TrainConfig", "build_optimizer", "epoch_indices",
           "evaluate", "reduce_on_plateau", "train"]

log = logging.getLogger(__name__)
Dataset = torch.utils.data.Dataset


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; defaults follow the FRA-Net paper (ECAI 2020).

    Data: the simulator (``sim``, seeds ``train_seed`` / ``val_seed``) and/or data folders
    (``data`` for training, ``val_data`` for validation). ``sim_fraction`` is the share of
    training samples drawn from the simulator; None (default) means the simulator only
    without ``data`` and the folders only with it; set e.g. 0.5 to mix them. Validation uses
    ``val_data`` when given, else ``val_frames`` full simulated frames from ``val_seed``.
    ``crop`` (px, multiple of 32) is the side of the random training crops; None trains on
    whole frames. ``wire_crop_prob`` of the crops are centred near a wire pixel, the rest
    placed uniformly; keep it low and crops large, or the wire fraction the loss sees rises
    far above a full frame's and alpha = 100 floods the background (franet_core.datasets).
    ``hard_crop_prob`` of the crops are centred on a distractor the simulator marked (leads,
    catheters, stents, filling vessels: hard negatives; folders carry them in ``hard/``),
    and ``tip_crop_prob`` on a wire's tip (the dense coil and the shaped J/angled end a
    tracker must reach; folders carry tips in ``annotations.json``).
    ``hard_weight`` multiplies the loss of those marked distractor pixels (not wire) in every
    training sample, crop or full frame (1: the paper's loss, unweighted): a hard-negative
    lever that, unlike ``hard_crop_prob``, still acts when training on whole frames;
    ``hard_guard_px`` keeps weight 1 within that many px of the wire (the lumen the wire
    runs in and the vessel past its tip; franet_core.losses.hard_negative_weights).
    ``tip_weight`` multiplies the loss within a few px of every wire tip (wire and background
    alike; franet_core.losses.tip_weights), where the published tip is decided; a pixel both
    near a tip and on a distractor takes the larger weight (franet_core.losses.mark_weights).
    ``cldice_weight`` (0: off, the paper's loss) adds that multiple of the soft clDice loss
    (franet_core.losses.cldice_loss) to the per-pixel loss: a connectivity term that charges
    a wire found in pieces by the length of its gaps, not by their few pixels.
    ``backgrounds`` is the folder holding the real angiograms of the recorded split
    (``franet_core/sim/background_split.yaml``): the simulator composites the "train" files
    behind training wires and the "val" files behind validation wires, with probability
    ``sim.background_prob``; the "test" files are never used here.
    ``init`` is a weights file (safetensors + sidecar) the model starts from: a training
    campaign continues from the last shipped weights this way (ignored on ``--resume``).
    ``select_metric`` is the validation metric (higher is better) that picks ``best`` and
    drives the learning-rate plateau rule; validation scores ``threshold`` and every
    ``val_thresholds`` value and keeps the best (written into the checkpoint's sidecar as
    its threshold: the operating point is chosen on validation data, never on a test set).
    ``time_budget_min`` (wall-clock minutes of this invocation) ends training after the
    first epoch that exceeds it, with the state saved so ``--resume`` continues: a training
    campaign sized to a session or a device lease.
    ``steps_per_epoch`` optimiser steps of ``batch_size`` samples (global, over all ranks)
    make one epoch; validation, learning-rate update and checkpoints happen once per epoch.
    ``loss_config`` holds keyword arguments of ``franet_core.losses.build_loss``; empty means
    the loss's own defaults (augmented focal: alpha 100, gamma 2.5, as in the paper).
    ``optimizer`` is ``sgd`` (the paper: momentum ``momentum``, L2 ``weight_decay``) or
    ``adamw`` (betas (0.9, 0.999), decoupled ``weight_decay``), which reaches a given F1 in
    far fewer steps on a CPU budget; the paper's tables use SGD.
    ``grad_clip_norm`` (None: no clipping, as in the paper) caps the global gradient norm
    before each step, and ``warmup_steps`` ramps the learning rate linearly from 0 over the
    run's first steps (0: none). With alpha = 100 a few wrong wire pixels give a gradient
    hundreds of times the usual one and Adam turns it into a huge step; a run continued
    from ``init`` starts with fresh optimiser moments, the case warm-up is for.
    """

    model: str = "franet"
    model_config: dict[str, Any] = field(default_factory=dict)
    loss: str = "augmented_focal"
    loss_config: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_factor: float = 0.5
    lr_patience: int = 2
    min_lr: float = 1e-6
    grad_clip_norm: float | None = None
    warmup_steps: int = 0
    batch_size: int = 32
    epochs: int = 50
    steps_per_epoch: int = 100
    crop: int | None = 256
    wire_crop_prob: float = WIRE_CROP_PROB
    hard_crop_prob: float = 0.0
    tip_crop_prob: float = 0.0
    hard_weight: float = 1.0
    hard_guard_px: int = 0
    tip_weight: float = 1.0
    cldice_weight: float = 0.0
    sim: SimConfig = SimConfig()
    sim_fraction: float | None = None
    backgrounds: str | None = None
    data: tuple[str, ...] = ()
    val_data: tuple[str, ...] = ()
    train_seed: int = 0
    val_seed: int = 1_000_003
    val_frames: int = 32
    val_batch_size: int = 4
    threshold: float = 0.5
    backbone_weights: str | None = None
    init: str | None = None
    select_metric: str = "f1"
    val_thresholds: tuple[float, ...] = ()
    time_budget_min: float | None = None
    num_workers: int = 0
    seed: int = 0
    amp: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        """Refuse values that cannot train, naming the field."""
        if self.crop is not None and (self.crop <= 0 or self.crop % 32):
            raise ValueError(f"crop must be a positive multiple of 32 px, got {self.crop}")
        for name in ("batch_size", "epochs", "steps_per_epoch", "val_frames", "val_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise ValueError(f"grad_clip_norm must be > 0 or null, got {self.grad_clip_norm}")
        if not self.hard_weight > 0:
            raise ValueError(f"hard_weight must be > 0, got {self.hard_weight}")
        if not self.tip_weight > 0:
            raise ValueError(f"tip_weight must be > 0, got {self.tip_weight}")
        if self.cldice_weight < 0:
            raise ValueError(f"cldice_weight must be >= 0, got {self.cldice_weight}")
        if self.hard_guard_px < 0:
            raise ValueError(f"hard_guard_px must be >= 0 px, got {self.hard_guard_px}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.time_budget_min is not None and not self.time_budget_min > 0:
            raise ValueError(f"time_budget_min must be > 0 minutes or null, "
                             f"got {self.time_budget_min}")
        if self.sim_fraction is not None and not 0.0 <= self.sim_fraction <= 1.0:
            raise ValueError(f"sim_fraction must be in [0, 1] or null, got {self.sim_fraction}")
        if self.train_seed == self.val_seed:
            raise ValueError("train_seed and val_seed must differ (validation on held-out "
                             f"sequences), both are {self.train_seed}")
        if not self.data and self.sim_fraction == 0.0:
            raise ValueError("no training data: give data folders or a sim_fraction > 0")
        for t in (self.threshold, *self.val_thresholds):
            if not 0.0 < t < 1.0:
                raise ValueError(f"threshold and val_thresholds must be in (0, 1), got {t}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        shares = ("wire_crop_prob", "hard_crop_prob", "tip_crop_prob")
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if sum(getattr(self, name) for name in shares) > 1.0:
            raise ValueError(f"{' + '.join(shares)} must be <= 1, got "
                             f"{[getattr(self, name) for name in shares]}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {SELECT_METRICS}, "
                             f"got {self.select_metric!r}")

    @property
    def share_sim(self) -> float:
        """Share of simulated training samples in [0, 1], with None resolved."""
        if self.sim_fraction is None:
            return 0.0 if self.data else 1.0
        return self.sim_fraction

    @property
    def uses_sim(self) -> bool:
        """Whether any training sample comes from the simulator."""
        return self.share_sim > 0.0 or not self.data


#: Optimisers ``TrainConfig.optimizer`` accepts.
OPTIMIZERS = ("sgd", "adamw")
#: Validation metrics that can select the best checkpoint (higher is better).
SELECT_METRICS = tuple(m for m in METRICS if m != "gsp")


def build_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg.optimizer`` at ``cfg.lr`` (see TrainConfig)."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay)


# ----------------------------------------------------------------------------- learning rate
@dataclass(frozen=True)
class PlateauState:
    """Learning-rate schedule state: current lr, best validation F1, epochs without progress."""

    lr: float
    best: float = -math.inf
    bad_epochs: int = 0


def reduce_on_plateau(state: PlateauState, metric: float, *, factor: float, patience: int,
                      min_lr: float, min_delta: float = 1e-4) -> PlateauState:
    """Next schedule state after an epoch scoring ``metric`` (higher is better).

    Same rule as ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="max")`` with an absolute
    threshold: after more than ``patience`` epochs without an improvement of ``min_delta``
    the lr is multiplied by ``factor`` (never below ``min_lr``) and the count restarts.
    """
    if metric > state.best + min_delta:
        return PlateauState(state.lr, metric, 0)
    bad = state.bad_epochs + 1
    if bad > patience:
        return PlateauState(max(state.lr * factor, min_lr), state.best, 0)
    return PlateauState(state.lr, state.best, bad)


# ----------------------------------------------------------------------------- data
def epoch_indices(epoch: int, *, steps: int, batch: int, rank: int = 0, world: int = 1,
                  n_sim: int, n_folder: int, sim_fraction: float, seed: int) -> list[int]:
    """Sample indices of one epoch for one rank, into ``ConcatDataset([sim, *folders])``.

    Simulated samples are fresh every epoch (index ``epoch * steps * batch + k`` of a
    simulator dataset of ``n_sim`` items); folder samples are drawn uniformly with replacement
    from indices ``n_sim .. n_sim + n_folder - 1``. The global list depends only on
    ``(seed, epoch)``; each global batch is split into ``world`` equal slices and rank ``r``
    takes slice ``r`` of every batch.
    """
    if batch % world:
        raise ValueError(f"batch_size {batch} is not divisible by the {world} ranks")
    total = steps * batch
    rng = np.random.default_rng([seed, epoch])
    if n_folder == 0:
        from_sim = np.ones(total, dtype=bool)
    elif n_sim == 0:
        from_sim = np.zeros(total, dtype=bool)
    else:
        from_sim = rng.random(total) < sim_fraction
    sim_idx = (epoch * total + np.arange(total)) % max(n_sim, 1)
    folder_idx = n_sim + rng.integers(0, max(n_folder, 1), size=total)
    idx = np.where(from_sim, sim_idx, folder_idx)
    return idx.reshape(steps, world, batch // world)[:, rank].ravel().tolist()


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, int, list[Any], Dataset]:
    """Return ``(train_set, n_sim, folder_sets, val_set)`` for ``cfg`` (see TrainConfig).

    ``train_set`` is ``ConcatDataset([simulator?, *folder_sets])``; ``n_sim`` is the number
    of simulator items in front (0 without the simulator).
    """
    from franet_core.commands.synth import resolve_backgrounds
    from franet_core.datasets import FolderDataset, SyntheticDataset

    parts: list[Dataset] = []
    n_sim = 0
    # Training targets carry the distractor and tip marks when the loss weighs them.
    with_marks = cfg.hard_weight != 1.0 or cfg.tip_weight != 1.0
    if cfg.uses_sim:
        n_sim = cfg.epochs * cfg.steps_per_epoch * cfg.batch_size
        train_bg = resolve_backgrounds(cfg.backgrounds, "train") if cfg.backgrounds else None
        parts.append(SyntheticDataset(cfg.sim, cfg.train_seed, n_sim, crop=cfg.crop,
                                      backgrounds=train_bg, wire_crop_prob=cfg.wire_crop_prob,
                                      hard_crop_prob=cfg.hard_crop_prob,
                                      tip_crop_prob=cfg.tip_crop_prob, with_marks=with_marks))
    folders = [FolderDataset(p, crop=cfg.crop, augment=True, seed=cfg.seed,
                             wire_crop_prob=cfg.wire_crop_prob,
                             hard_crop_prob=cfg.hard_crop_prob, tip_crop_prob=cfg.tip_crop_prob,
                             check=False, with_marks=with_marks) for p in cfg.data]
    parts += folders
    if cfg.val_data:
        val: Dataset = torch.utils.data.ConcatDataset(
            [FolderDataset(p, crop=None, augment=False) for p in cfg.val_data])
    elif cfg.uses_sim:
        val_bg = resolve_backgrounds(cfg.backgrounds, "val") if cfg.backgrounds else None
        val = SyntheticDataset(cfg.sim, cfg.val_seed, cfg.val_frames, crop=None,
                               backgrounds=val_bg)
    else:
        raise ValueError("no validation data: give val_data folders (held-out sequences) or "
                         "use the simulator")
    return torch.utils.data.ConcatDataset(parts), n_sim, folders, val


# ----------------------------------------------------------------------------- evaluation
def pad_to_multiple(images: torch.Tensor, multiple: int = 32) -> torch.Tensor:
    """Zero-pad (N, C, H, W) at the bottom/right so H and W are multiples of ``multiple``."""
    h, w = images.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(images, (0, pw, 0, ph)) if ph or pw else images


def evaluate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device | str, threshold: float = 0.5, sweep: Sequence[float] = (),
             select: str = "f1") -> dict[str, float]:
    """Mean per-frame metrics of ``model`` on ``batches`` at its best validation threshold.

    Every frame is scored at ``threshold`` and at each of ``sweep``; the returned dict holds
    the means (precision, sensitivity, F1, GSP px, relaxed precision/recall/F1) at the
    threshold with the highest mean ``select``, and that ``"threshold"``. A loss like the
    augmented focal loss (alpha 100) calibrates its probabilities far from 0.5, so comparing
    checkpoints or recipes at one fixed threshold would rank their calibration, not their
    segmentation. ``batches`` yields ``(images (N,1,H,W) float32 [0,1], masks (N,1,H,W)
    {0,1})``; images are zero-padded to multiples of 32 and the logits cropped back. Runs
    under inference_mode and restores the model's train/eval mode afterwards.
    """
    thresholds = sorted({float(threshold), *map(float, sweep)})
    was_training = model.training
    model.eval()
    accs = {t: MetricAccumulator() for t in thresholds}
    try:
        with torch.inference_mode():
            for images, masks in batches:
                h, w = images.shape[-2:]
                logits = model(pad_to_multiple(images.to(device)))[..., :h, :w]
                probs = torch.sigmoid(logits.float()).cpu().numpy()[:, 0]
                for prob, gt in zip(probs, masks.numpy()[:, 0]):
                    for t, acc in accs.items():
                        acc.update(prob > t, gt)
    finally:
        model.train(was_training)
    scores = {t: {name: s["mean"] for name, s in acc.aggregate()["overall"].items()}
              for t, acc in accs.items()}
    best = max(thresholds, key=lambda t: (scores[t][select], -abs(t - threshold)))
    return {**scores[best], "threshold": best}


# ----------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_hint: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and device_hint in ("auto", "cuda")
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _broadcast_float(value: float, dist_env: _Dist, device: torch.device) -> float:
    if dist_env.world == 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:<local_rank>`` when CUDA is available, else CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    return torch.device(name)


# ----------------------------------------------------------------------------- checkpoints
def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, st in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scalars: dict[str, Any]) -> None:
    """Write model + optimizer tensors and JSON ``scalars`` to ``path`` atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous()
               for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    meta = json.dumps({**scalars, "optimizer": opt_meta})
    with atomic.replacing(path) as tmp:
        save_file(tensors, str(tmp), metadata={"franet_state": meta})


def load_training_state(path: Path, model: nn.Module,
                        optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model and optimizer from :func:`save_training_state`; return the scalars.

    A truncated, empty or foreign file, one from a run with another model or optimizer, or
    one with non-finite weights is a ValueError saying so; model and optimizer may then be
    half-restored and must not be used.
    """
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} not found (was the run started?)")
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("franet_state", "null"))
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot resume: truncated, empty or not a safetensors file "
                         f"({exc})") from exc
    missing = sorted({"epoch", "step", "history", "schedule", "optimizer"}
                     - set(meta if isinstance(meta, dict) else ()))
    if missing:
        raise ValueError(f"{path}: cannot resume: not a franet training state (its "
                         f"'franet_state' metadata lacks {missing})")
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    checkpoint.check_finite(weights, where=str(path))
    try:
        model.load_state_dict(weights)
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta.pop("optimizer")))
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot resume: this state does not fit the run's model and "
                         f"optimizer in config.yaml ({' '.join(str(exc).split())[:300]})"
                         ) from exc
    return meta


def _save_weights(path: Path, model: nn.Module, cfg: TrainConfig, epoch: int,
                  metrics: dict[str, float]) -> None:
    # Atomic per file, sidecar last, both sharing a pair ID the reader checks (checkpoint).
    checkpoint.save_weights(path, model.state_dict(), {
        "model": cfg.model, "model_config": dict(cfg.model_config),
        "threshold": metrics.get("threshold", cfg.threshold),
        "input_size": None, "epoch": epoch, "metrics": metrics,
        "trained_with": {"loss": cfg.loss, "crop": cfg.crop, "sim_kind": cfg.sim.kind}})


# ----------------------------------------------------------------------------- the loop
def _seed_everything(seed: int, epoch: int, rank: int) -> None:
    torch.manual_seed(seed * 1_000_003 + epoch * 1009 + rank)
    np.random.seed((seed * 7919 + epoch * 31 + rank) % 2**32)


def _worker_init(worker_id: int) -> None:
    np.random.seed(torch.initial_seed() % 2**32)


@dataclass
class _Run:
    """The mutable state of one training run (what ``state.safetensors`` holds)."""

    model: nn.Module
    net: nn.Module                    # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # per pixel (no reduction)
    device: torch.device
    dist: _Dist
    sched: PlateauState
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _init_model(cfg: TrainConfig, model: nn.Module) -> None:
    """Load ``cfg.init`` (a weights file of the same model and config) into ``model``."""
    state, meta = checkpoint.load_weights(cfg.init)
    if meta["model"] != cfg.model or dict(meta.get("model_config", {})) != dict(cfg.model_config):
        raise ValueError(f"init weights {cfg.init} are for {meta['model']} "
                         f"{meta.get('model_config', {})}, not {cfg.model} {cfg.model_config}")
    model.load_state_dict(state)
    log.info("initialised from %s (epoch %s of its run)", cfg.init, meta.get("epoch"))


def _start(cfg: TrainConfig, out: Path, resume: bool) -> _Run:
    """Build model, optimiser, scaler and loss; restore them from ``out`` with ``resume``."""
    from franet_core.losses import build_loss
    from franet_core.models import build_model, load_backbone_weights

    dist_env = _init_distributed(cfg.device)
    device = resolve_device(cfg.device, dist_env.local_rank)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = build_model(cfg.model, **cfg.model_config).to(device)
    if cfg.backbone_weights and not resume:
        report = load_backbone_weights(model, cfg.backbone_weights)
        log.info("backbone weights from %s: %s", cfg.backbone_weights, report.summary())
    if cfg.init and not resume:
        _init_model(cfg, model)
    optimizer = build_optimizer(cfg, model.parameters())
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    # Per-pixel losses, weighted (hard_weight, tip_weight) and averaged in _train_epoch.
    loss_fn = build_loss(cfg.loss, **{**cfg.loss_config, "reduction": "none"})
    run = _Run(model, model, optimizer, scaler, loss_fn, device, dist_env, PlateauState(cfg.lr))
    if resume:
        meta = load_training_state(out / "state.safetensors", model, optimizer)
        run.sched = PlateauState(**meta["schedule"])
        run.epoch, run.step, run.history = meta["epoch"], meta["step"], meta["history"]
        if meta.get("scaler"):
            scaler.load_state_dict(meta["scaler"])
    if dist_env.world > 1:
        run.net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    return run


def _train_epoch(cfg: TrainConfig, run: _Run, train_set: Dataset, n_sim: int,
                 folder_sets: list[Any], writer: Any, progress: bool) -> list[float]:
    """One epoch of ``cfg.steps_per_epoch`` optimiser steps; returns the step losses."""
    from tqdm import tqdm

    epoch, dist_env, device = run.epoch, run.dist, run.device
    for group in run.optimizer.param_groups:
        group["lr"] = run.sched.lr
    _seed_everything(cfg.seed, epoch, dist_env.rank)
    for folder_set in folder_sets:
        folder_set.set_epoch(epoch)
    indices = epoch_indices(epoch, steps=cfg.steps_per_epoch, batch=cfg.batch_size,
                            rank=dist_env.rank, world=dist_env.world, n_sim=n_sim,
                            n_folder=sum(len(f) for f in folder_sets),
                            sim_fraction=cfg.share_sim, seed=cfg.seed)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=cfg.batch_size // dist_env.world, sampler=indices,
        num_workers=cfg.num_workers, worker_init_fn=_worker_init,
        generator=torch.Generator().manual_seed(cfg.seed * 1009 + epoch),
        pin_memory=device.type == "cuda", persistent_workers=False)
    run.net.train()
    losses: list[float] = []
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
               disable=not (progress and dist_env.main), dynamic_ncols=True)
    for images, masks in bar:
        images, masks = images.to(device), masks.to(device)
        with torch.autocast(device_type=device.type, dtype=torch.float16,
                            enabled=run.scaler.is_enabled()):
            logits = run.net(images)
        target = masks[:, :1]
        pixel_loss = run.loss_fn(logits.float(), target)
        if masks.shape[1] > 1:  # with_marks datasets: distractor and tip marks weigh more
            hard, tips = masks[:, 1:2], masks[:, 2:3]
            pixel_loss = pixel_loss * mark_weights(target, hard, tips, cfg.hard_weight,
                                                   cfg.hard_guard_px, cfg.tip_weight)
        loss = pixel_loss.mean()
        if cfg.cldice_weight:
            loss = loss + cfg.cldice_weight * cldice_loss(logits, target)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if run.step < cfg.warmup_steps:  # linear warm-up; factor 1 at its last step
            for group in run.optimizer.param_groups:
                group["lr"] = run.sched.lr * (run.step + 1) / cfg.warmup_steps
        if cfg.grad_clip_norm is not None:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.net.parameters(), cfg.grad_clip_norm)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.step += 1
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4g}")
        if writer is not None:
            writer.add_scalar("train/loss", losses[-1], run.step)
    return losses


def _check_finite(run: _Run, losses: list[float]) -> None:
    """Stop with a clear message when training diverged (NaN/Inf loss or weights)."""
    bad = [k for k, v in run.model.state_dict().items()
           if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad or not np.all(np.isfinite(losses)):
        raise FloatingPointError(
            f"training diverged in epoch {run.epoch + 1}: "
            + (f"non-finite weights in {bad[:3]}" if bad else "non-finite loss")
            + f" (lr {run.sched.lr:g}); no checkpoint of this epoch was written - lower the "
            "learning rate or resume from the last good state")


def _end_epoch(cfg: TrainConfig, run: _Run, out: Path, val_loader: Any, losses: list[float],
               train_s: float, writer: Any) -> dict[str, Any]:
    """Validate, update the lr schedule, write checkpoints and logs; return the record."""
    _check_finite(run, losses)
    main = run.dist.main
    val = evaluate(run.model, val_loader, run.device, cfg.threshold, cfg.val_thresholds,
                   cfg.select_metric) if main else {}
    score = _broadcast_float(val.get(cfg.select_metric, 0.0), run.dist, run.device)
    is_best = score > run.sched.best
    record = {"epoch": run.epoch + 1, "step": run.step, "lr": run.sched.lr,
              "loss": float(np.mean(losses)), "train_s": train_s,
              "s_per_step": train_s / len(losses), **{f"val_{k}": v for k, v in val.items()}}
    run.sched = reduce_on_plateau(run.sched, score, factor=cfg.lr_factor,
                                  patience=cfg.lr_patience, min_lr=cfg.min_lr)
    run.history.append(record)
    run.epoch += 1
    if not main:
        return record
    _save_weights(out / "last.safetensors", run.model, cfg, run.epoch, val)
    if is_best:
        _save_weights(out / "best.safetensors", run.model, cfg, run.epoch, val)
    save_training_state(out / "state.safetensors", run.model, run.optimizer, {
        "epoch": run.epoch, "step": run.step, "history": run.history,
        "schedule": {"lr": run.sched.lr, "best": run.sched.best,
                     "bad_epochs": run.sched.bad_epochs},
        "scaler": run.scaler.state_dict()})
    for key, value in record.items():
        if key not in ("epoch", "step") and value is not None and np.isfinite(value):
            writer.add_scalar(f"epoch/{key}", value, run.epoch)
    writer.flush()
    log.info("epoch %d/%d  step %d  loss %.4g  val %s %.4f at threshold %.2f  (F1 %.4f  P "
             "%.4f  S %.4f  GSP %.3f px  relaxed F1 %.4f)  lr %.3g  %.1f s (%.3f s/step)%s",
             run.epoch, cfg.epochs, run.step, record["loss"], cfg.select_metric, score,
             val["threshold"], val["f1"], val["precision"], val["sensitivity"], val["gsp"],
             val["relaxed_f1"], record["lr"], train_s, record["s_per_step"],
             "  *best*" if is_best else "")
    return record


def train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False,
          progress: bool = True, on_epoch: Callable[[dict[str, Any]], None] | None = None
          ) -> dict[str, Any]:
    """Train ``cfg`` into ``out_dir``; return ``{"best_f1", "epochs", "history", ...}``.

    With ``resume`` the model, optimizer, schedule and epoch counter are restored from
    ``out_dir/state.safetensors`` and training continues with the next epoch. ``best_f1``
    is the best validation ``cfg.select_metric``.
    """
    from torch.utils.tensorboard import SummaryWriter

    out = Path(out_dir)
    run = _start(cfg, out, resume)
    train_set, n_sim, folder_sets, val_set = build_datasets(cfg)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=cfg.val_batch_size)
    writer = None
    if run.dist.main:
        out.mkdir(parents=True, exist_ok=True)
        config_io.save_file(cfg, out / "config.yaml")
        writer = SummaryWriter(str(out / "tb"))
    started = time.perf_counter()
    while run.epoch < cfg.epochs:
        if cfg.time_budget_min is not None and \
                time.perf_counter() - started > 60.0 * cfg.time_budget_min:
            log.info("time budget of %.1f min spent after epoch %d; --resume continues",
                     cfg.time_budget_min, run.epoch)
            break
        t0 = time.perf_counter()
        losses = _train_epoch(cfg, run, train_set, n_sim, folder_sets, writer, progress)
        record = _end_epoch(cfg, run, out, val_loader, losses, time.perf_counter() - t0, writer)
        if on_epoch is not None:
            on_epoch(record)
    if writer is not None:
        writer.close()
    key = f"val_{cfg.select_metric}"
    best = max((r.get(key, 0.0) for r in run.history), default=float("nan"))
    return {"best_f1": best, "epochs": len(run.history), "history": run.history,
            "model": run.model}
