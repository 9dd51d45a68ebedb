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

"""Training killed at the worst moments, then ``--resume``; resume refusing bad state.

A tiny run is killed with ``os._exit`` (no cleanup, like SIGKILL) in a subprocess: between
writing ``last.safetensors`` and its sidecar, and in the middle of writing
``state.safetensors``. Resuming must then finish with exactly the weights of an
uninterrupted run; a truncated, empty or foreign state must be refused in one line.
"""
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest
import torch

from franet_core import checkpoint
from franet_core.cli import main
from franet_core.sim import SimConfig
from franet_core.train import train, TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # bit-exact resume needs 1 thread

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = {"width_mult": 0.25, "t": 1, "bottleneck_channels": 16,
              "decoder_channels": (8, 8, 8, 8, 8)}
TINY = TrainConfig(model="franet", model_config=TINY_MODEL, sim=SimConfig(size=64), crop=64,
                   batch_size=2, epochs=2, steps_per_epoch=1, val_frames=1, val_batch_size=1,
                   lr=0.01, device="cpu", seed=3)

DRIVER = """
import os, sys
from pathlib import Path
import torch
from franet_core import atomic, train as T
torch.set_num_threads(1)  # as the test process: the same arithmetic, bit for bit
sys.path.insert(0, {test_dir!r})
from test_reliability_train import TINY

out, point = Path(sys.argv[1]), sys.argv[2]
calls = []
if point == "between_renames":  # last.safetensors of epoch 2 renamed, its sidecar not yet
    real_text = atomic.write_text

    def write_text(path, text):
        if Path(path).name == "last.json":
            calls.append(path)
            if len(calls) == 2:
                os._exit(137)
        return real_text(path, text)

    atomic.write_text = write_text
elif point == "state_write":  # half of state.safetensors of epoch 2 written
    real_save = T.save_file

    def save_file(tensors, filename, metadata=None):
        if metadata and "franet_state" in metadata:
            calls.append(filename)
            if len(calls) == 2:
                Path(filename).write_bytes(b"\\x00" * 4096)
                os._exit(137)
        return real_save(tensors, filename, metadata=metadata)

    T.save_file = save_file
T.train(TINY, out, progress=False)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Train the tiny run without interruption; return its directory."""
    out = tmp_path_factory.mktemp("ref") / "run"
    train(TINY, out, progress=False)
    return out


def killed_run(tmp_path, point):
    """Run the tiny training in a subprocess that dies at ``point``; return its folder."""
    out = tmp_path / "run"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(test_dir=str(ROOT / "test")))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(driver), str(out), point], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 137, proc.stderr[-2000:]
    return out


def same_weights(a, b):
    """Check that two weights files hold identical tensors."""
    sa, _ = checkpoint.load_weights(a)
    sb, _ = checkpoint.load_weights(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("point", ["between_renames", "state_write"])
def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, reference, capsys, point):
    out = killed_run(tmp_path, point)
    if point == "between_renames":
        with pytest.raises(ValueError, match="different saves"):
            checkpoint.load_model(out / "last.safetensors")  # refused, never mispaired
    else:
        assert list(out.glob(".state.*.tmp.safetensors"))  # the half-written temporary
        assert checkpoint.load_model(out / "last.safetensors")[1]["epoch"] == 2
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert "after 2 epochs" in capsys.readouterr().out
    for name in ("last.safetensors", "best.safetensors"):
        assert same_weights(out / name, reference / name)


@pytest.mark.parametrize("damage, words", [
    ("truncate", "truncated, empty or not a safetensors file"),
    ("empty", "truncated, empty or not a safetensors file"),
    ("weights", "not a franet training state"),
    ("other_model", "does not fit the run's model"),
    ("nan", "NaN or infinite"),
])
def test_resume_refuses_damaged_or_foreign_state(tmp_path, reference, capsys, damage, words):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    state = out / "state.safetensors"
    if damage == "truncate":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    elif damage == "empty":
        state.write_bytes(b"")
    elif damage == "weights":  # a weights file where the state should be
        shutil.copy(out / "last.safetensors", state)
    elif damage == "other_model":
        (out / "config.yaml").write_text((out / "config.yaml").read_text().replace(
            "bottleneck_channels: 16", "bottleneck_channels: 24"))
    else:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(state), framework="pt") as f:
            meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
        next(v for k, v in tensors.items() if k.startswith("model.")).fill_(float("nan"))
        save_file(tensors, str(state), metadata=meta)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("franet train: error:")]
    assert len(lines) == 1 and words in lines[0], err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")} == before


def test_divergence_stops_with_one_line(tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "run"), "--no-progress", "--set",
                 "model=franet", "model_config={width_mult: 0.25, t: 1, bottleneck_channels: "
                 "16, decoder_channels: [8, 8, 8, 8, 8]}", "sim={size: 64}", "crop=64",
                 "batch_size=4", "epochs=1", "steps_per_epoch=2", "val_frames=2",
                 "val_batch_size=2", "device=cpu", "lr=1e30", "optimizer=sgd"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "training diverged in epoch 1" in err.splitlines()[-1]
    assert not list((tmp_path / "run").glob("*.safetensors"))
