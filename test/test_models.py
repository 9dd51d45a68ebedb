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

"""Tests of the model registry, the building blocks, encoders, ablation switches and FLOPs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from safetensors.torch import save_file
import torch
from torch import Tensor
import torch.nn.functional as F

from franet_core.flops import model_cost
from franet_core.models import MODEL_NAMES, build_model, load_backbone_weights, model_config
from franet_core.models.blocks import AttentionGate, RecurrentConv
from franet_core.models.encoders import MobileNetV2Encoder, ResNetEncoder, VGGEncoder

# Small widths keep every test fast; the structure is the same as the defaults.
SMALL = {
    "franet": {"width_mult": 0.35, "bottleneck_channels": 16,
               "decoder_channels": [16, 8, 8, 8, 4]},
    "unet": {"base_channels": 4},
    "linknet": {},
    "ternausnet": {"num_filters": 4},
    "attention_unet": {"base_channels": 4},
}


def n_params(model: torch.nn.Module) -> int:
    """Number of parameter elements."""
    return sum(p.numel() for p in model.parameters())


class TestEveryModel:
    """One shared tester run over every registered model."""

    @pytest.fixture(params=MODEL_NAMES)
    def name(self, request: pytest.FixtureRequest) -> str:
        return request.param

    @pytest.mark.parametrize("size", [(64, 64), (64, 96), (96, 32)])
    def test_output_shape(self, name: str, size: tuple[int, int]) -> None:
        model = build_model(name, **SMALL[name]).eval()
        with torch.no_grad():
            out = model(torch.rand(2, 1, *size))
        assert out.shape == (2, 1, *size)
        assert out.dtype == torch.float32 and torch.isfinite(out).all()

    def test_refuses_non_multiple_of_32_naming_padded_size(self, name: str) -> None:
        model = build_model(name, **SMALL[name])
        with pytest.raises(ValueError, match="pad it to 64x96"):
            model(torch.rand(1, 1, 50, 70))
        with pytest.raises(ValueError, match="channel"):
            model(torch.rand(1, 3, 64, 64))

    def test_gradient_reaches_every_parameter(self, name: str) -> None:
        torch.manual_seed(0)
        model = build_model(name, **SMALL[name]).train()
        model(torch.rand(2, 1, 64, 64)).square().mean().backward()
        missing = [k for k, p in model.named_parameters()
                   if p.grad is None or not torch.any(p.grad != 0)]
        assert not missing

    def test_config_round_trip(self, name: str) -> None:
        config = model_config(name, **SMALL[name])
        again = model_config(name, **config)
        assert config == again
        a, b = build_model(name, **config), build_model(name, **again)
        assert {k: v.shape for k, v in a.state_dict().items()} == \
            {k: v.shape for k, v in b.state_dict().items()}

    def test_unknown_option_refused(self, name: str) -> None:
        with pytest.raises(ValueError, match="no_such_option"):
            build_model(name, no_such_option=1)


def test_unknown_model_refused() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")


def test_franet_default_at_512() -> None:
    model = build_model("franet").eval()
    with torch.inference_mode():
        out = model(torch.rand(1, 1, 512, 512))
    assert out.shape == (1, 1, 512, 512)
    assert out.is_contiguous()


def test_franet_encoder_reaches_16x16_at_512() -> None:
    feats = build_model("franet").encoder(torch.rand(1, 1, 512, 512))
    assert [f.shape[-1] for f in feats] == [256, 128, 64, 32, 16]


@pytest.mark.parametrize("switch", [{"attention": False}, {"recurrent": False},
                                    {"width_mult": 0.5}])
def test_ablation_switch_removes_its_module(switch: dict) -> None:
    full = build_model("franet")
    ablated = build_model("franet", **switch)
    assert n_params(ablated) < n_params(full)
    kinds = {type(m).__name__ for m in ablated.modules()}
    if "attention" in switch:
        assert "AttentionGate" not in kinds
    if "recurrent" in switch:
        assert all(m.conv_r is None for m in ablated.modules() if isinstance(m, RecurrentConv))


def test_full_resolution_skip_reaches_the_last_decoder_step() -> None:
    """``full_res_channels`` feeds a stride-1 conv of the input into the last up-sampling
    step (off by default, as in the paper), and it trains: its weights get a gradient."""
    assert build_model("franet").full_res is None
    model = build_model("franet", full_res_channels=8)
    seen = []
    model.decoder[-1].register_forward_hook(lambda m, args, out: seen.append(args[1].shape))
    x = torch.rand(2, 1, 64, 64)
    model(x).mean().backward()
    assert seen == [(2, 8, 64, 64)]
    assert model.full_res[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="full_res_channels"):
        build_model("franet", full_res_channels=-1)


@pytest.mark.parametrize("t", [1, 2, 3])
def test_recurrent_steps_t_sets_the_unfolding(t: int) -> None:
    model = build_model("franet", t=t, **SMALL["franet"]).eval()
    calls = []
    for m in model.modules():
        if isinstance(m, RecurrentConv):
            m.conv_r.register_forward_hook(lambda *_: calls.append(1))
    n_layers = sum(isinstance(m, RecurrentConv) for m in model.modules())
    with torch.no_grad():
        model(torch.rand(1, 1, 64, 64))
    assert len(calls) == t * n_layers


@pytest.mark.parametrize("encoder", ["resnet34", "resnet50", "vgg11", "vgg16"])
def test_franet_backbone_ablation(encoder: str) -> None:
    model = build_model("franet", encoder=encoder, bottleneck_channels=16,
                        decoder_channels=[8, 8, 8, 8, 4]).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_encoder_sizes_match_torchvision_counts() -> None:
    """Parameter counts against torchvision's published totals (minus classifier, RGB stem)."""
    assert n_params(ResNetEncoder(34)) == 21_797_672 - 513_000 - 64 * 2 * 49
    assert n_params(ResNetEncoder(50)) == 25_557_032 - 2_049_000 - 64 * 2 * 49
    assert n_params(VGGEncoder(11)) == 132_863_336 - 123_642_856 - 64 * 2 * 9
    assert n_params(ResNetEncoder(101)) == 44_549_160 - 2_049_000 - 64 * 2 * 49


