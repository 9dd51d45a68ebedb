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

"""Export a trained network to ONNX for :class:`franet_core.segmenter.OnnxSegmenter`.

The exported graph maps ``image`` ``(N, 1, H, W)`` float32 in [0, 1] to ``prob``
``(N, 1, H, W)`` float32 sigmoid probabilities: the sigmoid is part of the inference graph so
no backend has to apply it on the host. The batch axis is always dynamic; ``H`` and ``W`` are
dynamic too when the traced graph is shape-agnostic, which is checked by running it at a
second, non-square size (otherwise the graph is exported at the fixed ``size``).

Beside ``model.onnx`` a ``model.json`` holds the checkpoint config plus an ``"onnx"`` section
(names, dynamic axes, opset, versions and the round-trip differences measured right after
export); :class:`~franet_core.segmenter.OnnxSegmenter` refuses a graph that does not match it.
The legacy TorchScript exporter is used because the dynamo exporter needs ``onnxscript``,
which franet does not depend on.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
import json
import logging
import os
from pathlib import Path
from typing import Any
import warnings

import numpy as np
import torch
from torch import nn

from franet_core.preprocess import SIZE_MULTIPLE

__all__ = ["DEFAULT_OPSET", "ExportReport", "export_onnx", "export_weights_onnx"]

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "prob"
#: Round-trip tolerance on probabilities (fp32 ONNX Runtime CPU vs fp32 PyTorch).
ROUND_TRIP_ATOL = 1e-4


@dataclass(frozen=True)
class ExportReport:
    """Result of an export: files written and the measured round-trip differences.

    ``max_abs_diff`` maps a check name (``"batch1_512x512"``, ...) to the largest absolute
    probability difference between ONNX Runtime (CPU, fp32) and PyTorch (fp32).
    """

    onnx_path: Path
    config_path: Path
    dynamic_hw: bool
    max_abs_diff: dict[str, float]


class _WithSigmoid(nn.Module):
    """logits network → probability network, for export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.sigmoid(self.model(image))


