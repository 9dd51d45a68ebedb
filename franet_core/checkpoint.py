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
"threshold": float, "input_size": int | null, "pair": ID, ...}``; :func:`load_model` rebuilds
the network from it through the model registry and refuses weights that do not fit.

Both files are written atomically (temporary file, then rename), the tensors first and the
sidecar last. The same random ``pair`` ID goes into the sidecar and the safetensors header,
so a reader refuses a sidecar left over from another save (a kill between the two renames)
instead of pairing epoch N's config with epoch N-1's tensors. Loading also refuses tensors
with NaN or infinity and a sidecar whose fields have the wrong type or range.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
import uuid

from safetensors import safe_open, SafetensorError
from safetensors.torch import save_file
import torch

from franet_core import atomic

FORMAT_VERSION = 1
#: The model shipped inside the package, used whenever ``--weights`` is not given.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "franet_sim.safetensors"


def sidecar_path(weights: str | Path) -> Path:
    """``path/name.safetensors`` → ``path/name.json``."""
    return Path(weights).with_suffix(".json")


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor],
                 meta: dict[str, Any]) -> Path:
    """Write tensors to ``path`` (.safetensors) and ``meta`` (must name ``model``) beside it.

    Prefixes added by DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) are stripped so
    checkpoints load into a plain model. Each file is written atomically, the sidecar last,
    and both carry the same ``pair`` ID (see the module docstring).
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights file must end in .safetensors: {path}")
    if "model" not in meta:
        raise ValueError("checkpoint metadata must name the 'model'")
    pair = uuid.uuid4().hex
    tensors = {_strip_prefix(k): v.detach().cpu().contiguous() for k, v in state_dict.items()}
    text = json.dumps({"format": FORMAT_VERSION, **meta, "pair": pair}, indent=2,
                      sort_keys=True, default=str) + "\n"
    with atomic.replacing(path) as tmp:
        save_file(tensors, str(tmp), metadata={"franet_pair": pair})
    atomic.write_text(sidecar_path(path), text)
    return path


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``(state_dict, meta)``; FileNotFoundError / ValueError name the bad file.

    Refused with ValueError: a corrupt file, a sidecar with wrong field types or a threshold
    outside (0, 1) (:func:`check_meta`), a sidecar from another save than the tensors, and
    tensors with NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        raise FileNotFoundError(f"weights config not found: {meta_path} "
                                f"(expected beside {path.name})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{meta_path}: corrupt weights config: {exc}") from exc
    check_meta(meta, where=str(meta_path))
    try:
        with safe_open(str(path), framework="pt") as f:
            pair = (f.metadata() or {}).get("franet_pair")
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path}: corrupt or unreadable safetensors file: {exc}") from exc
    if pair and meta.get("pair") and pair != meta["pair"]:
        raise ValueError(f"{meta_path} does not belong to {path.name}: they come from "
                         "different saves (was a run killed while saving?); use another "
                         "checkpoint or save these weights again")
    check_finite(state, where=str(path))
    return state, meta


def check_meta(meta: Any, *, where: str = "weights config") -> dict[str, Any]:
    """Return ``meta`` if its fields have the documented types, else raise ValueError.

    ``model``: non-empty string; ``model_config``: mapping; ``threshold``: null or a number
    in (0, 1) (null is dropped, so readers fall back to 0.5 as for a missing one);
    ``input_size``: null or a positive multiple of 32; ``format``: an integer no newer than
    this franet reads.
    """
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("model"), str) or not meta["model"]:
        raise ValueError(f"{where}: weights config does not name a 'model' (a string)")
    version = meta.get("format", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{where}: 'format' must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{where}: format {version} is newer than this franet reads "
                         f"({FORMAT_VERSION}); upgrade franet")
    if not isinstance(meta.get("model_config", {}), dict):
        raise ValueError(f"{where}: 'model_config' must be a mapping, got "
                         f"{type(meta['model_config']).__name__}")
    if "threshold" in meta and meta["threshold"] is None:
        del meta["threshold"]
    threshold = meta.get("threshold")
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, (int, float))
                                  or not 0.0 < threshold < 1.0):
        raise ValueError(f"{where}: 'threshold' must be a number in (0, 1), got {threshold!r}")
    size = meta.get("input_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                             or size < 32 or size % 32):
        raise ValueError(f"{where}: 'input_size' must be null or a positive multiple of 32, "
                         f"got {size!r}")
    return meta


def check_finite(state: dict[str, torch.Tensor], *, where: str = "weights") -> None:
    """Raise ValueError naming the first tensor of ``state`` with NaN or infinite values."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{where}: tensor {key!r} contains NaN or infinite values (from "
                             "a diverged training run?); these weights cannot segment")


def load_model(path: str | Path | None = None, *, expect_model: str | None = None
               ) -> tuple[torch.nn.Module, dict[str, Any]]:
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
    try:
        model = build_model(meta["model"], **meta.get("model_config", {}))
    except ValueError as exc:  # unknown model name, unknown or mistyped config keys
        raise ValueError(f"{sidecar_path(path)}: {exc}") from exc
    except (TypeError, RuntimeError, ZeroDivisionError) as exc:  # e.g. negative channels
        raise ValueError(f"{sidecar_path(path)}: cannot build model '{meta['model']}' from "
                         f"model_config {meta.get('model_config', {})}: {exc}") from exc
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
