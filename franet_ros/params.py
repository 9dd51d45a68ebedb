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

"""The tracker node's parameters: one table, its validation, and its mapping onto franet_core.

:data:`PARAMETERS` is the single source of truth: the node declares every entry (with a
ParameterDescriptor built from it), ``config/tracker.yaml`` lists every entry with its
default (a test checks both), and docs/ros.md shows the same table. ROS parameters cannot
be None, so "not set" is spelled ``""`` for strings and ``0`` for sizes and rates.

Tracker settings are the fields of :class:`franet_core.tracker.TrackerConfig`, exposed as
``tracker.<field>`` with the dataclass defaults (the paper's defaults live there, not here).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import math
from pathlib import Path
import textwrap
from typing import Any, Mapping, Union

from franet_core.tracker import TrackerConfig

Value = Union[bool, int, float, str]


@dataclass(frozen=True)
class Param:
    """One node parameter.

    kind: bool, int, float or str (the ROS parameter type is fixed by it).
    limits: inclusive (low, high) for numbers; step: the integer step of an int range
        (valid values are low + k * step), 0 for none. choices: allowed strings.
    """

    name: str
    kind: type
    default: Value
    description: str
    limits: tuple[float, float] | None = None
    step: int = 0
    choices: tuple[str, ...] = ()

    def validate(self, value: Any) -> str | None:
        """None when ``value`` is acceptable, else a one-line reason naming the parameter."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not self.kind:
            return (f"{self.name} must be {self.kind.__name__}, "
                    f"got {type(value).__name__} {value!r}")
        if self.kind is float and not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.limits is not None and not self.limits[0] <= value <= self.limits[1]:
            return f"{self.name}={value} is outside [{self.limits[0]}, {self.limits[1]}]"
        if self.step and (value - self.limits[0]) % self.step:
            return f"{self.name}={value} must be {self.limits[0]:g} + a multiple of {self.step}"
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {list(self.choices)}"
        return None


_NODE_PARAMETERS = (
    Param("weights", str, "", "Path to .safetensors (torch or onnx backend) or exported .onnx "
          "weights with their JSON config; empty = the model shipped with franet."),
    Param("model", str, "", "Expected architecture name (e.g. franet); configure fails if the "
          "weights are for another model. Empty = accept what the weights describe."),
    Param("backend", str, "torch", "Inference backend.", choices=("torch", "onnx")),
    Param("device", str, "cuda", "Inference device; cuda falls back to cpu with a warning "
          "when no GPU is usable.", choices=("cuda", "cpu")),
    Param("threshold", float, 0.0, "Probability above which a pixel is guidewire; 0 = the "
          "threshold stored with the weights (0.5 if they have none).", limits=(0.0, 0.99)),
    Param("tip_check", str, "auto", "Tip check that withholds unlikely tips (published as "
          "LOST): auto = the one fitted for the weights (<stem>.tipcheck.json beside them) "
          "when there is one, off = publish every tracked tip, else a path to a check."),
    Param("tip_min_score", float, -1.0, "Gate of the tip check: tips scoring under it are "
          "withheld; -1 = the check's own (chosen on validation data for a false-tip rate "
          "<= 1 %).", limits=(-1.0, 1.0)),
    Param("input_size", int, 0, "Network input side in px (longer side resized, then padded); "
          "0 = native size padded to a multiple of 32.", limits=(0, 4096), step=32),
    Param("pixel_spacing_mm", float, 0.0, "Detector pixel spacing in mm/px, copied into "
          "GuidewireArray.pixel_spacing_mm; 0 = unknown.", limits=(0.0, 10.0)),
    Param("max_rate_hz", float, 0.0, "Process at most this many frames per second; frames in "
          "between are dropped. 0 = as fast as frames arrive.", limits=(0.0, 1000.0)),
    Param("max_image_pixels", int, 4096 * 4096, "Frames with more pixels (width x height) are "
          "skipped as bad input.", limits=(1, 2**31 - 1)),
    Param("publish_overlay", bool, False, "Offer the bgr8 overlay image (best effort, depth "
          "1); it is drawn only while someone subscribes, after the other outputs are "
          "published."),
    Param("qos_reliability", str, "best_effort", "Reliability of the image subscription "
          "(history keep-last, depth 1).", choices=("best_effort", "reliable")),
    Param("warmup_frames", int, 2, "Blank frames run through the model on configure so the "
          "first real frame is not slow.", limits=(0, 100)),
    Param("diagnostics_period_s", float, 1.0, "Period of /diagnostics messages, s.",
          limits=(0.1, 60.0)),
    Param("autostart", bool, False, "Configure and activate right after start-up."),
)


def _field_docs(cls: type) -> dict[str, str]:
    """``name: text`` entries of a config class docstring (continuation lines joined)."""
    docs: dict[str, str] = {}
    current = None
    for line in (cls.__doc__ or "").splitlines()[1:]:
        name, sep, text = line.strip().partition(": ")
        if sep and name.isidentifier() and not line.startswith("        "):
            current = name
            docs[name] = text
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return docs


def _tracker_parameters() -> tuple[Param, ...]:
    """``tracker.<field>`` entries from TrackerConfig's fields, defaults and docstring."""
    docs = _field_docs(TrackerConfig)
    params = []
    for f in dataclasses.fields(TrackerConfig):
        default = getattr(TrackerConfig(), f.name)
        kind = type(default)
        if kind not in (bool, int, float):
            raise TypeError(f"TrackerConfig.{f.name} has type {kind.__name__}; only bool, int "
                            "and float fields can be ROS parameters")
        limits = None if kind is bool else (0, 1_000_000) if kind is int else (0.0, 1e6)
        text = docs.get(f.name, f"TrackerConfig.{f.name}").replace("``", "")
        params.append(Param(f"tracker.{f.name}", kind, default, text[:1].upper() + text[1:],
                            limits=limits))
    return tuple(params)


