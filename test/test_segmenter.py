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

"""Inference backends: input contract, BN folding, backend parity and device fallbacks.

The reference everywhere is the unmodified model in eval mode, fp32, contiguous memory,
followed by ``torch.sigmoid`` — computed here, independently of the code under test.
"""
from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from franet_core import fold
from franet_core.checkpoint import save_weights
from franet_core.export import export_onnx
from franet_core.fold import fold_batchnorm, FoldError
from franet_core.models import build_model, MODEL_NAMES
from franet_core.segmenter import (BackendUnavailable, build_segmenter, check_batch,
                                   OnnxSegmenter, resolve_device, select_providers,
                                   TorchSegmenter)

SIZE = 64
TINY = {
    "franet": {"width_mult": 0.25, "bottleneck_channels": 16, "decoder_channels": [8] * 5},
    "unet": {"base_channels": 4, "depth": 2},
}
HAS_CUDA = torch.cuda.is_available()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # test/conftest.py


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm non-trivial statistics so folding actually changes weights."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


def tiny(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_bn(build_model(name, **TINY.get(name, {})), seed)


def reference(model: nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model.eval()(torch.from_numpy(batch)[:, None]))[:, 0].numpy()


def random_batch(n: int = 2, h: int = SIZE, w: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, h, w), dtype=np.float32)


