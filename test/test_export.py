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

"""ONNX export: dynamic axes, round trip against PyTorch, sidecar config, CLI."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from franet_core.checkpoint import save_weights
from franet_core.cli import main
from franet_core.export import export_onnx
from franet_core.models import build_model

SIZE = 64
TINY = {"width_mult": 0.25, "bottleneck_channels": 16, "decoder_channels": [8] * 5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # test/conftest.py


def tiny_franet() -> nn.Module:
    torch.manual_seed(1)
    model = build_model("franet", **TINY).eval()
    for m in model.modules():  # non-trivial statistics, so constant folding matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def torch_prob(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(x))).numpy()


class FixedSize(nn.Module):
    """A model that only works at one size (a learned full-size bias map)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.bias_map = nn.Parameter(torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.conv(x) + self.bias_map


def test_export_round_trip_with_dynamic_batch_and_size(tmp_path):
    model = tiny_franet()
    report = export_onnx(model, tmp_path / "f.onnx", meta={"model": "franet", "t": 1},
                         size=SIZE)
    assert report.dynamic_hw
    assert all(d <= 1e-4 for d in report.max_abs_diff.values())
    graph = onnx.load(str(report.onnx_path))
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, "height", "width"]
    assert {p.key: p.value for p in graph.metadata_props}["franet.model"] == "franet"
    session = ort.InferenceSession(str(report.onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    for shape in [(1, 1, SIZE, SIZE), (3, 1, SIZE, SIZE), (2, 1, 32, 96)]:
        x = rng.random(shape, dtype=np.float32)
        (got,) = session.run(["prob"], {"image": x})
        assert got.shape == shape
        assert np.abs(got - torch_prob(model, x)).max() <= 1e-4
    config = json.loads(report.config_path.read_text())
    assert config["model"] == "franet" and config["t"] == 1
    assert config["onnx"]["dynamic_hw"] and config["onnx"]["opset"] == 17
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "f.onnx"]  # no temp files


def test_fixed_size_model_exports_static_hw(tmp_path):
    torch.manual_seed(0)
    model = FixedSize(SIZE).eval()
    report = export_onnx(model, tmp_path / "s.onnx", meta={"model": "fixed"}, size=SIZE)
    assert not report.dynamic_hw
    session = ort.InferenceSession(str(report.onnx_path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 1, SIZE, SIZE]
    x = np.random.default_rng(0).random((3, 1, SIZE, SIZE), dtype=np.float32)
    assert np.abs(session.run(["prob"], {"image": x})[0] - torch_prob(model, x)).max() <= 1e-4
    with pytest.raises(ValueError, match="failed its round trip"):
        export_onnx(model, tmp_path / "d.onnx", meta={"model": "fixed"}, size=SIZE,
                    dynamic_hw=True)
    assert not (tmp_path / "d.onnx").exists()


@pytest.mark.parametrize("kw, words", [
    ({"out": "m.pt"}, "must end in .onnx"),
    ({"size": 50}, "multiple of 32"),
    ({"meta": {}}, "name the 'model'"),
])
def test_export_refuses_bad_arguments(tmp_path, kw, words):
    args = {"out": "m.onnx", "meta": {"model": "fixed"}, "size": SIZE, **kw}
    with pytest.raises(ValueError, match=words):
        export_onnx(FixedSize(SIZE), tmp_path / args.pop("out"), **args)


def test_export_command(tmp_path, capsys):
    model = tiny_franet()
    weights = save_weights(tmp_path / "tiny.safetensors", model.state_dict(),
                           {"model": "franet", "model_config": TINY, "threshold": 0.5,
                            "input_size": None})
    out = tmp_path / "out" / "tiny.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out),
                 "--size", str(SIZE)]) == 0
    printed = capsys.readouterr().out
    assert "round trip batch1_64x64" in printed and "round trip batch3_64x64" in printed
    config = json.loads(out.with_suffix(".json").read_text())
    assert config["source_weights"] == str(weights) and config["model_config"] == TINY
    x = np.random.default_rng(2).random((3, 1, SIZE, SIZE), dtype=np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(["prob"], {"image": x})[0] - torch_prob(model, x)).max() <= 1e-4
    assert main(["export", "--weights", str(weights), "--out", str(tmp_path / "x.pt")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
