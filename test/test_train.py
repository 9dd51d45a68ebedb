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

"""Training loop: learning, checkpoints, exact resume, determinism, DDP on CPU with gloo."""
import dataclasses
import os
import socket

import cv2
import numpy as np
import pytest
import torch

from franet_core import checkpoint, config as config_io
from franet_core.train import (epoch_indices, PlateauState, reduce_on_plateau, train,
                               TrainConfig)

TINY_MODEL = {"width_mult": 0.25, "t": 1, "bottleneck_channels": 16,
              "decoder_channels": [8, 8, 8, 8, 8]}


def tiny_config(**kw) -> TrainConfig:
    from franet_core.sim import SimConfig

    base = {"model": "franet", "model_config": TINY_MODEL, "sim": SimConfig(size=64),
            "crop": 64, "batch_size": 4, "epochs": 2, "steps_per_epoch": 2, "val_frames": 2,
            "val_batch_size": 2, "lr": 0.01, "device": "cpu", "seed": 3}
    base.update(kw)
    return TrainConfig(**base)


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_plateau_rule_matches_torch_reduce_lr_on_plateau():
    scores = [0.1, 0.2, 0.2, 0.2, 0.2, 0.25, 0.25, 0.25, 0.25, 0.25, 0.3, 0.3]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1e-3)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=2,
                                                     threshold=1e-4, threshold_mode="abs",
                                                     min_lr=1e-6)
    state = PlateauState(1e-3)
    for score in scores:
        ref.step(score)
        state = reduce_on_plateau(state, score, factor=0.5, patience=2, min_lr=1e-6)
        assert state.lr == pytest.approx(opt.param_groups[0]["lr"])
    assert state.lr < 1e-3  # the sequence does trigger reductions


def test_epoch_indices_split_over_ranks_and_fresh_each_epoch():
    kw = {"steps": 3, "batch": 4, "n_sim": 1000, "n_folder": 0, "sim_fraction": 1.0, "seed": 0}
    one = epoch_indices(1, **kw)
    r0 = epoch_indices(1, rank=0, world=2, **kw)
    r1 = epoch_indices(1, rank=1, world=2, **kw)
    assert sorted(r0 + r1) == sorted(one)
    assert r0[:2] + r1[:2] == one[:4]  # each global batch is split, not the epoch
    assert not set(one) & set(epoch_indices(0, **kw))
    mixed = epoch_indices(0, steps=50, batch=4, n_sim=10_000, n_folder=5, sim_fraction=0.5,
                          seed=0)
    folder = [i for i in mixed if i >= 10_000]
    assert 60 < len(folder) < 140 and max(folder) < 10_005
    with pytest.raises(ValueError, match="divisible"):
        epoch_indices(0, steps=1, batch=3, world=2, n_sim=10, n_folder=0, sim_fraction=1.0,
                      seed=0)


def test_config_refuses_bad_values_and_overlapping_seeds():
    with pytest.raises(ValueError, match="train_seed and val_seed"):
        TrainConfig(train_seed=5, val_seed=5)
    with pytest.raises(ValueError, match="crop"):
        TrainConfig(crop=100)
    with pytest.raises(ValueError, match="unknown key"):
        config_io.from_dict(TrainConfig, {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="wire_crop_prob"):
        tiny_config(wire_crop_prob=1.5)
    cfg = TrainConfig()
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.batch_size) == (1e-3, 0.9, 5e-4, 32)
    assert (cfg.lr_factor, cfg.loss) == (0.5, "augmented_focal")


class _BrightIsWire(torch.nn.Module):
    """Stand-in network with a known answer: logit 20 (x - 0.5), wire where x > 0.5."""

    def forward(self, x):
        return 20.0 * (x - 0.5)


def _validation_frames():
    """Two 40x50 frames (not multiples of 32) with hand-counted TP/FP/FN at threshold 0.5.

    Frame 0: a 2x40 wire, the prediction misses its first 3 columns (FN 6, TP 74) and adds
    a dim 2x5 blob (x = 0.55, probability 0.73, FP 10). Frame 1: a 1-px wire in the last
    column before the padding, its top 4 px not predicted (TP 32, FN 4).
    """
    images = np.full((2, 1, 40, 50), 0.2, np.float32)
    masks = np.zeros((2, 1, 40, 50), np.float32)
    masks[0, 0, 10:12, 5:45] = 1
    images[0, 0, 10:12, 8:45] = 0.9
    images[0, 0, 30:32, 0:5] = 0.55
    masks[1, 0, 2:38, 49] = 1
    images[1, 0, 6:38, 49] = 0.9
    return torch.from_numpy(images), torch.from_numpy(masks)


