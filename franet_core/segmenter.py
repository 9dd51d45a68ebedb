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

"""Inference backends behind one interface: image batch in, probability maps out.

A :class:`Segmenter` turns a batch of normalised frames ``(N, H, W)`` float32 in [0, 1]
(``H`` and ``W`` multiples of 32, see :mod:`franet_core.preprocess`) into per-pixel guidewire
probabilities ``(N, H, W)`` float32 in [0, 1]. Everything around it (letterboxing, thresholds,
centerlines, tracking) lives in :mod:`franet_core.pipeline`, so a backend only has to be fast
and numerically faithful to the fp32 PyTorch reference.

Backends:

* :class:`TorchSegmenter` — PyTorch eager in ``inference_mode`` with batch norm folded into the
  convolutions, channels-last memory format and, on CUDA, fp16 autocast and a CUDA graph for
  batch-1 streaming.
* :class:`OnnxSegmenter` — ONNX Runtime on a graph written by ``franet export --format onnx``
  (CPU, CUDA or TensorRT execution providers).

Device policy (the ROS node relies on it): asking for CUDA where there is none, or for an
execution provider ONNX Runtime does not have, logs a warning and runs on the CPU when
``strict=False`` (the default), and raises :class:`BackendUnavailable` when ``strict=True``.
"""
from __future__ import annotations

import abc
import copy
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from franet_core.devices import parse_device
from franet_core.preprocess import SIZE_MULTIPLE

__all__ = ["BackendUnavailable", "OnnxSegmenter", "Segmenter", "TorchSegmenter",
           "build_segmenter", "check_batch", "resolve_device"]

log = logging.getLogger(__name__)

#: Spatial size of the random input used to find and verify batch-norm folds (px).
FOLD_CHECK_SIZE = 64
#: Execution providers by short name, most capable first; CPU is always appended last.
PROVIDERS = {
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider"),
    "cuda": ("CUDAExecutionProvider",),
    "cpu": (),
}
#: ONNX Runtime graph optimisation levels by name.
GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")


class BackendUnavailable(RuntimeError):
    """A strictly requested device or execution provider is not available here."""