def curve_batch(n: int = 2, size: int = SIZE) -> np.ndarray:
    """Smooth background with a dark drawn curve: the structure the networks are built for."""
    out = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        img = np.full((size, size), 0.7, dtype=np.float32)
        pts = np.array([[4, 10 + 5 * i], [size // 2, size // 3], [size - 5, size - 8]],
                       dtype=np.int32)
        cv2.polylines(img, [pts], False, 0.2, thickness=2)
        out[i] = img
    return out


# --- input contract ---------------------------------------------------------------------

@pytest.mark.parametrize("bad, words", [
    (np.zeros((64, 64), np.float32), "add a batch axis"),
    (np.zeros((1, 64, 64), np.uint8), "float32"),
    (np.zeros((1, 64, 64), np.float64), "float32"),
    (np.zeros((1, 60, 64), np.float32), "(64, 64)"),
    (np.zeros((0, 64, 64), np.float32), "empty"),
    (np.full((1, 64, 64), 255.0, np.float32), "[0, 1]"),
    (np.full((1, 64, 64), np.nan, np.float32), "[0, 1]"),
    ([[0.0]], "numpy array"),
])
def test_check_batch_refuses_bad_input_with_a_clear_message(bad, words):
    with pytest.raises(ValueError) as info:
        check_batch(bad)
    assert words in str(info.value)


def test_check_batch_enforces_a_fixed_input_size():
    assert check_batch(np.zeros((1, 64, 64), np.float32), 64).shape == (1, 64, 64)
    with pytest.raises(ValueError, match="takes 64x64"):
        check_batch(np.zeros((1, 96, 64), np.float32), 64)


# --- batch-norm folding -----------------------------------------------------------------

class Shared(nn.Module):
    """Patterns folding must get right: reuse, shared outputs, transposed/grouped convs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        # Same conv + same BN called three times (recurrent reuse): foldable.
        self.rec = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        # Same conv, a different BN on each call: not foldable.
        self.shared = nn.Conv2d(8, 8, 1)
        self.bn_a, self.bn_b = nn.BatchNorm2d(8), nn.BatchNorm2d(8)
        # Conv output also used raw (residual before BN): not foldable.
        self.res = nn.Conv2d(8, 8, 3, padding=1)
        self.res_bn = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2, groups=2)
        self.up_bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_bn(self.stem(x)))
        h = x
        for _ in range(3):
            h = torch.relu(self.rec(x + h))
        x = self.bn_a(self.shared(h)) + self.bn_b(self.shared(x))
        y = self.res(x)
        x = self.res_bn(y) + y
        x = nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.up_bn(self.up(x)))
        return self.head(x)


def test_fold_merges_only_safe_pairs_and_matches_the_original():
    torch.manual_seed(0)
    model = randomize_bn(Shared())
    x = torch.rand(2, 1, 32, 32)
    folded, report = fold_batchnorm(model, x)
    assert sorted(report.folded) == [("rec.0", "rec.1"), ("stem", "stem_bn"), ("up", "up_bn")]
    assert {name for name, _ in report.skipped} == {"bn_a", "bn_b", "res_bn"}
    # Independent check at another batch and size than the one used to fold.
    x2 = torch.rand(3, 1, 64, 96)
    with torch.no_grad():
        assert torch.allclose(folded(x2), model(x2), atol=1e-5, rtol=1e-5)
    assert isinstance(folded.stem_bn, nn.Identity) and isinstance(model.stem_bn, nn.BatchNorm2d)


def test_fold_refuses_a_wrong_result(monkeypatch):
    def broken(conv, bn):
        conv.weight.data.mul_(2.0)

    monkeypatch.setattr(fold, "_fuse_into", broken)
    with pytest.raises(FoldError, match="refusing"):
        fold_batchnorm(randomize_bn(Shared()), torch.rand(1, 1, 32, 32))


def test_torch_segmenter_runs_unfolded_with_a_warning_when_folding_fails(monkeypatch, caplog):
    monkeypatch.setattr(fold, "_fuse_into", lambda conv, bn: conv.weight.data.mul_(2.0))
    model = randomize_bn(Shared())
    with caplog.at_level(logging.WARNING, logger="franet_core.segmenter"):
        seg = TorchSegmenter(model)
    assert "without batch-norm folding" in caplog.text
    x = random_batch()
    assert np.abs(seg.predict(x) - reference(model, x)).max() <= 1e-5


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_torch_segmenter_matches_fp32_reference_for_every_model(name):
    model = tiny(name).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seg = TorchSegmenter(model, name=name)
    assert model.training, "caller's model switched to eval mode"
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert len(seg.fold_report.folded) > 0 or n_bn == 0
    for batch in (random_batch(), curve_batch()):
        got = seg.predict(batch)
        assert got.dtype == np.float32 and got.shape == batch.shape
        assert np.abs(got - reference(model, batch)).max() <= 1e-4
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "caller's model modified"


@pytest.mark.parametrize("channels_last, fold_bn",
                         [(False, False), (True, False), (False, True)])
def test_torch_segmenter_options_keep_parity(channels_last, fold_bn):
    model = tiny("franet")
    seg = TorchSegmenter(model, channels_last=channels_last, fold_bn=fold_bn)
    batch = curve_batch(3)
    assert np.abs(seg.predict(batch) - reference(model, batch)).max() <= 1e-4


# --- device policy ----------------------------------------------------------------------

@pytest.mark.skipif(HAS_CUDA, reason="tests the no-GPU fallback")
def test_cuda_without_gpu_falls_back_to_cpu_with_a_warning(caplog):
    model = tiny("unet")
    with caplog.at_level(logging.WARNING, logger="franet_core.segmenter"):
        seg = TorchSegmenter(model, device="cuda", fp16=True, cuda_graphs=True)
    assert seg.device == "cpu"
    assert "falling back to CPU" in caplog.text and "fp16=True needs CUDA" in caplog.text
    batch = random_batch()
    assert np.abs(seg.predict(batch) - reference(model, batch)).max() <= 1e-4
    with pytest.raises(BackendUnavailable, match="no GPU"):
        TorchSegmenter(model, device="cuda", strict=True)


def test_resolve_device_validates_names():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("cuda:x")


@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
def test_cuda_fp16_and_graphs_match_reference():
    model = tiny("franet")
    batch = curve_batch(1)
    ref = reference(model, batch)
    fp32 = TorchSegmenter(model, device="cuda", cuda_graphs=True)
    for _ in range(2):  # capture, then replay
        assert np.abs(fp32.predict(batch) - ref).max() <= 1e-4
    fp16 = TorchSegmenter(model, device="cuda", fp16=True, cuda_graphs=True)
    assert np.abs(fp16.predict(batch) - ref).max() <= 1e-2


# --- ONNX Runtime -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def franet_onnx(tmp_path_factory):
    model = tiny("franet")
    path = tmp_path_factory.mktemp("onnx") / "franet.onnx"
    export_onnx(model, path, meta={"model": "franet", "threshold": 0.5}, size=SIZE)
    return model, path


@pytest.mark.parametrize("kw", [{}, {"graph_optimization": "disable"},
                                {"graph_optimization": "basic", "threads": 1},
                                {"execution_mode": "parallel", "threads": 2},
                                {"threads": 2, "spinning": False}])
def test_onnx_segmenter_matches_fp32_reference(franet_onnx, kw):
    model, path = franet_onnx
    seg = OnnxSegmenter(path, providers="cpu", **kw)
    assert (seg.name, seg.device, seg.input_size) == ("franet", "cpu", None)
    for batch in (random_batch(1), curve_batch(3), random_batch(2, 96, 64)):
        assert np.abs(seg.predict(batch) - reference(model, batch)).max() <= 1e-4


def simulated_batch(n: int = 3, size: int = SIZE, seed: int = 4):
    """Simulated fluoroscopy frames and their masks, (n, size, size)."""
    from franet_core.sim import SimConfig, Simulator

    frames = Simulator(SimConfig(size=size, kind="mixed"), seed=seed).sequence(n)
    return (np.stack([f.image for f in frames]).astype(np.float32),
            np.stack([f.mask for f in frames]))


def test_backends_agree_on_simulated_frames_and_f1(franet_onnx):
    """Issue 7 parity on simulator output: max |Δp| ≤ 1e-4 and F1 drop ≤ 0.005."""
    from franet_core.metrics import f1

    model, path = franet_onnx
    images, masks = simulated_batch()
    ref = reference(model, images)
    assert ref.std() > 1e-3  # the inputs do drive the network: not a constant map
    segs = {"torch": TorchSegmenter(model), "onnx": OnnxSegmenter(path, providers="cpu")}
    # Judge F1 at the reference's own median so both classes are populated.
    threshold = float(np.median(ref))
    f1_ref = np.mean([f1(r > threshold, m) for r, m in zip(ref, masks)])
    for name, seg in segs.items():
        got = seg.predict(images)
        assert np.abs(got - ref).max() <= 1e-4, name
        f1_got = np.mean([f1(g > threshold, m) for g, m in zip(got, masks)])
        assert abs(f1_got - f1_ref) <= 0.005, name


@pytest.mark.skipif("CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
                    reason="tests the missing-provider fallback")
def test_missing_execution_provider_falls_back_to_cpu(franet_onnx, caplog):
    _, path = franet_onnx
    with caplog.at_level(logging.WARNING, logger="franet_core.segmenter"):
        seg = OnnxSegmenter(path, providers="cuda")
    assert "CUDAExecutionProvider is not installed" in caplog.text
    assert seg.providers[0] == "CPUExecutionProvider" and seg.device == "cpu"
    with pytest.raises(BackendUnavailable, match="TensorrtExecutionProvider"):
        OnnxSegmenter(path, providers="tensorrt", strict=True)


def test_provider_selection():
    avail = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers(None, avail) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers("cpu", avail) == ["CPUExecutionProvider"]
    assert select_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="unknown execution provider"):
        select_providers("opencl", avail)


@pytest.mark.parametrize("field, value, words", [
    ("model", "unet", "graph is for model 'franet', config says 'unet'"),
    ("input_name", "input", "inputs ['image'] != ['input']"),
    ("output_name", "logits", "lack 'logits'"),
    ("dynamic_hw", False, "input shape"),
])
def test_onnx_config_mismatch_is_a_clear_error(franet_onnx, tmp_path, field, value, words):
    _, src = franet_onnx
    path = tmp_path / "m.onnx"
    path.write_bytes(src.read_bytes())
    meta = json.loads(src.with_suffix(".json").read_text())
    if field == "model":
        meta["model"] = value
    else:
        meta["onnx"][field] = value
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match m.json") as info:
        OnnxSegmenter(path)
    assert words in str(info.value)


def test_onnx_missing_or_broken_files(franet_onnx, tmp_path):
    _, src = franet_onnx
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        OnnxSegmenter(tmp_path / "nope.onnx")
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(src.read_bytes())
    with pytest.raises(FileNotFoundError, match="ONNX config not found"):
        OnnxSegmenter(lone)
    lone.with_suffix(".json").write_text(json.dumps({"model": "franet"}))
    with pytest.raises(ValueError, match="lacks"):
        OnnxSegmenter(lone)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a graph")
    garbage.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="cannot load"):
        OnnxSegmenter(garbage)
    with pytest.raises(ValueError, match="graph_optimization"):
        OnnxSegmenter(src, graph_optimization="max")


# --- build_segmenter --------------------------------------------------------------------

@pytest.fixture
def tiny_weights(tmp_path):
    model = tiny("franet", seed=3)
    path = save_weights(tmp_path / "w" / "tiny.safetensors", model.state_dict(),
                        {"model": "franet", "model_config": TINY["franet"], "threshold": 0.4,
                         "input_size": None})
    return model, path


def test_build_segmenter_torch_and_onnx_agree_with_the_weights(tiny_weights, tmp_path,
                                                               monkeypatch):
    model, path = tiny_weights
    monkeypatch.setenv("FRANET_CACHE", str(tmp_path / "cache"))
    batch = curve_batch(2)
    ref = reference(model, batch)
    seg, meta = build_segmenter(path, "torch")
    assert isinstance(seg, TorchSegmenter) and meta["threshold"] == 0.4
    assert np.abs(seg.predict(batch) - ref).max() <= 1e-4
    onnx_seg, onnx_meta = build_segmenter(path, "onnx", export_size=SIZE)
    assert isinstance(onnx_seg, OnnxSegmenter) and onnx_meta["threshold"] == 0.4
    assert np.abs(onnx_seg.predict(batch) - ref).max() <= 1e-4
    cached = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again, _ = build_segmenter(path, "onnx", export_size=SIZE)  # reuses the cached export
    assert again.path == cached[0] and cached[0].stat().st_mtime_ns == stamp
    direct, _ = build_segmenter(cached[0], "onnx")
    assert np.abs(direct.predict(batch) - ref).max() <= 1e-4


def test_build_segmenter_errors_and_fallback(tiny_weights, caplog):
    _, path = tiny_weights
    with pytest.raises(ValueError, match="unknown backend"):
        build_segmenter(path, "tensorflow")
    with pytest.raises(ValueError, match="needs .safetensors"):
        build_segmenter(path.with_suffix(".onnx"), "torch")
    with pytest.raises(FileNotFoundError):
        build_segmenter(path.with_name("missing.safetensors"), "torch")
    if not HAS_CUDA:
        with caplog.at_level(logging.WARNING, logger="franet_core.segmenter"):
            seg, _ = build_segmenter(path, "torch", device="cuda")
        assert seg.device == "cpu" and "falling back to CPU" in caplog.text
        with pytest.raises(BackendUnavailable):
            build_segmenter(path, "torch", device="cuda", strict=True)
