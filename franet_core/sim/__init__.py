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

"""The fluoroscopy simulator, one stage per module.

- :mod:`~franet_core.sim.config`: :class:`SimConfig`, every property as a documented range.
- :mod:`~franet_core.sim.wires`: smooth random paths and sub-pixel curve rendering.
- :mod:`~franet_core.sim.anatomy`: tissue, heart, bones, vessel trees, catheters, collimator.
- :mod:`~franet_core.sim.distractors`: ECG and pacing leads, sternal wires, clips, stents,
  valves (never in the wire mask; marked as hard negatives).
- :mod:`~franet_core.sim.detector`: the imaging chain from attenuation to a displayed frame.
- :mod:`~franet_core.sim.simulator`: :class:`Simulator`, which assembles sequences.
- :mod:`~franet_core.sim.presets`: named held-out test domains and leave-one-out families.
"""
from franet_core.sim.config import KINDS, SimConfig
from franet_core.sim.presets import PRESETS, preset
from franet_core.sim.simulator import SimFrame, Simulator, WireTruth

__all__ = ["KINDS", "PRESETS", "SimConfig", "SimFrame", "Simulator", "WireTruth", "preset"]
