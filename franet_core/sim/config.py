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

"""The simulator's settings: every imaging and scene property as a randomised range.

Ranges are ``(low, high)`` and drawn once per sequence (uniformly unless a field says
log-uniform). Pixel quantities are for a 512 px field of about 20 cm (0.4 mm/px, a typical
cardiac field at the detector) and scale with ``size / 512``. The bounds, and why:

Detector and display (what differs most between C-arms):

- ``noise``: standard deviation of the displayed noise as a fraction of the grey range,
  log-uniform. 0.02–0.03 is cine acquisition (the real angiograms in ../shared/data measure
  0.029); pulsed low-dose fluoroscopy reaches 0.10–0.12. 0.01 covers heavily filtered
  high-dose frames.
- ``noise_blur_px``: sigma of the scintillator / image-intensifier blur that the quantum
  noise passes through before it is read out. 0 gives white noise (flat-panel with little
  light spread, neighbour correlation ~0); 1.5 px gives a neighbour correlation of ~0.9
  (the real angiograms: 0.8). The same blur acts on the signal.
- ``read_noise``: electronic read noise, as a share of the quantum noise at the median body
  attenuation; it is white and dominates only in the darkest (most attenuated) regions.
- ``temporal_alpha``: recursive temporal filter y_t = a·y_(t-1) + (1 - a)·x_t, applied with
  ``temporal_prob``. a = 0.75 averages ~7 frames (the strongest fluoroscopy setting); it
  lowers noise by sqrt((1-a)/(1+a)) and leaves a lag trail behind moving wires.
- ``nr_strength``: spatial noise reduction, a blend towards a 0.8–1.5 px Gaussian, with
  ``nr_prob``.
- ``sharpen`` / ``sharpen_radius_px``: unsharp-mask edge enhancement y + k·(y − blur_r(y)),
  with ``sharpen_prob``; k up to 1.5 (vendor "edge enhancement high" presets reach 2–3, see
  the ``edge`` preset), radius 1.5–6 px.
- ``gamma``, ``black``, ``white``: display curve and output grey range (window and level
  come from the frame's own attenuation percentiles, widened by a random margin).
- ``bits16_prob``: share of sequences delivered as 16-bit frames (raw detector counts with
  12-16 used bits and an offset, as a DICOM or ROS mono16 source gives them) rather than
  8-bit display frames.
- ``defect_prob``: share of sequences with dead rows/columns and line (gain) artefacts.

Guidewires:

- ``wire_radius_px`` / ``stiff_radius_px``: imaged radius. Coronary wires are 0.014" =
  0.36 mm (about 1 px at 0.4 mm/px) but are imaged 1-3 px wide after blur and
  magnification; stiff EVAR wires are 0.035" = 0.9 mm (2-4 px).
- ``wire_cnr``: contrast-to-noise ratio of the wire body at the detector (peak contrast over
  the displayed noise), log-uniform. 1.5 is about the faintest wire a trained eye still
  follows when it sees the whole wire (the eye integrates along its length); 15 is a wire
  in plain sight. The conspicuous-wire preset draws 5–15.
- ``wire_contrast_min``: floor of the wire body's displayed contrast, as a fraction of the
  grey range: on a nearly noiseless cine frame a CNR alone would allow wires too faint for
  any display (below ~3 % of the grey range a 1 px line vanishes in anatomy).
- ``tip_factor`` / ``tip_length_px``: the distal radio-opaque coil, 1.5–4 times the body's
  attenuation over 10–40 px (platinum coils are 3 cm, seen foreshortened).
- ``tip_shapes``: weights of straight, angled (30-60 degrees over ~5 px) and J (150-190
  degrees over 12-20 px) tips.
- ``catheter_wire_prob``: share of coronary wires that leave a guiding catheter (the
  catheter tube then runs along the wire's proximal part).

Distractors (each a per-sequence probability; all are drawn "shaped as they really are" in
:mod:`franet_core.sim.distractors` and are never part of the wire mask):
``ecg_prob`` (lead wires ending in electrode snaps), ``pacing_prob`` (pacing / ICD leads:
thicker, coiled, with a tip electrode), ``sternal_prob``, ``clip_prob``, ``stent_prob``,
``valve_prob`` (prosthetic valve frames), ``contrast_prob`` (contrast-filled vessel trees),
``vessel_density`` (number of extra side trees, 0 = the coronary tree alone).
``vessel_marks``: whether contrast-filled vessels join the hard-negative marks beside the
leads, catheters, stents and valves (the marks centre training's hard crops and are what
``TrainConfig.hard_weight`` weighs; the wire runs inside such a vessel, so weighing them can
teach the model to drop the wire's distal part: docs/results.md, "Session 10"). It changes
the marks only, never the frame or its mask.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "Range", "SimConfig"]

#: Guidewire scenarios: one coronary wire, two coronary wires (bifurcation, buddy wire,
#: crossing), one stiff EVAR wire in an abdominal view.
KINDS = ("mono", "dual", "stiff")

Range = tuple[float, float]

_PROBS = ("wire_contrast_min", "background_prob", "contrast_prob", "temporal_prob", "nr_prob",
          "sharpen_prob", "bits16_prob", "defect_prob", "catheter_wire_prob", "ecg_prob",
          "pacing_prob", "sternal_prob", "clip_prob", "stent_prob", "valve_prob")
_RANGES = ("heart_rate_hz", "resp_rate_hz", "cardiac_px", "resp_px", "noise", "noise_blur_px",
           "read_noise", "temporal_alpha", "nr_strength", "sharpen", "sharpen_radius_px",
           "gamma", "black", "white", "wire_radius_px", "stiff_radius_px", "wire_cnr",
           "tip_factor", "tip_length_px", "advance_px", "vessel_density")


@dataclass(frozen=True)
class SimConfig:
    """Simulator settings (module docstring: every range and why it has its bounds).

    size: output frame side, px (square frames).
    kind: "mono", "dual", "stiff" or "mixed" (drawn per sequence with ``kind_weights``).
    fps: frame rate of a sequence (clinical fluoroscopy runs at 7.5–15 frames/s).
    heart_rate_hz, resp_rate_hz: cardiac (~1 Hz) and respiratory motion frequencies.
    cardiac_px, resp_px: peak displacement amplitudes, px.
    advance_px: wire advance speed along its own path, px/frame (negative = retraction).
    background_prob: probability of compositing onto a real background (when given).
    noise_free: render without quantum and read noise (to measure a preset's noise on
    generated frames: same seed, same scene, noise off; never used for training).
    """

    size: int = 512
    kind: str = "mixed"
    kind_weights: tuple[float, float, float] = (0.45, 0.35, 0.2)
    fps: float = 10.0
    heart_rate_hz: Range = (0.9, 1.5)
    resp_rate_hz: Range = (0.15, 0.3)
    cardiac_px: Range = (3.0, 9.0)
    resp_px: Range = (2.0, 8.0)
    # detector and display
    noise: Range = (0.01, 0.12)
    noise_blur_px: Range = (0.0, 1.5)
    read_noise: Range = (0.0, 0.3)
    temporal_alpha: Range = (0.2, 0.75)
    temporal_prob: float = 0.5
    nr_strength: Range = (0.2, 0.7)
    nr_prob: float = 0.3
    sharpen: Range = (0.2, 1.5)
    sharpen_radius_px: Range = (1.5, 6.0)
    sharpen_prob: float = 0.5
    gamma: Range = (0.6, 1.6)
    black: Range = (0.0, 0.2)
    white: Range = (0.6, 1.0)
    bits16_prob: float = 0.3
    defect_prob: float = 0.1
    # guidewires
    wire_radius_px: Range = (0.5, 1.5)
    stiff_radius_px: Range = (1.2, 2.0)
    wire_cnr: Range = (1.5, 15.0)
    wire_contrast_min: float = 0.03
    tip_factor: Range = (1.5, 4.0)
    tip_length_px: Range = (10.0, 40.0)
    tip_shapes: tuple[float, float, float] = (0.3, 0.35, 0.35)
    catheter_wire_prob: float = 0.3
    advance_px: Range = (-1.5, 3.0)
    # scene and distractors
    background_prob: float = 0.6
    contrast_prob: float = 0.6
    vessel_density: Range = (0.0, 2.0)
    ecg_prob: float = 0.5
    pacing_prob: float = 0.25
    sternal_prob: float = 0.3
    clip_prob: float = 0.3
    stent_prob: float = 0.2
    valve_prob: float = 0.1
    vessel_marks: bool = True
    noise_free: bool = False

    def __post_init__(self) -> None:
        """Refuse settings the simulator cannot honour, naming the field."""
        if self.kind not in (*KINDS, "mixed"):
            raise ValueError(f"SimConfig.kind must be one of {(*KINDS, 'mixed')}, "
                             f"got {self.kind!r}")
        if self.size < 32:
            raise ValueError(f"SimConfig.size must be >= 32 px, got {self.size}")
        for name in ("kind_weights", "tip_shapes"):
            w = getattr(self, name)
            if len(w) != 3 or min(w) < 0 or sum(w) <= 0:
                raise ValueError(f"SimConfig.{name} must be 3 non-negative numbers, got {w}")
        if self.fps <= 0:
            raise ValueError(f"SimConfig.fps must be positive, got {self.fps}")
        for name in _PROBS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SimConfig.{name} must be in [0, 1], "
                                 f"got {getattr(self, name)}")
        for name in _RANGES:
            r = getattr(self, name)
            if len(r) != 2 or r[0] > r[1]:
                raise ValueError(f"SimConfig.{name} must be a (low, high) pair with "
                                 f"low <= high, got {r}")
        for name in ("noise", "wire_cnr"):  # drawn log-uniformly
            if getattr(self, name)[0] <= 0:
                raise ValueError(f"SimConfig.{name} must be positive, got {getattr(self, name)}")
        if not (0.0 <= self.temporal_alpha[0] and self.temporal_alpha[1] < 1.0):
            raise ValueError(f"SimConfig.temporal_alpha must lie in [0, 1), "
                             f"got {self.temporal_alpha}")