#: Every parameter of ``tracker_node``, in declaration order.
PARAMETERS: tuple[Param, ...] = _NODE_PARAMETERS + _tracker_parameters()
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMETERS}


def defaults() -> dict[str, Value]:
    """Name -> default value of every parameter."""
    return {p.name: p.default for p in PARAMETERS}


def validate(values: Mapping[str, Any]) -> list[str]:
    """Reasons why ``values`` (name -> value, any subset) are not acceptable; [] if fine."""
    reasons = []
    for name, value in values.items():
        param = BY_NAME.get(name)
        if param is None:
            reasons.append(f"unknown parameter {name!r}")
            continue
        reason = param.validate(value)
        if reason:
            reasons.append(reason)
    return reasons


@dataclass(frozen=True)
class NodeSettings:
    """Validated parameter values, in the types the node and the pipeline use."""

    values: Mapping[str, Value]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "NodeSettings":
        """Defaults overlaid with ``values``; ValueError lists every bad value."""
        merged = {**defaults(), **values}
        reasons = validate(merged)
        if reasons:
            raise ValueError("bad parameters: " + "; ".join(reasons))
        return cls({k: (float(v) if BY_NAME[k].kind is float else v) for k, v in merged.items()})

    def __getitem__(self, name: str) -> Value:
        """Return the value of parameter ``name``."""
        return self.values[name]

    @property
    def weights(self) -> str | None:
        """Weights path, None for the shipped model."""
        return str(self.values["weights"]) or None

    def tracker_config(self) -> TrackerConfig:
        """Build the tracker config from the ``tracker.*`` parameters."""
        prefix = "tracker."
        return TrackerConfig(**{k[len(prefix):]: v for k, v in self.values.items()
                                if k.startswith(prefix)})

    def tip_check_args(self) -> dict[str, Any]:
        """``FramePipeline.from_weights`` keywords of the ``tip_check*`` parameters."""
        gate = float(self.values["tip_min_score"])
        return {"tip_check": str(self.values["tip_check"]),
                "min_tip_score": None if gate < 0 else gate}

    def pipeline_config(self) -> Any:
        """Build the :class:`franet_core.pipeline.PipelineConfig` these parameters describe."""
        from franet_core.pipeline import PipelineConfig

        return dataclasses.replace(
            PipelineConfig(),
            threshold=float(self.values["threshold"]) or None,
            input_size=int(self.values["input_size"]) or None,
            pixel_spacing_mm=float(self.values["pixel_spacing_mm"]) or None,
            tracker=self.tracker_config())


NODE_NAME = "tracker_node"
YAML_HEADER = """\
# Parameters of franet's tracker_node, every one with its default. Generated from
# franet_ros/params.py (the single source) by `python -m franet_ros.params`;
# test/test_ros_package.py checks they stay identical. launch/tracker.launch.py passes this
# file as params_file. '/**' applies to the node whatever its namespace. ROS parameter
# types are strict: keep floats written with a decimal point.
"""


def render_yaml() -> str:
    """Write the parameter table as a commented ROS 2 parameter file (config/tracker.yaml)."""
    lines = [YAML_HEADER.rstrip("\n"), "/**:", "  ros__parameters:"]
    in_tracker = False
    for p in PARAMETERS:
        text = p.description
        if p.choices:
            text += f" One of: {', '.join(p.choices)}."
        elif p.limits is not None and not p.name.startswith("tracker."):
            text += f" Range [{p.limits[0]}, {p.limits[1]}]"
            text += f", step {p.step}." if p.step else "."
        indent, key = "    ", p.name
        if p.name.startswith("tracker."):
            if not in_tracker:
                lines.append("    tracker:  # franet_core.tracker.TrackerConfig (px, frames)")
                in_tracker = True
            indent, key = "      ", p.name.split(".", 1)[1]
        lines += [f"{indent}# {line}" for line in textwrap.wrap(text, 95 - len(indent))]
        lines.append(f"{indent}{key}: {json.dumps(p.default)}")
    return "\n".join(lines) + "\n"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML mappings -> dotted parameter names, as ROS does (``tracker: {a: 1}``)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Parameter values of ``tracker_node`` from a ROS 2 parameter YAML file.

    Reads the ``ros__parameters`` of the ``/**`` wildcard section and of any section named
    ``tracker_node`` (optionally namespaced, e.g. ``/robot/tracker_node``), later sections
    overriding earlier ones, and validates them (ValueError with every reason).
    """
    from franet_core.config import load_file

    data = load_file(path)
    values: dict[str, Any] = {}
    for section, body in data.items():
        node = str(section).rstrip("/").rsplit("/", 1)[-1]
        if section in ("/**", "**") or node == NODE_NAME:
            if not isinstance(body, Mapping) or "ros__parameters" not in body:
                raise ValueError(f"{path}: section {section!r} has no ros__parameters")
            values.update(flatten(body["ros__parameters"] or {}))
    reasons = validate(values)
    if reasons:
        raise ValueError(f"{path}: " + "; ".join(reasons))
    return values


if __name__ == "__main__":
    print(render_yaml(), end="")
