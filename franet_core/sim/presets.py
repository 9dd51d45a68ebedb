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

"""Named simulator presets: the held-out test domains, and leave-one-domain-out families.

A preset is a set of :class:`SimConfig` overrides plus a fixed seed, so anyone rebuilds a
test set exactly with ``franet synth --preset NAME --kind KIND --out DIR``. Test seeds are
single integers from 7 000 000 up; training draws item ``i`` from the seed pair
``(train_seed, i)`` and validation from ``(val_seed, i)``, so no test sequence can appear in
training or validation. Real backgrounds come from the recorded file split
(``background_split.yaml``): ``realbg`` uses the test files only, training the train files,
validation the validation files.

Leave-one-domain-out (:data:`LEAVE_OUT`): for each family, the training overrides that
remove it and the test preset that measures it, our proxy for a C-arm never seen.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from franet_core.sim.config import Range, SimConfig

__all__ = ["LEAVE_OUT", "PRESETS", "Preset", "background_split", "preset"]


@dataclass(frozen=True)
class Preset:
    """A test domain: overrides of :class:`SimConfig`, its seed, and what it stresses.

    noise: the displayed noise range its frames show (fraction of the grey range), checked
    on generated frames by the test suite. backgrounds: the background split it composites
    onto ("test" for the real-background domain), or None.
    """

    name: str
    description: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    noise: Range = (0.01, 0.12)
    backgrounds: str | None = None


_CLEAN_CHAIN = {"temporal_prob": 0.0, "nr_prob": 0.0, "sharpen_prob": 0.0, "bits16_prob": 0.0,
                "defect_prob": 0.0}

#: The held-out test domains (issue "Generalize beyond our own simulator", section 3).
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("mixed", "the training distribution itself, on held-out seeds", 7_000_000),
    Preset("cine", "cine-like: 2-3 % correlated noise, no temporal/edge processing",
           7_000_100, {"noise": (0.02, 0.03), "noise_blur_px": (0.8, 1.5), **_CLEAN_CHAIN},
           noise=(0.02, 0.03)),
    Preset("lowdose", "pulsed low-dose fluoroscopy: 8-12 % nearly white noise",
           7_000_200, {"noise": (0.08, 0.12), "noise_blur_px": (0.0, 0.4), **_CLEAN_CHAIN},
           noise=(0.08, 0.12)),
    Preset("edge", "heavy unsharp-mask edge enhancement (k 2-3)", 7_000_300,
           {"sharpen": (2.0, 3.0), "sharpen_prob": 1.0, "noise": (0.02, 0.05),
            "temporal_prob": 0.0, "nr_prob": 0.0}, noise=(0.02, 0.05)),
    Preset("vessels", "dense contrast-filled vessel trees (4-6 trees, always filling)",
           7_000_400, {"contrast_prob": 1.0, "vessel_density": (3.0, 5.0),
                       "background_prob": 0.0}),
    Preset("clutter", "ECG leads, pacing/ICD leads, sternal wires, clips, stents, valves",
           7_000_500, {"ecg_prob": 1.0, "pacing_prob": 1.0, "sternal_prob": 1.0,
                       "clip_prob": 1.0, "stent_prob": 0.6, "valve_prob": 0.5,
                       "background_prob": 0.0}),
    Preset("realbg", "real angiogram backgrounds from the held-out test files", 7_000_600,
           {"background_prob": 1.0}, backgrounds="test"),
    Preset("conspicuous", "wires in plain sight: contrast-to-noise 5-15", 7_000_700,
           {"wire_cnr": (5.0, 15.0)}),
)}

#: family → (training overrides that remove it, test preset that measures it).
LEAVE_OUT: dict[str, tuple[dict[str, Any], str]] = {
    "lowdose": ({"noise": (0.01, 0.06)}, "lowdose"),
    "edge": ({"sharpen_prob": 0.0}, "edge"),
    "leads": ({"ecg_prob": 0.0, "pacing_prob": 0.0}, "clutter"),
    "realbg": ({"background_prob": 0.0}, "realbg"),
}


def preset(name: str, **base: Any) -> SimConfig:
    """The :class:`SimConfig` of preset ``name``; ``base`` sets other fields (size, kind).

    Raises ValueError naming the known presets for an unknown ``name``.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown simulator preset {name!r}; known: {sorted(PRESETS)}")
    return replace(SimConfig(**base), **PRESETS[name].overrides)


def background_split(split: str, folder: str | Path | None = None) -> list[Path]:
    """Paths of the real background files of ``split`` ("train", "val" or "test").

    ``folder`` defaults to the recorded one (relative to the repository root). Raises
    FileNotFoundError naming the first missing file, so a changed data folder is noticed.
    """
    record = yaml.safe_load((Path(__file__).with_name("background_split.yaml"))
                            .read_text(encoding="utf-8"))
    if split not in ("train", "val", "test"):
        raise ValueError(f"background split must be train, val or test, got {split!r}")
    root = Path(folder) if folder is not None else \
        Path(__file__).resolve().parents[2] / record["folder"]
    paths = [root / name for name in record[split]]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"background {p} of the recorded {split} split not found")
    return paths