def test_unknown_encoder_and_width_errors() -> None:
    with pytest.raises(ValueError, match="unknown 'resnet9'"):
        build_model("franet", encoder="resnet9")
    with pytest.raises(ValueError, match="mobilenetv2 encoder only"):
        build_model("franet", encoder="vgg11", width_mult=0.5)


def test_attention_gate_coefficients_and_output() -> None:
    torch.manual_seed(0)
    gate = AttentionGate(8, 12, 4)
    x, g = torch.randn(2, 8, 32, 32) * 5, torch.randn(2, 12, 16, 16) * 5
    out, alpha = gate(x, g, return_alpha=True)
    assert alpha.shape == (2, 1, 32, 32)
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert alpha.std() > 0  # not constant: it depends on x and g
    # Independent reference of the equation, with alpha computed at g's resolution.
    q = F.relu(F.conv2d(x[:, :, ::2, ::2], gate.w_x.weight)
               + F.conv2d(g, gate.w_g.weight, gate.w_g.bias))
    ref = torch.sigmoid(F.conv2d(q, gate.psi.weight, gate.psi.bias))
    ref = F.interpolate(ref, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(alpha, ref)
    torch.testing.assert_close(out, x * ref)


def test_attention_unet_is_unet_plus_gates_on_the_skips() -> None:
    """Bypassing the gates leaves a U-Net: same weights, same output, bit for bit."""
    from franet_core.models.unet import UNet

    torch.manual_seed(0)
    att = build_model("attention_unet", base_channels=4, depth=3).eval()
    unet = build_model("unet", base_channels=4, depth=3).eval()
    assert isinstance(att, UNet)
    shared = {k: v for k, v in att.state_dict().items() if not k.startswith("gates.")}
    unet.load_state_dict(shared)  # strict: the non-gate tensors are exactly U-Net's
    assert [type(g) for g in att.gates] == [AttentionGate, AttentionGate, torch.nn.Identity]
    x = torch.rand(2, 1, 64, 32)
    with torch.no_grad():
        gated = att(x)
        att.gate_skip = lambda step, skip, coarse: skip  # instance attribute: gates bypassed
        assert torch.equal(att(x), unet(x))
    assert not torch.allclose(gated, unet(x))  # the gates do act
    with pytest.raises(ValueError, match=r"AttentionUNetConfig.depth must be in 2\.\.5"):
        build_model("attention_unet", depth=1)
    assert build_model("unet", depth=1).config.depth == 1


class _SameKinks:
    """Make a second forward pass take the ReLU / ReLU6 branches the first one took.

    A gradient is discontinuous where a ReLU input crosses 0: float32 and float64 disagree
    on the sign of activations within rounding of zero, and every such flip changes the
    gradient upstream. How many flip depends on rounding, e.g. on the torch thread count
    (measured: 0.6 % gradient error with one thread, 4 % with two). Recording the branches
    in the first pass (``record``) and imposing them in the second (``replay``) compares the
    two gradients of one linear piece, so only the arithmetic differs.
    """

    def __init__(self) -> None:
        self.masks: list[tuple[Tensor, Tensor | None]] = []
        self.relu, self.hardtanh = F.relu, F.hardtanh

    def _relu(self, x, inplace=False):
        if self.replaying:
            return x * self.masks.pop(0)[0].to(x.dtype)
        self.masks.append((x > 0, None))
        return self.relu(x, inplace=inplace)

    def _hardtanh(self, x, min_val=-1.0, max_val=1.0, inplace=False):
        assert (min_val, max_val) == (0.0, 6.0)  # ReLU6, the only hardtanh in FRA-Net
        if self.replaying:
            inside, top = self.masks.pop(0)
            return x * inside.to(x.dtype) + 6.0 * top.to(x.dtype)
        self.masks.append(((x > 0) & (x < 6), x >= 6))
        return self.hardtanh(x, min_val, max_val, inplace=inplace)

    def run(self, monkeypatch, replaying: bool, fn):
        self.replaying = replaying
        with monkeypatch.context() as m:
            m.setattr(F, "relu", self._relu)
            m.setattr(F, "hardtanh", self._hardtanh)
            fn()
        # Recording found branches; replaying used every one of them.
        assert bool(self.masks) != replaying


def test_odd_batch_backward_of_a_narrow_channels_last_model(monkeypatch) -> None:
    """Regression: a strided 1x1 channels-last W_x crashed torch's CPU backward (batch 3, 8 ch).

    The narrow float32 NHWC model must train at an odd batch, with the gradients of a float64
    NCHW copy taking the same ReLU branches (see _SameKinks; compared as one vector: BN over
    3 samples makes single tiny entries noisy). Measured: 9e-5 relative with 1 and 2 threads
    (without _SameKinks 0.6 % and 4 %, over the 1 % this test used to allow).
    """
    torch.manual_seed(0)
    narrow = {"width_mult": 0.25, "t": 1, "bottleneck_channels": 16,
              "decoder_channels": [8, 8, 8, 8, 8]}
    model = build_model("franet", **narrow).train()
    ref = build_model("franet", **narrow).train().double()
    ref.to(memory_format=torch.contiguous_format).load_state_dict(model.state_dict())
    x = torch.rand(3, 1, 64, 64)
    kinks = _SameKinks()
    kinks.run(monkeypatch, False, lambda: model(x).mean().backward())
    kinks.run(monkeypatch, True, lambda: ref(x.double()).mean().backward())
    got = torch.cat([p.grad.double().ravel() for p in model.parameters()])
    want = torch.cat([p.grad.ravel() for p in ref.parameters()])
    assert (got - want).norm() < 1e-3 * want.norm()


def test_recurrent_conv_follows_the_equation() -> None:
    torch.manual_seed(0)
    layer = RecurrentConv(4, t=3).eval()
    for bn in layer.norms:
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 4, 8, 8)

    def bn(i: int, v: torch.Tensor) -> torch.Tensor:
        n = layer.norms[i]
        return (v - n.running_mean[:, None, None]) / torch.sqrt(
            n.running_var[:, None, None] + n.eps) * n.weight[:, None, None] + n.bias[:, None, None]

    h = F.relu(bn(0, F.conv2d(x, layer.conv_f.weight, padding=1)))
    for step in (1, 2, 3):
        h = F.relu(bn(step, F.conv2d(x, layer.conv_f.weight, padding=1)
                      + F.conv2d(h, layer.conv_r.weight, padding=1)))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), h)