def check_batch(batch: Any, input_size: int | None = None) -> np.ndarray:
    """Validate a predictor input and return it as a C-contiguous float32 array.

    Requires a numpy array of shape ``(N, H, W)``, dtype float32, finite values in [0, 1],
    ``H`` and ``W`` multiples of 32 (and both equal to ``input_size`` when the backend has a
    fixed input size). Raises ValueError saying what is wrong and what to do instead.
    """
    if not isinstance(batch, np.ndarray):
        raise ValueError(f"batch must be a numpy array, got {type(batch).__name__}")
    if batch.ndim != 3:
        hint = " (add a batch axis: image[None])" if batch.ndim == 2 else ""
        raise ValueError(f"batch must have shape (N, H, W), got {batch.shape}{hint}")
    if batch.dtype != np.float32:
        raise ValueError(f"batch must be float32 in [0, 1], got dtype {batch.dtype} "
                         "(use franet_core.preprocess.normalize_image)")
    n, h, w = batch.shape
    if n < 1:
        raise ValueError(f"batch is empty (shape {batch.shape})")
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE or h == 0 or w == 0:
        padded = (max(SIZE_MULTIPLE, -(-h // SIZE_MULTIPLE) * SIZE_MULTIPLE),
                  max(SIZE_MULTIPLE, -(-w // SIZE_MULTIPLE) * SIZE_MULTIPLE))
        raise ValueError(f"batch spatial size {(h, w)} is not a multiple of {SIZE_MULTIPLE}; "
                         f"pad it to {padded} (franet_core.preprocess.Letterbox)")
    if input_size is not None and (h, w) != (input_size, input_size):
        raise ValueError(f"this backend takes {input_size}x{input_size} inputs, got {h}x{w} "
                         f"(use Letterbox.fit(shape, size={input_size}))")
    lo, hi = float(batch.min()), float(batch.max())
    if not (0.0 <= lo and hi <= 1.0):  # also false for NaN
        raise ValueError(f"batch values must be finite and in [0, 1], got range [{lo}, {hi}]")
    return np.ascontiguousarray(batch)


def resolve_device(device: str, *, strict: bool = False) -> str:
    """Return the torch device string to use for a requested ``"cpu"`` / ``"cuda[:i]"``.

    Without a usable GPU a CUDA request falls back to ``"cpu"`` with a logged warning, or
    raises :class:`BackendUnavailable` when ``strict``. Unknown device names raise ValueError.
    """
    kind, _, index = parse_device(device).partition(":")
    if kind == "cpu":
        return "cpu"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count > int(index or 0):
        return str(device)
    why = (f"CUDA device {device!r} requested but "
           + (f"only {count} GPU(s) are visible" if count else
              f"no GPU is usable (torch {torch.__version__}, "
              f"CUDA build: {torch.version.cuda or 'no'})"))
    if strict:
        raise BackendUnavailable(why)
    log.warning("%s; falling back to CPU", why)
    return "cpu"


class Segmenter(abc.ABC):
    """Batch of frames ``(N, H, W)`` float32 in [0, 1] → probabilities ``(N, H, W)`` float32.

    Attributes: ``name`` (model name, e.g. ``"franet"``), ``backend`` (``"torch"`` or
    ``"onnx"``), ``device`` (``"cpu"`` or ``"cuda[:i]"``, where it actually runs after any
    fallback) and ``input_size`` (``None`` if any multiple of 32 is accepted, else the fixed
    square side in px).
    """

    name: str
    backend: str
    device: str
    input_size: int | None = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probability maps for ``batch``; see :func:`check_batch` for the input contract."""
        return self._predict(check_batch(batch, self.input_size))

    @abc.abstractmethod
    def _predict(self, batch: np.ndarray) -> np.ndarray:
        """Backend work on a validated, contiguous float32 ``(N, H, W)`` batch."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, device={self.device!r}, "
                f"input_size={self.input_size})")


class TorchSegmenter(Segmenter):
    """PyTorch backend: eval mode, ``inference_mode``, folded BN, channels-last, CUDA extras.

    ``fold_bn`` merges batch norms into convolutions (verified numerically, see
    :mod:`franet_core.fold`; a model that cannot be folded runs unfolded with a warning).
    ``fp16`` (CUDA only) runs under float16 autocast; ``cuda_graphs`` (CUDA only) captures
    one CUDA graph per batch-1 input shape after a warm-up and replays it, which removes the
    per-layer launch overhead that dominates batch-1 latency on a fast GPU. Both are ignored
    with a logged warning on the CPU. The caller's ``model`` is never modified.
    """

    backend = "torch"

    def __init__(self, model: nn.Module, device: str = "cpu", fp16: bool = False,
                 channels_last: bool = True, fold_bn: bool = True, cuda_graphs: bool = False,
                 *, name: str | None = None, strict: bool = False) -> None:
        self.name = name or type(model).__name__.lower()
        self.device = resolve_device(device, strict=strict)
        on_cuda = self.device.startswith("cuda")
        for flag, value in (("fp16", fp16), ("cuda_graphs", cuda_graphs)):
            if value and not on_cuda:
                log.warning("%s=True needs CUDA; running %s in float32 eager mode on the CPU",
                            flag, self.name)
        self.fp16 = fp16 and on_cuda
        self.cuda_graphs = cuda_graphs and on_cuda
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = copy.deepcopy(model).eval()  # the caller's model keeps its mode and device
        self.fold_report = None
        if fold_bn:
            model = self._fold(model)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self._graphs: dict[tuple[int, ...], tuple[Any, torch.Tensor, torch.Tensor]] = {}

    def _fold(self, model: nn.Module) -> nn.Module:
        from franet_core.fold import FoldError, fold_batchnorm

        generator = torch.Generator().manual_seed(0)
        example = torch.rand(1, 1, FOLD_CHECK_SIZE, FOLD_CHECK_SIZE, generator=generator)
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        try:
            folded, self.fold_report = fold_batchnorm(model, example.to(device))
        except FoldError as exc:
            log.warning("%s: %s; running without batch-norm folding", self.name, exc)
            return model
        return folded

    @torch.inference_mode()
    def _predict(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).unsqueeze(1)
        if self.cuda_graphs and x.shape[0] == 1:
            prob = self._replay(x)
        else:
            prob = self._forward(x.to(self.device, non_blocking=True)
                                 .contiguous(memory_format=self.memory_format))
        return prob[:, 0].float().cpu().numpy()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            return torch.sigmoid(self.model(x).float())

    def _replay(self, x: torch.Tensor) -> torch.Tensor:
        """Run a batch-1 input through a CUDA graph captured for its shape."""
        key = tuple(x.shape)
        if key not in self._graphs:
            static_in = torch.zeros(key, device=self.device).contiguous(
                memory_format=self.memory_format)
            stream = torch.cuda.Stream(device=self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for _ in range(3):  # warm-up: cuDNN autotuning and allocator pools
                    self._forward(static_in)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            self._graphs[key] = (graph, static_in, static_out)
            log.info("%s: captured a CUDA graph for input shape %s", self.name, key)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(x, non_blocking=True)
        graph.replay()
        return static_out.clone()


class OnnxSegmenter(Segmenter):
    """ONNX Runtime backend for a graph written by :func:`franet_core.export.export_onnx`.

    ``path`` is the ``.onnx`` file; its JSON sidecar (same stem, ``.json``) must match the
    graph (input/output names, channel count, static sizes, model name) or ValueError names
    the mismatch. ``providers``: ``"cpu"``, ``"cuda"``, ``"tensorrt"`` or ``None`` for the
    most capable one installed. A missing provider falls back to the CPU with a logged
    warning (or raises :class:`BackendUnavailable` when ``strict``). ``threads`` sets ONNX
    Runtime's intra-op threads (``None``: its default, one per physical core);
    ``graph_optimization`` is one of ``"disable" | "basic" | "extended" | "all"``;
    ``execution_mode`` is ``"sequential"`` or ``"parallel"`` (inter-op parallelism);
    ``spinning=False`` makes idle worker threads sleep instead of busy-waiting, which is much
    faster when other processes compete for the cores (docs/performance.md).
    """

    backend = "onnx"

    def __init__(self, path: str | Path, providers: str | None = None,
                 threads: int | None = None, graph_optimization: str = "all",
                 *, execution_mode: str = "sequential", spinning: bool = True,
                 strict: bool = False) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.meta = read_onnx_sidecar(self.path)
        if graph_optimization not in GRAPH_OPTIMIZATION:
            raise ValueError(f"graph_optimization must be one of {GRAPH_OPTIMIZATION}, "
                             f"got {graph_optimization!r}")
        if execution_mode not in ("sequential", "parallel"):
            raise ValueError(f"execution_mode must be 'sequential' or 'parallel', "
                             f"got {execution_mode!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[graph_optimization]
        options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if execution_mode == "parallel"
                                  else ort.ExecutionMode.ORT_SEQUENTIAL)
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        for pool in ("intra", "inter"):
            options.add_session_config_entry(f"session.{pool}_op.allow_spinning",
                                             "1" if spinning else "0")
        chosen = select_providers(providers, ort.get_available_providers(), strict=strict)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own untyped errors (Fail, InvalidGraph)
            raise ValueError(f"{self.path}: ONNX Runtime cannot load this graph: {exc}") from exc
        _check_graph_matches(self.path, self.session, self.meta)
        active = self.session.get_providers()
        if chosen[0] not in active:
            why = f"{chosen[0]} could not be initialised (active: {active})"
            if strict:
                raise BackendUnavailable(why)
            log.warning("%s; running on %s", why, active[0])
        self.providers = tuple(active)
        self.name = str(self.meta["model"])
        self.device = "cpu" if active[0] == "CPUExecutionProvider" else "cuda"
        spec = self.meta["onnx"]
        self.input_size = None if spec["dynamic_hw"] else int(spec["size"])
        self._input = spec["input_name"]
        self._output = spec["output_name"]

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        (prob,) = self.session.run([self._output], {self._input: batch[:, None]})
        return np.ascontiguousarray(prob[:, 0], dtype=np.float32)


def select_providers(request: str | None, available: list[str], *,
                     strict: bool = False) -> list[str]:
    """ONNX Runtime provider list for a short name, CPU always last as a safety net.

    ``None`` picks the most capable installed provider (TensorRT, then CUDA, then CPU).
    A named provider that is not installed logs a warning and yields CPU only, or raises
    :class:`BackendUnavailable` when ``strict``. Unknown names raise ValueError.
    """
    if request is None:
        for name in ("tensorrt", "cuda"):
            if PROVIDERS[name][0] in available:
                return select_providers(name, available)
        return ["CPUExecutionProvider"]
    if request not in PROVIDERS:
        raise ValueError(f"unknown execution provider {request!r}; use one of "
                         f"{sorted(PROVIDERS)} or None")
    wanted = [p for p in PROVIDERS[request] if p in available]
    if PROVIDERS[request] and PROVIDERS[request][0] not in available:
        why = (f"ONNX Runtime execution provider {PROVIDERS[request][0]} is not installed "
               f"(available: {available})")
        if strict:
            raise BackendUnavailable(why)
        log.warning("%s; falling back to CPUExecutionProvider", why)
        wanted = []
    return wanted + ["CPUExecutionProvider"]


def read_onnx_sidecar(path: str | Path) -> dict[str, Any]:
    """Load and validate the JSON written beside an exported ``.onnx`` file.

    It is the checkpoint config (``model``, ``model_config``, ``threshold``, ...) plus an
    ``"onnx"`` section: ``input_name``, ``output_name``, ``dynamic_hw``, ``size`` (export
    size, px), ``opset`` and the round-trip differences measured at export.
    """
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"ONNX model file must end in .onnx: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    side = path.with_suffix(".json")
    if not side.is_file():
        raise FileNotFoundError(f"ONNX config not found: {side} (written by 'franet export' "
                                f"beside {path.name})")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{side}: corrupt ONNX config: {exc}") from exc
    section = meta.get("onnx") if isinstance(meta, dict) else None
    missing = (["model"] if not isinstance(meta, dict) or "model" not in meta else [])
    missing += [f"onnx.{k}" for k in ("input_name", "output_name", "dynamic_hw", "size")
                if not isinstance(section, dict) or k not in section]
    if missing:
        raise ValueError(f"{side}: ONNX config lacks {missing} (re-export with 'franet export')")
    from franet_core.checkpoint import check_meta

    return check_meta(meta, where=str(side))


def _check_graph_matches(path: Path, session: Any, meta: dict[str, Any]) -> None:
    """Refuse an ONNX graph that does not fit its sidecar, naming what differs."""
    spec = meta["onnx"]
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if len(inputs) != 1 or inputs[0].name != spec["input_name"]:
        problems.append(f"inputs {[i.name for i in inputs]} != ['{spec['input_name']}']")
    if spec["output_name"] not in [o.name for o in outputs]:
        problems.append(f"outputs {[o.name for o in outputs]} lack '{spec['output_name']}'")
    if inputs:
        shape = list(inputs[0].shape)
        size = spec["size"]
        expect_hw = [None, None] if spec["dynamic_hw"] else [size, size]
        hw = [d if isinstance(d, int) else None for d in shape[2:]]
        if len(shape) != 4 or shape[1] != 1 or hw != expect_hw:
            problems.append(f"input shape {shape} != [batch, 1, "
                            f"{'H, W' if spec['dynamic_hw'] else f'{size}, {size}'}]")
        if inputs[0].type != "tensor(float)":
            problems.append(f"input type {inputs[0].type} != tensor(float)")
    graph_model = session.get_modelmeta().custom_metadata_map.get("franet.model")
    if graph_model != meta["model"]:
        problems.append(f"graph is for model {graph_model!r}, config says {meta['model']!r}")
    if problems:
        raise ValueError(f"{path}: ONNX graph does not match {path.with_suffix('.json').name}: "
                         + "; ".join(problems))


def onnx_cache_dir() -> Path:
    """Where ONNX graphs exported on demand from ``.safetensors`` weights are kept.

    ``$FRANET_CACHE/onnx`` if set, else ``$XDG_CACHE_HOME/franet/onnx``, else
    ``~/.cache/franet/onnx``. Files are named by a hash of the weights, their config, the
    opset and the torch version, so changed weights never reuse a stale graph.
    """
    root = os.environ.get("FRANET_CACHE")
    if root:
        return Path(root) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "franet" / "onnx"


def build_segmenter(weights: str | Path | None = None, backend: str = "torch",
                    device: str = "cpu", *, strict: bool = False, export_size: int = 512,
                    **kw: Any) -> tuple[Segmenter, dict[str, Any]]:
    """Build a segmenter from weights on disk; returns ``(segmenter, meta)``.

    ``weights``: ``None`` for the shipped :data:`franet_core.checkpoint.DEFAULT_WEIGHTS`, a
    ``.safetensors`` file (with its JSON config), or — for ``backend="onnx"`` only — an
    exported ``.onnx`` file (with its JSON config). Given ``.safetensors`` weights, the onnx
    backend exports them once with a dynamic batch axis into :func:`onnx_cache_dir` (traced at
    ``export_size`` px, which is also the fixed input size if the model cannot take dynamic
    H/W) and reuses that graph afterwards. ``meta`` is the checkpoint config (``model``,
    ``model_config``, ``threshold``, ``input_size``, ...). ``device`` is ``"cpu"`` or
    ``"cuda"``; the device policy (fallback or ``strict`` error) is described in the module
    docstring. Extra keyword
    arguments go to :class:`TorchSegmenter` (``fp16``, ``channels_last``, ``fold_bn``,
    ``cuda_graphs``) or :class:`OnnxSegmenter` (``threads``, ``graph_optimization``,
    ``execution_mode``, ``spinning``, ``providers`` — default chosen from ``device``).
    """
    from franet_core import checkpoint

    if backend not in ("torch", "onnx"):
        raise ValueError(f"unknown backend {backend!r}; use 'torch' or 'onnx'")
    path = Path(weights) if weights is not None else checkpoint.DEFAULT_WEIGHTS
    if backend == "torch":
        if path.suffix == ".onnx":
            raise ValueError(f"{path}: the torch backend needs .safetensors weights; use "
                             "backend='onnx' for an exported graph")
        model, meta = checkpoint.load_model(path)
        return TorchSegmenter(model, device, name=meta["model"], strict=strict, **kw), meta
    resolved = resolve_device(device, strict=strict)
    kw.setdefault("providers", "cuda" if resolved.startswith("cuda") else "cpu")
    if path.suffix == ".onnx":
        segmenter = OnnxSegmenter(path, strict=strict, **kw)
        return segmenter, segmenter.meta
    onnx_path = _cached_export(path, export_size)
    segmenter = OnnxSegmenter(onnx_path, strict=strict, **kw)
    return segmenter, segmenter.meta


def _cached_export(weights: Path, size: int) -> Path:
    """Export ``weights`` to ONNX once (keyed by content) and return the cached graph."""
    from franet_core import checkpoint
    from franet_core.export import DEFAULT_OPSET, export_weights_onnx

    if not weights.is_file():
        raise FileNotFoundError(f"weights file not found: {weights}")
    digest = hashlib.sha256()
    for part in (weights, checkpoint.sidecar_path(weights)):
        digest.update(part.read_bytes() if part.is_file() else b"")
    digest.update(f"{DEFAULT_OPSET}/{size}/{torch.__version__}".encode())
    target = onnx_cache_dir() / f"{weights.stem}-{digest.hexdigest()[:16]}.onnx"
    if not (target.is_file() and target.with_suffix(".json").is_file()):
        log.info("exporting %s to ONNX (cached at %s)", weights, target)
        export_weights_onnx(weights, target, size=size)
    return target
