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

"""Regression floors of the shipped weights on fixed held-out sequences, one per kind.

Each sequence is sequence 0 of the held-out ``mixed`` test preset for its kind (8 frames,
512 px; no training or validation run saw these seeds), run through the whole
FramePipeline at the weights' own threshold. The floors sit a little below what the shipped
weights measured (``MEASURED``), so a real regression trips them; they are not the
project's targets (docs/results.md). When the shipped weights improve, raise the floors to
the new measurements; never lower them silently. The floors measure the model, so they run
without the tip check. Two more tests hold the shipped tip check to what it measured there
(session 11): at its own gate it publishes no false tip on any of the three sequences (it
publishes none at all: every tip scores under 0.97), and it ranks the mono wire's true tips
(scores 0.16-0.59) above the false ones (at most 0.12).
"""
import numpy as np
import pytest

from franet_core import checkpoint, metrics
from franet_core.tracking_metrics import TipCounts, tip_counts

#: (relaxed F1 mean over frames, tip detection rate) measured with the shipped weights of
#: 2026-12-05 (campaign session 9's tip-weighted CPU run, epoch 7, threshold 0.70; shipped in
#: session 10 by a rule written down before its confirmation folders were scored), by this
#: very test's code with the session-10 tracker, field of view estimated from each frame.
#: The session-7 weights measured mono (0.660, 1.0), dual (0.829, 0.125), stiff (0.819, 0.0)
#: here. Mono rises; dual is level in relaxed F1 and loses its 2 of 16 tips; stiff falls
#: from 0.819 to 0.563, and its floor is lowered on that record (docs/results.md,
#: "Session 10"), not quietly. Looked at: the new mask covers only the distal third of the
#: plainly visible stiff wire (the probability along the rest is 0.55-0.66, under the
#: threshold), and that piece, floating inside the field, is oriented from the field's
#: edges wrongly. On the 64-frame stiff validation folder the new weights score higher
#: (0.668 against 0.625), so one sequence is not the kind's average, but it is a wire in
#: plain sight missed, which the target forbids.
MEASURED = {"mono": (0.879, 1.0), "dual": (0.822, 0.0), "stiff": (0.563, 0.0)}
#: How far below the measurement a floor sits: 8 frames are a small sample, and torch's CPU
#: kernels differ in the last bits between machines, which can flip a borderline pixel.
MARGIN = (0.05, 0.15)


def _frames(kind: str) -> list:
    from franet_core.sim import PRESETS, Simulator, preset

    return Simulator(preset("mixed", kind=kind, size=512),
                     seed=(PRESETS["mixed"].seed, 0)).sequence(8)


def _score(kind: str, tip_check: str | None = None) -> tuple[list[float], TipCounts]:
    """Per-frame relaxed F1 and the summed tip counts of the kind's fixed sequence."""
    from franet_core.pipeline import FramePipeline

    frames = _frames(kind)
    pipe = FramePipeline.from_weights(None, tip_check=tip_check)
    relaxed, tips = [], TipCounts(0, 0, 0, 0)
    for frame in frames:
        result = pipe.process(frame.image)
        relaxed.append(metrics.relaxed_f1(result.mask,
                                          centerlines=[w.centerline for w in frame.wires]))
        tips = TipCounts(*np.add(tips, tip_counts(frame.wires, result.wires)))
    return relaxed, tips


needs_weights = pytest.mark.skipif(not checkpoint.DEFAULT_WEIGHTS.is_file(),
                                   reason="no shipped weights")


@needs_weights
@pytest.mark.parametrize("kind", sorted(MEASURED))
def test_shipped_weights_keep_their_held_out_floor(kind):
    relaxed, tips = _score(kind)
    rate = tips.detected / tips.true
    f1_floor, rate_floor = (m - d for m, d in zip(MEASURED[kind], MARGIN))
    assert np.mean(relaxed) >= f1_floor, (kind, np.mean(relaxed), relaxed)
    if rate_floor > 0:
        assert rate >= rate_floor, (kind, rate, tips)



@needs_weights
@pytest.mark.parametrize("kind", sorted(MEASURED))
def test_the_shipped_tip_check_publishes_no_false_tip_there(kind):
    _, tips = _score(kind, tip_check="auto")
    assert tips.false == 0, (kind, tips)


@needs_weights
def test_the_shipped_tip_check_ranks_the_mono_wires_tips_above_the_false_ones():
    from franet_core.pipeline import FramePipeline

    pipe = FramePipeline.from_weights(None, min_tip_score=0.0)  # score all, withhold none
    true, false = [], []
    for frame in _frames("mono"):
        for wire in pipe.process(frame.image).wires:
            if wire.tip is not None:
                near = any(np.hypot(*(np.asarray(t.tip) - wire.tip)) <= 5.0 for t in frame.wires)
                (true if near else false).append(wire.tip_score)
    assert len(true) >= 6 and len(false) >= 4, (true, false)
    assert np.median(true) > max(false), (true, false)