def _torchvision_like_mobilenet_state(rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Keys and shapes of torchvision's mobilenet_v2 that matter here, random values."""
    state = {f"features.{k}": torch.from_numpy(rng.standard_normal(tuple(v.shape))
                                               .astype(np.float32))
             if v.is_floating_point() else v + 7
             for k, v in MobileNetV2Encoder(in_channels=3).features.state_dict().items()}
    state["features.0.0.weight"] = torch.randn(32, 3, 3, 3)  # torchvision's 3x3 stem
    state["features.18.0.weight"] = torch.randn(1280, 320, 1, 1)
    state["classifier.1.weight"] = torch.randn(1000, 1280)
    return state


def test_load_mobilenet_backbone_from_safetensors(tmp_path) -> None:
    state = _torchvision_like_mobilenet_state(np.random.default_rng(0))
    path = tmp_path / "mobilenet_v2.safetensors"
    save_file(state, str(path))
    model = build_model("franet")
    report = load_backbone_weights(model, path)
    own = model.encoder.state_dict()
    for key in report.loaded:
        torch.testing.assert_close(own[key], state[key])
    assert "features.1.conv.0.0.weight" in report.loaded
    assert "features.13.conv.3.running_var" in report.loaded
    assert "features.0.0.weight" in report.unused  # FRA-Net's stem is named 'stem'
    assert {"classifier.1.weight", "features.18.0.weight"} <= set(report.unused)
    assert report.missing and all(k.startswith("stem.") for k in report.missing)


def test_load_resnet_backbone_pth_sums_rgb_kernels(tmp_path) -> None:
    state = {k: torch.randn_like(v, dtype=torch.float32) if v.is_floating_point() else v
             for k, v in ResNetEncoder(34, in_channels=3).state_dict().items()}
    state = {("module." + k): v for k, v in state.items()}
    state["fc.weight"] = torch.randn(1000, 512)
    path = tmp_path / "resnet34.pth"
    torch.save(state, path)
    model = build_model("franet", encoder="resnet34")
    report = load_backbone_weights(model, path)
    assert report.adapted == ["conv1.weight"]
    torch.testing.assert_close(model.encoder.conv1.weight,
                               state["module.conv1.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(model.encoder.layer4[2].conv2.weight,
                               state["module.layer4.2.conv2.weight"])
    assert report.unused == ["fc.weight"] and not report.missing


def test_load_backbone_rejects_unrelated_and_missing_files(tmp_path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"foo.weight": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="no tensor matches"):
        load_backbone_weights(build_model("franet"), path)
    with pytest.raises(FileNotFoundError):
        load_backbone_weights(build_model("franet"), tmp_path / "absent.safetensors")


def test_macs_of_a_single_conv_match_the_formula() -> None:
    conv = torch.nn.Conv2d(1, 8, 3, stride=2, padding=1)
    cost = model_cost(conv, 64, 32)
    assert cost.macs == 8 * 32 * 16 * 9
    assert cost.params == 8 * 9 + 8
    assert cost.gflops == pytest.approx(2 * 8 * 32 * 16 * 9 / 1e9)
    up = torch.nn.ConvTranspose2d(4, 2, 2, stride=2)
    assert model_cost(up, 16, in_channels=4).macs == 16 * 16 * 4 * 2 * 4


def test_info_command_prints_every_model(capsys: pytest.CaptureFixture) -> None:
    from franet_core.cli import main

    assert main(["info", "--model", "franet", "--size", "64x96",
                 "--set", "attention=false"]) == 0
    out = capsys.readouterr().out
    assert "franet" in out and "(1, 64, 96)" in out
    assert main(["info", "--model", "franet", "--size", "70"]) == 2


@pytest.mark.slow
def test_franet_overfits_a_handful_of_simulated_frames() -> None:
    """FRA-Net fits four simulated frames to F1 > 0.9 with the paper's loss (~1 CPU minute).

    64x64 crops of mono, dual and stiff frames (256 px), centred on the first wire two thirds
    of the way to its tip, so each crop holds wire, bend and background. Width 1.0, Adam at
    lr 1e-2 with a 50-step warm-up and a cosine decay, and the gradient norm clipped to 1.

    Why the clipping: with α = 100 a handful of wire pixels turning wrong makes a gradient
    hundreds of times the usual one, Adam's lagging second moment lets it through as a huge
    step, and the loss jumps (from 0.02 to 0.44 within 50 steps in one run). Where the last
    such jump leaves the fit at the end depends on float rounding, and the rounding changes
    with the torch thread count (convolutions split their sums differently). It is a real
    numerical difference, not nondeterminism: repeated with one setting, the unclipped fit
    gave the same F1 (0.435 twice with 2 threads), but 0.895 with torch.set_num_threads(1)
    and 0.996 with OMP_NUM_THREADS=1. With the clipping the loss falls without a jump.
    Measured on franet_core.sim: F1 0.984 with 1 thread and 0.977 with 2 (without the
    clipping 0.922 and 0.893).
    """
    from franet_core.losses import build_loss
    from franet_core.sim import SimConfig, Simulator

    torch.manual_seed(0)
    crop, images, masks = 64, [], []
    for seed, kind in enumerate(("mono", "dual", "stiff", "mono")):
        frame = Simulator(SimConfig(kind=kind, size=256), seed=seed).sequence(1)[0]
        line = frame.wires[0].centerline
        cx, cy = np.round(line[len(line) * 2 // 3]).astype(int)
        x0, y0 = (int(np.clip(c - crop // 2, 0, 256 - crop)) for c in (cx, cy))
        images.append(frame.image[y0:y0 + crop, x0:x0 + crop])
        masks.append(frame.mask[y0:y0 + crop, x0:x0 + crop])
    x = torch.from_numpy(np.stack(images))[:, None]
    y = torch.from_numpy(np.stack(masks))[:, None].float()
    assert 0.01 < y.mean().item() < 0.2  # the crops really hold wire
    model = build_model("franet").train()
    loss_fn = build_loss("augmented_focal")
    steps, warmup = 400, 50
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    with torch.no_grad():
        pred = torch.sigmoid(model(x)) > 0.5
    tp = (pred & (y > 0)).sum().item()
    f1 = 2 * tp / (pred.sum().item() + y.sum().item())
    assert f1 > 0.9, f1
