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

"""Weights on disk: a ``.safetensors`` file plus a JSON sidecar describing the model.

``model.safetensors`` holds tensors only (safe to open from untrusted sources: no pickle).
``model.json`` beside it holds ``{"format": 1, "model": NAME, "model_config": {...},
"threshold": float, "input_size": int | null, ...}``; :func:`load_model` rebuilds the network
from it through the model registry and refuses weights that do not fit.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1
#: The model shipped inside the package, used whenever ``--weights`` is not given.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "franet_sim.safetensors"


def sidecar_path(weights: str | Path) -> Path:
    """``path/name.safetensors`` → ``path/name.json``."""
    return Path(weights).with_suffix(".json")


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write tensors to ``path`` (.safetensors) and ``meta`` (must name ``model``) beside it.

    Prefixes added by DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) are stripped so
    checkpoints load into a plain model.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights file must end in .safetensors: {path}")
    if "model" not in meta:
        raise ValueError("checkpoint metadata must name the 'model'")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {_strip_prefix(k): v.detach().cpu().contiguous() for k, v in state_dict.items()}
    save_file(tensors, str(path))
    sidecar_path(path).write_text(json.dumps({"format": FORMAT_VERSION, **meta}, indent=2,
                                             sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``(state_dict, meta)``; FileNotFoundError / ValueError name the bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        raise FileNotFoundError(f"weights config not found: {meta_path} (expected beside {path.name})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: corrupt weights config: {exc}") from exc
    if not isinstance(meta, dict) or "model" not in meta:
        raise ValueError(f"{meta_path}: weights config does not name a 'model'")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise ValueError(f"{path}: corrupt or unreadable safetensors file: {exc}") from exc
    return state, meta


def load_model(path: str | Path | None = None, *, expect_model: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build the network described beside ``path`` (default: shipped weights) and load it.

    Returns ``(model in eval mode, meta)``. Raises ValueError when ``expect_model`` differs
    from the checkpoint's model, or when the tensors do not fit the configured network
    (missing / unexpected keys, shape mismatch), naming what differs.
    """
    from franet_core.models import build_model

    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    state, meta = load_weights(path)
    if expect_model is not None and meta["model"] != expect_model:
        raise ValueError(f"{path}: weights are for model '{meta['model']}', not '{expect_model}'")
    model = build_model(meta["model"], **meta.get("model_config", {}))
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{path}: weights do not match model '{meta['model']}' with config "
                         f"{meta.get('model_config', {})}: missing={missing[:5]} "
                         f"unexpected={unexpected[:5]} shape_mismatch={sorted(shapes)[:5]}")
    model.load_state_dict(state)
    return model.eval(), meta


def _strip_prefix(key: str) -> str:
    for prefix in ("module.", "_orig_mod."):
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key
