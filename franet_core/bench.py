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

"""Latency, throughput and memory of the whole frame pipeline, against a U-Net baseline.

What is measured (all after ``warmup`` untimed frames, wall clock, milliseconds):

* **streaming** (batch 1, what a robot sees): each frame goes through the full pipeline
  (preprocess → segmenter → postprocess → centerline/tip → tracking); median, p95, mean and
  max per stage and end to end; ``streaming_fps = 1000 / median end-to-end``.
* **batched** (the FRA-Net paper's protocol): the N preprocessed frames of the sequence go
  through the segmenter ``batch`` at a time; ``fps = N / T`` with T the total wall time.
* **memory**: host peak RSS (``getrusage``, process lifetime, so it includes everything run
  before) and the RSS growth during this model's run; on CUDA also
  ``torch.cuda.max_memory_allocated`` for this model alone.

The baseline (U-Net by default) runs in the same process on the same frames right after the
main model, so the ratio between them holds even on a busy or throttled machine, where the
absolute numbers do not. ``--long N`` is a soak test: N streaming frames with the RSS
sampled at intervals, to show that memory and throughput do not drift.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import platform
import resource
import tempfile
import time
from typing import Any, Iterator

import numpy as np

__all__ = ["BenchConfig", "machine_info", "run_bench", "soak"]

log = logging.getLogger(__name__)

#: Number of distinct frames synthesised; longer runs cycle through them (px content only).
DISTINCT_FRAMES = 32


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark and how.

    ``model``: a model name (randomly initialised: latency does not depend on the weights)
    or a ``.safetensors`` path; ``None`` means the shipped default weights.
    ``baseline``: same forms, or ``None`` to skip it. ``size``: square frame side (px);
    ``batch``: batch size of the batched protocol; ``frames``: timed frames per measurement;
    ``warmup``: untimed frames before each; ``threads``: CPU threads for torch and ONNX
    Runtime (``None``: library defaults). ``model_config``: overrides for a model given by
    name (e.g. a small width for tests).
    """

    model: str | None = None
    baseline: str | None = "unet"
    backend: str = "torch"
    device: str = "cpu"
    size: int = 512
    batch: int = 1
    frames: int = 100
    warmup: int = 10
    threads: int | None = None
    seed: int = 0
    model_config: tuple[tuple[str, Any], ...] = ()


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Benchmark ``config.model`` and the baseline; return a JSON-ready report dict."""
    _validate(config)
    with _threads(config.threads):
        return _run_bench(config)


def _run_bench(config: BenchConfig) -> dict[str, Any]:
    frames = list(synthetic_frames(config.size, min(DISTINCT_FRAMES, config.frames),
                                   config.seed))
    report: dict[str, Any] = {
        "franet_bench": 1,
        "machine": machine_info(config.device),
        "settings": {"backend": config.backend, "device": config.device, "size": config.size,
                     "batch": config.batch, "frames": config.frames, "warmup": config.warmup,
                     "threads": config.threads},
        "models": {},
    }
    specs = [("model", config.model)] + ([("baseline", config.baseline)]
                                         if config.baseline is not None else [])
    for role, spec in specs:
        with tempfile.TemporaryDirectory(prefix="franet-bench-") as tmp:
            pipeline, segmenter, info = _build(spec, config, Path(tmp))
            result = _measure(pipeline, segmenter, frames, config)
        result.update(info, role=role)
        report["models"][role] = result
        log.info("%s (%s): end to end median %.1f ms, batched %.1f FPS", role, info["name"],
                 result["end_to_end_ms"]["median"], result["batched"]["fps"])
    if "baseline" in report["models"]:
        main, base = report["models"]["model"], report["models"]["baseline"]
        report["ratio_to_baseline"] = {
            "inference_median": main["stages_ms"]["inference"]["median"]
            / base["stages_ms"]["inference"]["median"],
            "end_to_end_median": main["end_to_end_ms"]["median"]
            / base["end_to_end_ms"]["median"],
            "batched_fps": main["batched"]["fps"] / base["batched"]["fps"],
        }
    return report


def soak(config: BenchConfig, n_frames: int, samples: int = 20) -> dict[str, Any]:
    """Stream ``n_frames`` through the main model's pipeline, sampling RSS ``samples`` times.

    Returns the samples (frame index, RSS MiB, FPS over the interval) and the RSS growth
    from the first sample after warm-up to the last, in MiB: a leak shows as steady growth.
    """
    _validate(config)
    if n_frames < 2 * samples:
        raise ValueError(f"--long needs at least {2 * samples} frames, got {n_frames}")
    frames = list(synthetic_frames(config.size, DISTINCT_FRAMES, config.seed))
    every = n_frames // samples
    with _threads(config.threads), tempfile.TemporaryDirectory(prefix="franet-bench-") as tmp:
        pipeline, _, info = _build(config.model, config, Path(tmp))
        machine = machine_info(config.device)
        for i in range(config.warmup):
            pipeline.process(frames[i % len(frames)])
        points = []
        start = time.perf_counter()
        for i in range(n_frames):
            pipeline.process(frames[i % len(frames)])
            if (i + 1) % every == 0:
                now = time.perf_counter()
                points.append({"frame": i + 1, "rss_mib": _rss_mib(),
                               "fps": every / (now - start)})
                start = now
    rss = [p["rss_mib"] for p in points]
    return {"franet_bench_soak": 1, "machine": machine, **info,
            "frames": n_frames, "size": config.size, "samples": points,
            "rss_growth_mib": rss[-1] - rss[0], "rss_max_mib": max(rss),
            "fps_first": points[0]["fps"], "fps_last": points[-1]["fps"]}


def synthetic_frames(size: int, n: int, seed: int) -> Iterator[np.ndarray]:
    """``n`` uint8 (size, size) frames with a thin dark wire-like curve on a textured field.

    The content only has to exercise every stage (a curve gives the centerline and tracker
    real work); accuracy is measured elsewhere.
    """
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(150, 40, (size, size)).astype(np.float32), (0, 0),
                            size / 32)
    t = np.linspace(0.0, 1.0, 64)
    for i in range(n):
        frame = base + rng.normal(0, 8, (size, size)).astype(np.float32)
        phase = 2 * np.pi * i / max(n, 1)
        x = size * (0.15 + 0.6 * t)
        y = size * (0.5 + 0.25 * np.sin(3 * t + phase) * t)
        points = np.stack([x, y], axis=1).round().astype(np.int32)
        cv2.polylines(frame, [points], False, 60.0, thickness=max(2, size // 128),
                      lineType=cv2.LINE_AA)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Describe the machine: CPU model, cores, load, library versions, GPU name."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def _validate(config: BenchConfig) -> None:
    for name in ("size", "batch", "frames"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(config, name)}")
    if config.size % 32:
        raise ValueError(f"--size {config.size} is not a multiple of 32")
    if config.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {config.warmup}")
    if config.threads is not None and config.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {config.threads}")


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op CPU threads for the duration of a measurement, then restore."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build(spec: str | None, config: BenchConfig, tmp: Path) -> tuple[Any, Any, dict[str, Any]]:
    """``(pipeline, segmenter, description)`` for a model name, weights path or ``None``.

    A model given by name is randomly initialised and saved under ``tmp``; for the onnx
    backend it is exported under ``tmp`` too (the on-demand export cache is for real weights).
    """
    from franet_core.pipeline import FramePipeline, PipelineConfig
    from franet_core.segmenter import build_segmenter

    kw: dict[str, Any] = {}
    if config.backend == "onnx" and config.threads is not None:
        kw["threads"] = config.threads
    if spec is None or spec.endswith((".safetensors", ".onnx")):
        weights, source = spec, spec or "default weights"
    else:
        model_config = dict(config.model_config) if spec == config.model else {}
        weights, source = str(_random_weights(spec, model_config, tmp)), f"{spec} (random init)"
        if config.backend == "onnx":
            from franet_core.export import export_weights_onnx

            weights = str(export_weights_onnx(weights, tmp / f"{spec}.onnx",
                                              size=config.size).onnx_path)
    segmenter, meta = build_segmenter(weights, config.backend, config.device, **kw)
    pipeline_config = PipelineConfig(threshold=float(meta.get("threshold", 0.5)),
                                     input_size=config.size)
    info = {"name": segmenter.name, "source": source, "backend": segmenter.backend,
            "device": segmenter.device, "parameters": _parameter_count(segmenter)}
    return FramePipeline(segmenter, pipeline_config), segmenter, info


def _random_weights(name: str, model_config: dict[str, Any], tmp: Path) -> Path:
    """Save a randomly initialised ``name`` model so every backend loads it the same way."""
    from franet_core.checkpoint import save_weights
    from franet_core.models import MODEL_NAMES, build_model

    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODEL_NAMES)} or give "
                         "a .safetensors file")
    model = build_model(name, **model_config)
    return save_weights(tmp / f"{name}.safetensors", model.state_dict(),
                        {"model": name, "model_config": model_config, "threshold": 0.5,
                         "input_size": None})


def _parameter_count(segmenter: Any) -> int | None:
    model = getattr(segmenter, "model", None)
    return None if model is None else int(sum(p.numel() for p in model.parameters()))


def _measure(pipeline: Any, segmenter: Any, frames: list[np.ndarray],
             config: BenchConfig) -> dict[str, Any]:
    """Streaming stage timings, batched throughput and memory for one pipeline."""
    import torch

    on_cuda = segmenter.device.startswith("cuda")
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mib()
    for i in range(config.warmup):
        pipeline.process(frames[i % len(frames)])
    pipeline.reset()
    stages: dict[str, list[float]] = {}
    end_to_end = []
    for i in range(config.frames):
        start = time.perf_counter()
        result = pipeline.process(frames[i % len(frames)])
        end_to_end.append((time.perf_counter() - start) * 1e3)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    batched = _batched(segmenter, frames, config)
    memory: dict[str, Any] = {"peak_rss_mib": _peak_rss_mib(),
                              "rss_growth_mib": _rss_mib() - rss_before}
    if on_cuda:
        memory["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    e2e = _stats(end_to_end)
    return {"stages_ms": {k: _stats(v) for k, v in stages.items()}, "end_to_end_ms": e2e,
            "streaming_fps": 1e3 / e2e["median"], "batched": batched, "memory": memory}


def _batched(segmenter: Any, frames: list[np.ndarray], config: BenchConfig) -> dict[str, Any]:
    """Time the paper's protocol: N frames through the segmenter ``batch`` at a time, N / T."""
    from franet_core.preprocess import normalize_image

    images = np.stack([normalize_image(f) for f in frames])
    sequence = images[np.arange(config.frames) % len(images)]
    chunks = [sequence[i:i + config.batch] for i in range(0, config.frames, config.batch)]
    for chunk in chunks[:max(1, config.warmup // config.batch)]:
        segmenter.predict(chunk)
    start = time.perf_counter()
    for chunk in chunks:
        segmenter.predict(chunk)
    seconds = time.perf_counter() - start
    return {"batch": config.batch, "frames": config.frames, "seconds": seconds,
            "fps": config.frames / seconds}


def _stats(values_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(values_ms, dtype=np.float64)
    return {"median": float(np.median(arr)), "p95": float(np.percentile(arr, 95)),
            "mean": float(arr.mean()), "max": float(arr.max()), "n": int(arr.size)}


def _rss_mib() -> float:
    """Return the current resident set size in MiB (Linux /proc; else the peak RSS)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return _peak_rss_mib()


def _peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
