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

"""`franet bench`: a well-formed report on tiny models (structure and consistency, not speed)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from franet_core.bench import BenchConfig, run_bench, synthetic_frames
from franet_core.checkpoint import save_weights
from franet_core.cli import main
from franet_core.models import build_model

SIZE = 64
TINY = {
    "franet": {"width_mult": 0.25, "bottleneck_channels": 16, "decoder_channels": [8] * 5},
    "unet": {"base_channels": 4, "depth": 2},
}
STAGES = {"preprocess", "inference", "postprocess", "centerline", "tracking"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # test/conftest.py


def quiet_weights(tmp_path, name: str):
    """Tiny random model whose head predicts 'no wire' (keeps downstream stages cheap)."""
    torch.manual_seed(0)
    model = build_model(name, **TINY[name])
    head = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 1][-1]
    with torch.no_grad():
        head.bias.fill_(-8.0)
    return save_weights(tmp_path / f"{name}.safetensors", model.state_dict(),
                        {"model": name, "model_config": TINY[name], "threshold": 0.5,
                         "input_size": None})


def check_stats(stats: dict, n: int) -> None:
    assert set(stats) == {"median", "p95", "mean", "max", "n"} and stats["n"] == n
    assert 0 <= stats["median"] <= stats["p95"] <= stats["max"]


def test_bench_command_writes_a_well_formed_report(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "--weights", str(quiet_weights(tmp_path, "franet")), "--baseline",
            str(quiet_weights(tmp_path, "unet")), "--size", str(SIZE), "--frames", "6",
            "--warmup", "1", "--batch", "4", "--threads", "1", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["settings"] == {"backend": "torch", "device": "cpu", "size": SIZE,
                                  "batch": 4, "frames": 6, "warmup": 1, "threads": 1}
    assert report["machine"]["cpu"] and report["machine"]["torch"] == torch.__version__
    assert set(report["models"]) == {"model", "baseline"}
    for role, name in (("model", "franet"), ("baseline", "unet")):
        r = report["models"][role]
        assert r["name"] == name and r["device"] == "cpu" and r["parameters"] > 0
        assert STAGES <= set(r["stages_ms"])
        for stats in [*r["stages_ms"].values(), r["end_to_end_ms"]]:
            check_stats(stats, 6)
        # The end-to-end wall time cannot be shorter than the stages it contains.
        assert r["end_to_end_ms"]["median"] >= r["stages_ms"]["inference"]["median"]
        assert r["streaming_fps"] == pytest.approx(1e3 / r["end_to_end_ms"]["median"])
        b = r["batched"]
        assert (b["batch"], b["frames"]) == (4, 6)
        assert b["fps"] == pytest.approx(6 / b["seconds"])
        assert r["memory"]["peak_rss_mib"] > 0
    q = report["ratio_to_baseline"]
    m, b = report["models"]["model"], report["models"]["baseline"]
    assert q["inference_median"] == pytest.approx(m["stages_ms"]["inference"]["median"]
                                                  / b["stages_ms"]["inference"]["median"])
    assert q["batched_fps"] == pytest.approx(m["batched"]["fps"] / b["batched"]["fps"])
    printed = capsys.readouterr().out
    assert "end to end" in printed and "model / baseline" in printed


def test_bench_onnx_backend_without_baseline(tmp_path):
    report = run_bench(BenchConfig(model=str(quiet_weights(tmp_path, "unet")), baseline=None,
                                   backend="onnx", size=SIZE, frames=3, warmup=1, threads=1))
    assert set(report["models"]) == {"model"} and "ratio_to_baseline" not in report
    assert report["models"]["model"]["backend"] == "onnx"


def test_soak_reports_memory_samples(tmp_path, capsys):
    out = tmp_path / "soak.json"
    assert main(["bench", "--weights", str(quiet_weights(tmp_path, "unet")), "--size",
                 str(SIZE), "--warmup", "1", "--long", "40", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [p["frame"] for p in report["samples"]] == list(range(2, 41, 2))
    assert all(p["rss_mib"] > 0 and p["fps"] > 0 for p in report["samples"])
    assert report["rss_growth_mib"] == pytest.approx(report["samples"][-1]["rss_mib"]
                                                     - report["samples"][0]["rss_mib"])
    assert "RSS growth" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["--size", "50"], "multiple of 32"),
    (["--frames", "0"], "--frames must be >= 1"),
    (["--model", "resnet"], "unknown model"),
    (["--long", "10"], "at least 40 frames"),
])
def test_bench_refuses_bad_options(args, words, capsys):
    assert main(["bench", "--baseline", "none", *args]) == 2
    assert words in capsys.readouterr().err


def test_synthetic_frames_carry_a_dark_curve():
    frames = list(synthetic_frames(128, 3, seed=0))
    assert len(frames) == 3 and all(f.shape == (128, 128) and f.dtype == np.uint8
                                    for f in frames)
    for f in frames:
        # The drawn curve (value 60) is much darker than the textured field (mean ~150).
        assert np.percentile(f, 1) < 90 < np.median(f)
    assert not np.array_equal(frames[0], frames[1])