def _gsp_by_brute_force(pred, gt):
    """Mean distance from each skeleton pixel of ``gt`` to the nearest ``pred`` pixel."""
    from skimage.morphology import skeletonize

    pts = np.argwhere(skeletonize(gt > 0))
    fg = np.argwhere(pred)
    return float(np.mean([np.min(np.hypot(*(fg - p).T)) for p in pts]))


def test_validation_scores_a_known_prediction_exactly():
    """``evaluate`` on a network whose prediction is known: every metric by hand.

    Two batches of one frame each, so the mean is over frames, not over batches of pixels.
    """
    from franet_core.train import evaluate

    images, masks = _validation_frames()
    model = _BrightIsWire().train()
    batches = [(images[:1], masks[:1]), (images[1:], masks[1:])]
    got = evaluate(model, batches, "cpu")
    assert model.training  # the caller's mode is restored
    expected = {"precision": (74 / 84 + 1.0) / 2, "sensitivity": (74 / 80 + 32 / 36) / 2,
                "f1": (148 / 164 + 64 / 68) / 2}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    pred = images.numpy()[:, 0] > 0.5
    gsp = np.mean([_gsp_by_brute_force(p, g) for p, g in zip(pred, masks.numpy()[:, 0])])
    assert gsp > 0.1 and got["gsp"] == pytest.approx(gsp, abs=1e-9)
    # A stricter threshold drops the dim blob (probability 0.73): frame 0 loses its FPs.
    strict = evaluate(model, batches, "cpu", threshold=0.8)
    assert strict["precision"] == pytest.approx(1.0)
    assert strict["f1"] == pytest.approx((148 / 154 + 64 / 68) / 2, abs=1e-12)


