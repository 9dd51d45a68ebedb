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

"""Weights on disk: atomic pair, sidecar validation, finite tensors, and kills mid-save."""
import json

import pytest
import torch

from franet_core import atomic, checkpoint
from franet_core.models import build_model, model_config

CONFIG = model_config("unet", base_channels=4, depth=2)


def tiny_state(fill=None):
    """Return the state dict of a small U-Net, optionally filled with one value."""
    torch.manual_seed(0)
    state = build_model("unet", **CONFIG).state_dict()
    if fill is not None:
        next(iter(state.values())).fill_(fill)
    return state


@pytest.fixture
def weights(tmp_path):
    """Save tiny weights and return their path."""
    return checkpoint.save_weights(tmp_path / "w.safetensors", tiny_state(),
                                   {"model": "unet", "model_config": CONFIG, "threshold": 0.4})


def edit_sidecar(path, **changes):
    """Rewrite fields of the JSON beside ``path``."""
    side = checkpoint.sidecar_path(path)
    meta = json.loads(side.read_text())
    meta.update(changes)
    side.write_text(json.dumps(meta))


def test_save_leaves_no_temporary_files_and_loads(weights):
    assert sorted(p.name for p in weights.parent.iterdir()) == ["w.json", "w.safetensors"]
    model, meta = checkpoint.load_model(weights)
    assert meta["threshold"] == 0.4 and len(meta["pair"]) == 32
    assert not model.training


@pytest.mark.parametrize("changes, message", [
    ({"threshold": 2}, r"'threshold' must be a number in \(0, 1\), got 2"),
    ({"threshold": "0.5"}, r"'threshold' must be a number in \(0, 1\), got '0.5'"),
    ({"threshold": 0.0}, r"'threshold' must be a number in \(0, 1\)"),
    ({"model_config": [1, 2]}, r"'model_config' must be a mapping, got list"),
    ({"model_config": {**CONFIG, "base_channels": "x"}}, r"base_channels must be an integer"),
    ({"model_config": {**CONFIG, "depth": 0}}, r"w\.json: "),
    ({"model": 3}, r"does not name a 'model'"),
    ({"model": "nope"}, r"unknown model 'nope'"),
    ({"input_size": 100}, r"'input_size' must be null or a positive multiple of 32"),
    ({"format": 99}, r"format 99 is newer"),
    ({"pair": "0" * 32}, r"w\.json does not belong to w\.safetensors"),
])
def test_bad_sidecars_are_refused_by_name(weights, changes, message):
    edit_sidecar(weights, **changes)
    with pytest.raises(ValueError, match=message):
        checkpoint.load_model(weights)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensors_are_refused(tmp_path, value):
    path = checkpoint.save_weights(tmp_path / "w.safetensors", tiny_state(value),
                                   {"model": "unet", "model_config": CONFIG})
    with pytest.raises(ValueError, match=r"tensor 'inc\..*' contains NaN or infinite"):
        checkpoint.load_weights(path)


def test_sidecar_without_pair_still_loads(weights):
    """Weights saved before the pair ID existed (the shipped ones) stay loadable."""
    side = checkpoint.sidecar_path(weights)
    meta = json.loads(side.read_text())
    del meta["pair"]
    side.write_text(json.dumps(meta))
    checkpoint.load_model(weights)
    checkpoint.load_model(None)


def test_kill_between_the_two_renames_is_refused_not_mispaired(weights, monkeypatch):
    """New tensors renamed into place, then a kill before the sidecar: the reader refuses."""
    def killed(path, text):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_weights(weights, tiny_state(0.5), {"model": "unet",
                                                           "model_config": CONFIG})
    monkeypatch.undo()
    assert sorted(p.name for p in weights.parent.iterdir()) == ["w.json", "w.safetensors"]
    with pytest.raises(ValueError, match="different saves"):
        checkpoint.load_model(weights)


def test_kill_while_writing_the_tensors_keeps_the_old_pair(weights, monkeypatch):
    """A kill inside the tensor write leaves the previous, complete pair untouched."""
    before = weights.read_bytes()

    def killed(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 10)  # a partial write under the temporary name
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_weights(weights, tiny_state(0.5), {"model": "unet",
                                                           "model_config": CONFIG})
    assert weights.read_bytes() == before
    assert sorted(p.name for p in weights.parent.iterdir()) == ["w.json", "w.safetensors"]
    checkpoint.load_model(weights)


def test_truncated_and_empty_weights_are_clear_errors(weights):
    data = weights.read_bytes()
    for broken in (data[: len(data) // 2], b"", b"\xff" * 64):
        weights.write_bytes(broken)
        with pytest.raises(ValueError, match="corrupt or unreadable safetensors"):
            checkpoint.load_weights(weights)


def test_null_threshold_means_the_default(weights):
    edit_sidecar(weights, threshold=None)
    _, meta = checkpoint.load_model(weights)
    assert "threshold" not in meta  # every reader then uses 0.5