def export_onnx(model: nn.Module, out: str | Path, *, meta: dict[str, Any], size: int = 512,
                opset: int = DEFAULT_OPSET, dynamic_hw: bool | None = None) -> ExportReport:
    """Write ``out`` (.onnx) and its JSON config for ``model`` (logits network, fp32).

    ``meta`` is the checkpoint config and must name the ``model``. ``size`` (px, multiple of
    32) is the square trace size and the fixed size if the graph cannot be made
    shape-agnostic. ``dynamic_hw``: ``None`` tries dynamic H/W and falls back to static,
    ``True`` requires it (ValueError if the model does not allow it), ``False`` forces static.
    Batch norms are folded into the convolutions first (see :mod:`franet_core.fold`). The
    graph is run in ONNX Runtime at batch 1 and batch 3 (and at a second size when H/W are
    dynamic) and compared with the unmodified PyTorch model; a difference above 1e-4 raises
    ValueError. ``model`` itself is not modified. Files are written atomically (temporary
    names, then renamed).
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"ONNX output file must end in .onnx: {out}")
    if "model" not in meta:
        raise ValueError("export metadata must name the 'model'")
    if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
        raise ValueError(f"export size {size} is not a positive multiple of {SIZE_MULTIPLE}")
    out.parent.mkdir(parents=True, exist_ok=True)
    reference = _WithSigmoid(copy.deepcopy(model).eval().float().cpu()).eval()
    net = _WithSigmoid(_folded(reference.model, size)).eval()
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.onnx")
    try:
        attempts = [True, False] if dynamic_hw is None else [dynamic_hw]
        for i, dynamic in enumerate(attempts):
            _trace(net, tmp, size, opset, dynamic, str(meta["model"]))
            try:
                diffs = _round_trip(reference, tmp, size, dynamic)
                break
            except _RoundTripError as exc:
                if i + 1 == len(attempts):
                    raise ValueError(f"ONNX export of '{meta['model']}' failed its round trip: "
                                     f"{exc}") from exc
                log.info("graph is not shape-agnostic (%s); exporting at fixed %dx%d",
                         exc, size, size)
        config = {**meta, "onnx": {
            "input_name": INPUT_NAME, "output_name": OUTPUT_NAME, "output": "probability",
            "dynamic_batch": True, "dynamic_hw": dynamic, "size": size, "opset": opset,
            "torch_version": torch.__version__, "onnxruntime_version": _ort_version(),
            "round_trip_max_abs_diff": diffs}}
        config_tmp = tmp.with_suffix(".json")
        config_tmp.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n",
                              encoding="utf-8")
        os.replace(tmp, out)
        os.replace(config_tmp, out.with_suffix(".json"))
    finally:
        for leftover in (tmp, tmp.with_suffix(".json")):
            leftover.unlink(missing_ok=True)
    return ExportReport(out, out.with_suffix(".json"), dynamic, diffs)


def export_weights_onnx(weights: str | Path | None, out: str | Path, *, size: int = 512,
                        opset: int = DEFAULT_OPSET,
                        dynamic_hw: bool | None = None) -> ExportReport:
    """Load ``.safetensors`` weights (``None``: the shipped default) and :func:`export_onnx`."""
    from franet_core.checkpoint import DEFAULT_WEIGHTS, load_model

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    model, meta = load_model(path)
    return export_onnx(model, out, meta={**meta, "source_weights": str(path)}, size=size,
                       opset=opset, dynamic_hw=dynamic_hw)


def _folded(model: nn.Module, size: int) -> nn.Module:
    """Fold batch norms before export (the exporter only folds Conv+BN, not ConvTranspose+BN).

    The round trip compares the exported graph with the *unfolded* model, so folding is
    covered by the same 1e-4 check.
    """
    from franet_core.fold import FoldError, fold_batchnorm

    example = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    try:
        return fold_batchnorm(model, example)[0]
    except FoldError as exc:
        log.warning("exporting without batch-norm folding: %s", exc)
        return model


class _RoundTripError(RuntimeError):
    """ONNX Runtime cannot run the graph, or its output differs from PyTorch."""


def _trace(net: nn.Module, path: Path, size: int, opset: int, dynamic_hw: bool,
           model_name: str) -> None:
    import onnx

    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_hw else {0: "batch"}
    example = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                              do_constant_folding=True, verbose=False)
        except (RuntimeError, AssertionError, torch.onnx.errors.OnnxExporterError) as exc:
            raise ValueError(f"cannot export '{model_name}' to ONNX opset {opset}: "
                             f"{type(exc).__name__}: {exc}") from exc
    for w in caught:
        if not issubclass(w.category, DeprecationWarning):
            log.debug("onnx export: %s", w.message)
    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {"franet.model": model_name, "franet.format": "1"})
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def _round_trip(net: nn.Module, path: Path, size: int, dynamic_hw: bool) -> dict[str, float]:
    """Compare ONNX Runtime (CPU) with PyTorch on fresh random inputs; return max |diff|."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises untyped errors
        raise _RoundTripError(f"ONNX Runtime cannot load the graph: {exc}") from exc
    shapes = [(1, size, size), (3, size, size)]
    if dynamic_hw:
        shapes.append((2, max(SIZE_MULTIPLE, size // 2 // SIZE_MULTIPLE * SIZE_MULTIPLE),
                       size + SIZE_MULTIPLE))
    rng = np.random.default_rng(1)
    diffs: dict[str, float] = {}
    for n, h, w in shapes:
        x = rng.random((n, 1, h, w), dtype=np.float32)
        try:
            with torch.inference_mode():
                ref = net(torch.from_numpy(x)).numpy()
        except (RuntimeError, ValueError) as exc:  # the model itself refuses this size
            raise _RoundTripError(f"PyTorch model fails at input {(n, 1, h, w)}: {exc}") from exc
        try:
            (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
        except Exception as exc:  # onnxruntime raises untyped errors
            raise _RoundTripError(f"fails at input {(n, 1, h, w)}: {exc}") from exc
        if got.shape != ref.shape:
            raise _RoundTripError(f"output shape {got.shape} != {ref.shape}")
        diff = float(np.abs(got - ref).max())
        diffs[f"batch{n}_{h}x{w}"] = diff
        if not diff <= ROUND_TRIP_ATOL:
            raise _RoundTripError(f"max |prob diff| {diff:.3g} > {ROUND_TRIP_ATOL:g} at "
                                  f"input {(n, 1, h, w)}")
    return diffs


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__