def test_best_checkpoint_is_the_epoch_validation_scored_highest(tmp_path, monkeypatch):
    """Validation F1 scripted per epoch (0.2, 0.6, 0.4, 0.5): best.safetensors is epoch 2.

    Also checks that train hands ``evaluate`` the configured validation frames, and that
    the scripted scores are what the history and the plateau schedule see.
    """
    import franet_core.train as train_module

    scores = iter([0.2, 0.6, 0.4, 0.5])
    seen = []

    def scripted(model, batches, device, threshold=0.5, sweep=(), select="f1"):
        seen.append(sum(len(images) for images, _ in batches))
        f1 = next(scores)
        return {"precision": f1, "sensitivity": f1, "f1": f1, "gsp": 1.0,
                "relaxed_precision": f1, "relaxed_recall": f1, "relaxed_f1": f1,
                "threshold": threshold}

    monkeypatch.setattr(train_module, "evaluate", scripted)
    cfg = tiny_config(epochs=4, steps_per_epoch=1, val_frames=3, lr_patience=0)
    result = train(cfg, tmp_path, progress=False)
    assert seen == [3, 3, 3, 3]
    assert [r["val_f1"] for r in result["history"]] == [0.2, 0.6, 0.4, 0.5]
    assert result["best_f1"] == 0.6
    _, best = checkpoint.load_weights(tmp_path / "best.safetensors")
    _, last = checkpoint.load_weights(tmp_path / "last.safetensors")
    assert (best["epoch"], best["metrics"]["f1"], last["epoch"]) == (2, 0.6, 4)
    # Patience 0: the first epoch without improvement (3) halves the rate for epoch 4.
    lrs = [r["lr"] for r in result["history"]]
    assert lrs[:3] == [cfg.lr] * 3 and lrs[3] == pytest.approx(cfg.lr * cfg.lr_factor)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny runs: 2 epochs, the same again, and 1 epoch then --resume to 2."""
    root = tmp_path_factory.mktemp("runs")
    cfg = tiny_config()
    full = train(cfg, root / "full", progress=False)
    again = train(cfg, root / "again", progress=False)
    train(dataclasses.replace(cfg, epochs=1), root / "split", progress=False)
    resumed = train(cfg, root / "split", resume=True, progress=False)
    return root, cfg, full, again, resumed


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_loss_decreases_when_fitting_a_fixed_folder(tmp_path, optimizer):
    """Three frames seen again and again: the epoch loss must fall clearly, for both optimisers.

    (Fresh simulated frames every step, as in ``runs``, make a 2-step loss curve noise.)"""
    from franet_core.data import write_data_folder
    from franet_core.sim import SimConfig, Simulator

    write_data_folder(tmp_path / "data", [Simulator(SimConfig(size=64), seed=5).sequence(3)])
    cfg = tiny_config(epochs=4, steps_per_epoch=4, batch_size=3, crop=None,
                      optimizer=optimizer, lr=0.01 if optimizer == "sgd" else 0.003,
                      data=(str(tmp_path / "data"),), val_data=(str(tmp_path / "data"),))
    losses = [r["loss"] for r in train(cfg, tmp_path / "run", progress=False)["history"]]
    assert losses[-1] < 0.8 * losses[0], losses


def test_deterministic_on_cpu(runs):
    _, _, full, again, _ = runs
    assert _same(_params(full["model"]), _params(again["model"]))
    assert [r["loss"] for r in full["history"]] == [r["loss"] for r in again["history"]]


def test_resume_matches_uninterrupted_run(runs):
    _, _, full, _, resumed = runs
    assert resumed["history"][-1]["step"] == full["history"][-1]["step"] == 4
    assert _same(_params(full["model"]), _params(resumed["model"]))
    assert [r["loss"] for r in resumed["history"]] == [r["loss"] for r in full["history"]]


def test_checkpoint_round_trip(runs):
    root, cfg, full, _, _ = runs
    run = root / "full"
    for name in ("config.yaml", "last.safetensors", "last.json", "best.safetensors",
                 "state.safetensors"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    assert config_io.from_dict(TrainConfig, config_io.load_file(run / "config.yaml")) == cfg
    model, meta = checkpoint.load_model(run / "last.safetensors", expect_model="franet")
    assert meta["epoch"] == 2 and 0.0 <= meta["metrics"]["f1"] <= 1.0
    x = torch.rand(2, 1, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(x), full["model"].eval()(x))
    best = max(full["history"], key=lambda r: r["val_f1"])
    _, best_meta = checkpoint.load_weights(run / "best.safetensors")
    assert best_meta["epoch"] == best["epoch"]


def test_resume_without_state_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="state.safetensors"):
        train(tiny_config(epochs=1), tmp_path / "nothing", resume=True, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    from safetensors.torch import save_file

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    try:
        result = train(tiny_config(epochs=1, steps_per_epoch=2), out, progress=False)
        params = {k: v.detach().contiguous() for k, v in result["model"].named_parameters()}
        save_file(params, os.path.join(out, f"rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


def test_ddp_gloo_two_processes_end_with_identical_weights(tmp_path):
    from safetensors.torch import load_file

    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2)
    w0 = load_file(str(tmp_path / "rank0.safetensors"))
    w1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert _same(w0, w1)
    assert (tmp_path / "last.safetensors").is_file()  # rank 0 wrote the checkpoint
    init = _params(_build_initial())
    assert any(not torch.equal(w0[k], init[k]) for k in w0)  # training moved the weights
    assert not np.isnan(sum(float(v.sum()) for v in w0.values()))


def _build_initial():
    from franet_core.models import build_model

    torch.manual_seed(tiny_config().seed)
    return build_model("franet", **TINY_MODEL)


def test_cli_config_layers(tmp_path):
    from franet_core.cli import build_parser
    from franet_core.commands.train import resolve_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("epochs: 7\nlr: 0.01\nsim: {kind: mono}\n")
    args = build_parser().parse_args(["train", "--config", str(cfg_file), "--lr", "0.02",
                                      "--set", "sim.kind=dual", "model_config.t=2",
                                      "--crop", "96", "--out", str(tmp_path / "r"),
                                      "--set", "seed=5", "--init", "w.safetensors"])
    cfg = resolve_config(args)
    # a second --set adds to the first instead of replacing it
    assert (cfg.epochs, cfg.lr, cfg.sim.kind, cfg.model_config, cfg.crop, cfg.seed) == (
        7, 0.02, "dual", {"t": 2}, 96, 5)
    assert cfg.init == "w.safetensors"
    bad = build_parser().parse_args(["train", "--set", "sim.colour=red"])
    with pytest.raises(ValueError, match="colour"):
        resolve_config(bad)


def test_trains_from_data_folders_without_the_simulator(tmp_path):
    from franet_core.data import write_data_folder
    from franet_core.sim import SimConfig, Simulator

    sim = Simulator(SimConfig(size=64, kind="mono"), seed=11)
    write_data_folder(tmp_path / "train", [sim.sequence(3)])
    write_data_folder(tmp_path / "val", [sim.sequence(2)])
    cfg = tiny_config(epochs=1, data=(str(tmp_path / "train"),),
                      val_data=(str(tmp_path / "val"),))
    assert not cfg.uses_sim and cfg.share_sim == 0.0
    result = train(cfg, tmp_path / "run", progress=False)
    assert result["epochs"] == 1 and np.isfinite(result["history"][0]["loss"])
    assert tiny_config(data=("x",), sim_fraction=0.5).uses_sim


def test_marks_travel_with_the_wire_and_weigh_in_the_loss(tmp_path):
    """``hard_weight`` or ``tip_weight`` != 1: training targets carry the distractor marks and
    the tip disks as channels 2 and 3, cropped and augmented exactly like the wire, and the
    weighted loss differs from the paper's. (The distractor marks are replaced by copies of
    the wire masks, so any misalignment from cropping, flips, rotations or the affine warp
    would show as unequal channels; each tip disk must hold the wire's distal end.)"""
    import shutil

    from franet_core.data import write_data_folder
    from franet_core.datasets import TIP_MARK_RADIUS, FolderDataset, SyntheticDataset
    from franet_core.sim import SimConfig, Simulator

    sim = Simulator(SimConfig(size=64, kind="mono"), seed=12)
    names = write_data_folder(tmp_path / "train", [sim.sequence(3)])
    shutil.rmtree(tmp_path / "train" / "hard", ignore_errors=True)
    unmarked = FolderDataset(tmp_path / "train", crop=32, augment=True, with_marks=True)[0][1]
    assert unmarked.shape == (3, 32, 32) and not unmarked[1].any()  # a folder without hard/
    (tmp_path / "train" / "hard").mkdir()
    for name in names:
        shutil.copy(tmp_path / "train" / "masks" / f"{name}.png",
                    tmp_path / "train" / "hard" / f"{name}.png")
    data = FolderDataset(tmp_path / "train", crop=32, augment=True, with_marks=True)
    whole = FolderDataset(tmp_path / "train", augment=True, with_marks=True)
    for epoch in range(4):
        data.set_epoch(epoch)
        whole.set_epoch(epoch)
        for i in range(len(data)):
            image, target = data[i]
            assert image.shape == (1, 32, 32) and target.shape == (3, 32, 32)
            assert torch.equal(target[0], target[1])
            target = whole[i][1]
            disk = target[2] > 0
            assert 0.8 * np.pi * TIP_MARK_RADIUS ** 2 < disk.sum() < 1.2 * np.pi * (
                TIP_MARK_RADIUS + 1) ** 2  # one mono wire: one disk, warped but whole
            assert (target[0] > 0)[disk].any() and (target[0] > 0)[~disk].any()
    assert FolderDataset(tmp_path / "train")[0][1].shape == (1, 64, 64)  # default: wire only
    simulated = SyntheticDataset(SimConfig(size=64), length=1, crop=32, with_marks=True)[0][1]
    assert simulated.shape == (3, 32, 32)

    losses = {}
    for weight in (1.0, 5.0):
        cfg = tiny_config(epochs=1, data=(str(tmp_path / "train"),),
                          val_data=(str(tmp_path / "train"),), hard_weight=weight)
        losses[weight] = train(cfg, tmp_path / f"run{weight}", progress=False)["history"][0]["loss"]
    # The marks here are the wire itself, which keeps weight 1: the loss must not change.
    assert losses[5.0] == pytest.approx(losses[1.0], rel=1e-6)
    for name in names:  # now mark a band beside the wire instead
        mask = cv2.imread(str(tmp_path / "train" / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(tmp_path / "train" / "hard" / f"{name}.png"), np.roll(mask, 6, axis=1))
    cfg = tiny_config(epochs=1, data=(str(tmp_path / "train"),),
                      val_data=(str(tmp_path / "train"),), hard_weight=5.0)
    weighted = train(cfg, tmp_path / "run_beside", progress=False)["history"][0]["loss"]
    assert np.isfinite(weighted) and weighted > losses[1.0]
    # The band lies 6 px beside the wire: a 6 px guard keeps it at weight 1 again, all but
    # where a crop's edge cut the wire off its band (or np.roll wrapped it round).
    cfg = tiny_config(epochs=1, data=(str(tmp_path / "train"),),
                      val_data=(str(tmp_path / "train"),), hard_weight=5.0, hard_guard_px=6)
    guarded = train(cfg, tmp_path / "run_guarded", progress=False)["history"][0]["loss"]
    assert losses[1.0] <= guarded < losses[1.0] + 0.1 * (weighted - losses[1.0])
    with pytest.raises(ValueError, match="hard_weight"):
        tiny_config(hard_weight=0.0)
    with pytest.raises(ValueError, match="hard_guard_px"):
        tiny_config(hard_guard_px=-1)
    cfg = tiny_config(epochs=1, data=(str(tmp_path / "train"),),
                      val_data=(str(tmp_path / "train"),), tip_weight=5.0)
    tipped = train(cfg, tmp_path / "run_tips", progress=False)["history"][0]["loss"]
    assert np.isfinite(tipped) and tipped > losses[1.0]
    with pytest.raises(ValueError, match="tip_weight"):
        tiny_config(tip_weight=0.0)


def test_validation_keeps_the_best_threshold_of_its_sweep():
    """A fixed probability map: wire pixels at 0.8, a distractor stripe at 0.6, the rest at
    0.1. At 0.5 the stripe is a false alarm (F1 2·16 / (2·16 + 16) = 2/3); at 0.7 the
    prediction is exact (F1 1). evaluate must report the 0.7 scores and that threshold."""
    import torch

    from franet_core.train import evaluate

    mask = torch.zeros(1, 1, 32, 32)
    mask[0, 0, 10, 8:24] = 1
    prob = torch.full((1, 1, 32, 32), 0.1)
    prob[mask > 0] = 0.8
    prob[0, 0, 20, 8:24] = 0.6

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.logit(prob)

    batches = [(torch.zeros(1, 1, 32, 32), mask)]
    at_half = evaluate(Fixed(), batches, "cpu", 0.5)
    assert at_half["threshold"] == 0.5 and at_half["f1"] == pytest.approx(2 / 3)
    best = evaluate(Fixed(), batches, "cpu", 0.5, sweep=(0.7, 0.9), select="f1")
    assert best["threshold"] == 0.7 and best["f1"] == pytest.approx(1.0)
    assert best["relaxed_f1"] == pytest.approx(1.0)


def test_gradient_clipping_and_warmup_bound_each_step(tmp_path):
    """Plain SGD (no momentum, no decay) moves the weights by lr x the clipped gradient, and
    warm-up scales step k (from 0) by (k + 1) / warmup_steps; so with a tiny clip norm the
    total move is bounded by lr x clip x the sum of the warm-up factors, and without the
    clip it is far larger."""
    from franet_core.checkpoint import load_weights
    from franet_core.models import build_model

    def moved(run_dir, **kw):
        cfg = tiny_config(optimizer="sgd", momentum=0.0, weight_decay=0.0, lr=0.01, epochs=1,
                          steps_per_epoch=3, **kw)
        train(cfg, tmp_path / run_dir, progress=False)
        torch.manual_seed(cfg.seed)
        start = dict(build_model(cfg.model, **cfg.model_config).named_parameters())
        end, _ = load_weights(tmp_path / run_dir / "last.safetensors")
        return sum(float(torch.sum((end[k] - p.detach()) ** 2)) for k, p in start.items()) ** 0.5

    clip, warmup = 1e-4, 4
    bound = 0.01 * clip * sum((k + 1) / warmup for k in range(3))   # steps 0, 1, 2
    assert moved("clipped", grad_clip_norm=clip, warmup_steps=warmup) <= bound * (1 + 1e-3)
    assert moved("free") > 100 * bound
    with pytest.raises(ValueError, match="grad_clip_norm"):
        tiny_config(grad_clip_norm=0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        tiny_config(warmup_steps=-1)


def test_cldice_weight_adds_the_connectivity_term(tmp_path):
    """``cldice_weight`` > 0 adds that multiple of the clDice loss to the first step's loss
    (same seed, same batch: the only difference), and a negative weight is refused."""
    losses = {}
    for weight in (0.0, 0.5):
        cfg = tiny_config(epochs=1, steps_per_epoch=1, cldice_weight=weight)
        history = train(cfg, tmp_path / f"run{weight}", progress=False)["history"]
        losses[weight] = history[0]["loss"]
    assert losses[0.5] > losses[0.0]
    # the added term is 0.5 × a loss in [0, 1]
    assert losses[0.5] - losses[0.0] <= 0.5 + 1e-6
    with pytest.raises(ValueError, match="cldice_weight"):
        tiny_config(cldice_weight=-0.1)
