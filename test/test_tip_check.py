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
"""The tip check: its cues on drawn wires, the logistic fit, withholding, and loading."""
import json

import numpy as np
import pytest
from scipy.optimize import minimize

from franet_core import tip_check as tc
from franet_core.tip_check import FEATURES, lowest_safe_gate, TipCheck
from franet_core.types import WireState, WireStatus

H = W = 128


def straight_wire(length=80.0, coil_px=20.0, coil_dark=0.5, body_dark=0.2, beyond=False):
    """A horizontal wire at y=64 from x=20, tip at the right end; image, probability, line.

    The distal ``coil_px`` are darker (``coil_dark``) than the body (``body_dark``) on a
    0.8 grey background with 0.02 noise; the probability is 0.9 on the line (and, with
    ``beyond``, continues past the tip to the image's edge).
    """
    x = np.arange(20, 20 + length + 1)
    line = np.stack([x, np.full_like(x, 64.0)], axis=1).astype(np.float64)
    image = np.full((H, W), 0.8, np.float32)
    prob = np.zeros((H, W), np.float32)
    tip_x = int(x[-1])
    image[63:66, 20:tip_x + 1] -= body_dark
    image[63:66, tip_x - int(coil_px):tip_x + 1] = 0.8 - coil_dark
    image += np.random.default_rng(0).normal(0.0, 0.02, image.shape).astype(np.float32)
    prob[63:66, 20:(W if beyond else tip_x + 1)] = 0.9
    return image, prob, line


def state(line, status=WireStatus.TRACKING, measured=True):
    tip = line[-1]
    return WireState(3, status, 0.9, tip.copy(), 0.0, np.eye(2), np.zeros(2),
                     line if measured else np.zeros((0, 2)), 80.0,
                     0 if measured else 2)


def features(wire, prob, image):
    return dict(zip(FEATURES, tc.tip_features(wire, prob, (prob > 0.5).astype(np.uint8),
                                              image)))


def test_cues_on_a_drawn_wire():
    image, prob, line = straight_wire()
    f = features(state(line), prob, image)
    assert f["tracking"] == 1.0 and f["confidence"] == pytest.approx(0.9)
    assert f["log_length"] == pytest.approx(np.log1p(80.0))
    assert f["tip_prob"] == pytest.approx(0.9) and f["distal_prob"] == pytest.approx(0.9)
    assert f["beyond_prob"] == pytest.approx(0.0)       # the mask stops at the tip
    assert f["turn_deg"] == pytest.approx(0.0, abs=1e-3)  # straight
    assert f["coil_cnr"] > f["body_cnr"] > 0             # the coil is the darker part
    continued = features(state(line), straight_wire(beyond=True)[1], image)
    assert continued["beyond_prob"] == pytest.approx(0.9)


def test_a_bent_end_and_an_undrawn_coil_change_their_cues():
    image, prob, line = straight_wire(coil_dark=0.2)     # no darker coil
    bent = line.copy()
    bent[-15:, 1] += np.arange(1, 16)                    # last 15 px turn 45 degrees down
    f_plain = features(state(line), prob, image)
    f_bent = features(state(bent), prob, image)
    assert f_plain["coil_cnr"] == pytest.approx(f_plain["body_cnr"], rel=0.25)
    assert 20.0 < f_bent["turn_deg"] < 50.0


def test_a_predicted_wire_has_no_centerline_cues_and_a_lost_one_none_at_all():
    image, prob, line = straight_wire()
    f = features(state(line, WireStatus.PREDICTED, measured=False), prob, image)
    assert f["tracking"] == 0.0 and f["since_measured"] == 2.0
    assert f["tip_prob"] == pytest.approx(0.9)
    for name in ("distal_prob", "low_prob", "coil_cnr", "body_cnr", "turn_deg", "width_px",
                 "beyond_prob", "blob"):
        assert f[name] == 0.0, name
    lost = WireState(4, WireStatus.LOST, 0.0, None, None, None, None, np.zeros((0, 2)), 0.0)
    with pytest.raises(ValueError, match="wire 4 has no tip"):
        tc.tip_features(lost, prob, prob > 0.5, image)


def test_fit_logistic_matches_a_float64_optimiser():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -1.0]
    y = (x @ [1.0, -0.3, 8.0] + rng.normal(size=300) > -8.0).astype(float)
    l2 = 0.01
    mean, std, w, b = tc.fit_logistic(x, y, l2=l2, steps=20000, lr=0.5)
    z = (x - x.mean(0)) / x.std(0)

    def loss(p):  # mean cross-entropy + l2/2 |w|^2, float64
        logits = z @ p[:3] + p[3]
        return np.mean(np.logaddexp(0.0, logits) - y * logits) + l2 / 2 * p[:3] @ p[:3]

    ref = minimize(loss, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(mean, x.mean(0))
    np.testing.assert_allclose(np.r_[w, b], ref, atol=1e-4)


def test_fit_logistic_refuses_mismatched_inputs_and_keeps_constant_features():
    with pytest.raises(ValueError, match="need x"):
        tc.fit_logistic(np.zeros((3, 2)), np.zeros(4))
    x = np.c_[np.arange(10.0), np.ones(10)]
    mean, std, w, _ = tc.fit_logistic(x, (np.arange(10) > 4).astype(float))
    assert std[1] == 1.0 and w[1] == 0.0 and w[0] > 0


def make_check(min_score=0.5, **kw):
    """A check that looks at the coil's contrast only: score = logistic(coil_cnr / 10)."""
    n = len(FEATURES)
    weights, std = np.zeros(n), np.ones(n)
    weights[FEATURES.index("coil_cnr")] = 1.0
    std[FEATURES.index("coil_cnr")] = 10.0
    return TipCheck((0.0,) * n, tuple(std), tuple(weights), 0.0, min_score, **kw)


def test_score_is_the_logistic_of_the_standardised_features():
    check = make_check()
    row = np.zeros(len(FEATURES))
    row[FEATURES.index("coil_cnr")] = 20.0
    assert check.score(row) == pytest.approx(1.0 / (1.0 + np.exp(-2.0)))
    assert check.score(np.stack([row, -row])).shape == (2,)


def test_check_tips_withholds_low_scores_as_lost_and_keeps_the_rest():
    image, prob, line = straight_wire()
    mask = (prob > 0.5).astype(np.uint8)
    wire = state(line)
    lost = WireState(9, WireStatus.LOST, 0.0, None, None, None, None, np.zeros((0, 2)), 0.0)
    score = float(make_check().score(tc.tip_features(wire, prob, mask, image)))
    assert 0.6 < score < 0.99
    kept, untouched = tc.check_tips(make_check(score - 0.01), [wire, lost], prob, mask, image)
    assert kept.status is WireStatus.TRACKING and kept.tip_score == pytest.approx(score)
    np.testing.assert_array_equal(kept.tip, wire.tip)
    assert untouched is lost
    (withheld,) = tc.check_tips(make_check(score + 0.01), [wire], prob, mask, image)
    assert withheld.status is WireStatus.LOST and withheld.tip_score == pytest.approx(score)
    assert (withheld.tip, withheld.tip_angle, withheld.tip_covariance,
            withheld.tip_velocity) == (None, None, None, None)
    assert withheld.id == wire.id and len(withheld.centerline) == len(line)


def test_save_load_round_trip_and_clear_refusals(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    check = make_check(0.8, weights_sha256=tc.sha256_file(weights), note="test")
    path = tc.tip_check_path(weights)
    assert path == tmp_path / "w.tipcheck.json"
    check.save(path)
    assert TipCheck.load(path, weights) == check
    assert tc.resolve("auto", weights) == (check, str(path))
    assert tc.resolve("off", weights) == (None, None)
    assert tc.resolve("auto", tmp_path / "other.safetensors") == (None, None)
    with pytest.raises(FileNotFoundError, match="tip check not found"):
        tc.resolve(tmp_path / "missing.json", weights)
    weights.write_bytes(b"retrained")
    with pytest.raises(ValueError, match="fitted for other weights"):
        TipCheck.load(path, weights)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "features": ["tip_prob"]}))
    with pytest.raises(ValueError, match="refit it"):
        TipCheck.load(path)
    path.write_text(json.dumps({**record, "format": "pickle"}))
    with pytest.raises(ValueError, match="is not a tip check"):
        TipCheck.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read tip check"):
        TipCheck.load(path)
    with pytest.raises(ValueError, match="min_score must be in"):
        make_check(1.5)


def test_the_pipeline_withholds_what_its_check_scores_low_and_publishes_the_rest():
    from test_pipeline import IntensitySegmenter, wire_image

    from franet_core.pipeline import FramePipeline, PipelineConfig

    def run(check):
        pipe = FramePipeline(IntensitySegmenter(), PipelineConfig(threshold=0.5,
                                                                  tip_check=check))
        return [pipe.process(wire_image(k)).wires for k in range(3)][-1]

    (plain,) = run(None)
    assert plain.status is WireStatus.TRACKING and plain.tip_score is None
    (scored,) = run(make_check(0.0))
    assert scored.status is WireStatus.TRACKING and 0.0 < scored.tip_score < 1.0
    np.testing.assert_allclose(scored.tip, plain.tip)
    (withheld,) = run(make_check(1.0))
    assert withheld.status is WireStatus.LOST and withheld.tip is None
    assert withheld.tip_score == pytest.approx(scored.tip_score)


def test_from_weights_finds_the_check_beside_the_weights_unless_told_otherwise(tmp_path):
    from test_pipeline import TINY_FRANET

    from franet_core.checkpoint import save_weights
    from franet_core.models import build_model
    from franet_core.pipeline import FramePipeline

    weights = save_weights(tmp_path / "t.safetensors",
                           build_model("franet", **TINY_FRANET).state_dict(),
                           {"model": "franet", "model_config": TINY_FRANET, "threshold": 0.3,
                            "input_size": None})
    assert FramePipeline.from_weights(str(weights)).config.tip_check is None
    check = make_check(0.7, weights_sha256=tc.sha256_file(weights))
    check.save(tc.tip_check_path(weights))
    auto = FramePipeline.from_weights(str(weights))
    assert auto.config.tip_check == check
    assert auto.meta["tip_check"] == str(tc.tip_check_path(weights))
    assert FramePipeline.from_weights(str(weights), tip_check="off").config.tip_check is None
    lower = FramePipeline.from_weights(str(weights), min_tip_score=0.2).config.tip_check
    assert lower == check.with_min_score(0.2)


def test_the_shipped_weights_come_with_a_check_fitted_for_them():
    from franet_core.checkpoint import DEFAULT_WEIGHTS

    check, source = tc.resolve("auto", DEFAULT_WEIGHTS)  # refuses a check for other weights
    assert source == str(tc.tip_check_path(DEFAULT_WEIGHTS))
    assert 0.5 < check.min_score < 1.0 and "min_score chosen on" in check.note


def two_line_folder(root, sequences=3, frames=3):
    """Frames with a bright annotated wire and a fainter unannotated line (a distractor)."""
    import cv2

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    annotations = {}
    for s in range(sequences):
        for k in range(frames):
            img = np.zeros((160, 192), np.float32)
            tip = [100.0 + 3 * k + 5 * s, 50.0]
            cv2.line(img, (0, 50), (int(tip[0]), 50), 1.0, 3)
            cv2.line(img, (0, 120), (90 + 4 * s, 120), 0.62, 3)
            name = f"s{s}_f{k:03d}"
            cv2.imwrite(str(root / "images" / f"{name}.png"), (img * 255).astype(np.uint8))
            cv2.imwrite(str(root / "masks" / f"{name}.png"), (img == 1.0).astype(np.uint8) * 255)
            annotations[name] = [{"id": 0, "centerline": [[0.0, 50.0], tip], "tip": tip}]
    (root / "annotations.json").write_text(json.dumps(annotations))
    return root


def tipcheck_args(tmp_path, monkeypatch, **kw):
    import argparse

    from test_pipeline import IntensitySegmenter

    from franet_core.pipeline import FramePipeline

    monkeypatch.setattr(FramePipeline, "from_weights", classmethod(
        lambda cls, w, b, d, c, **_: cls(IntensitySegmenter(), c)))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"stand-in weights")
    data = two_line_folder(tmp_path / "fit")
    val = two_line_folder(tmp_path / "val", sequences=2)
    defaults = dict(data=[data], val_data=[val], weights=weights, backend="torch",
                    device="cpu", threshold=0.5, max_false_rate=0.01, tip_tolerance=5.0,
                    out=None, hidden=0)
    return argparse.Namespace(**{**defaults, **kw}), weights


@pytest.mark.parametrize("hidden", [0, 4])
def test_tipcheck_command_fits_and_writes_a_check_that_separates(tmp_path, monkeypatch,
                                                                  capsys, hidden):
    from franet_core.commands import tipcheck

    args, weights = tipcheck_args(tmp_path, monkeypatch, hidden=hidden)
    assert tipcheck.run(args) == 0
    check = TipCheck.load(tc.tip_check_path(weights), weights)
    assert len(check.hidden_bias) == hidden
    printed = capsys.readouterr().out
    assert "fitted on 18 tips (9 true)" in printed and "validation: 12 tips (6 true)" in printed
    assert f"min_score {check.min_score:.2f}: 6 of 12 validation tips published, 6 true" \
        in printed


def test_tipcheck_command_refuses_unlabelled_folders_and_writes_nothing_unsafe(tmp_path,
                                                                               monkeypatch,
                                                                               capsys):
    from franet_core.commands import tipcheck

    args, weights = tipcheck_args(tmp_path, monkeypatch)
    (args.val_data[0] / "annotations.json").unlink()
    with pytest.raises(ValueError, match="no annotations.json"):
        tipcheck.run(args)
    (tmp_path / "b").mkdir()
    args, weights = tipcheck_args(tmp_path / "b", monkeypatch)
    ann = json.loads((args.data[0] / "annotations.json").read_text())
    (args.data[0] / "annotations.json").write_text(json.dumps({k: [] for k in ann}))
    with pytest.raises(ValueError, match="are all false; a check needs both"):
        tipcheck.run(args)
    assert not tc.tip_check_path(weights).exists()


def test_tipcheck_command_writes_nothing_when_no_gate_is_safe_enough(tmp_path, monkeypatch,
                                                                     capsys):
    from franet_core.commands import tipcheck

    args, weights = tipcheck_args(tmp_path, monkeypatch)
    ann = json.loads((args.val_data[0] / "annotations.json").read_text())
    (args.val_data[0] / "annotations.json").write_text(json.dumps({k: [] for k in ann}))
    assert tipcheck.run(args) == 2  # every validation tip is false
    assert "no gate keeps a tip with a validation false-tip rate <= 0.01" in \
        capsys.readouterr().out
    assert not tc.tip_check_path(weights).exists()


def test_a_hidden_layer_scores_like_a_float64_loop_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    n, h = len(FEATURES), 3
    w1, b1, w2 = rng.normal(size=(h, n)), rng.normal(size=h), rng.normal(size=h)
    mean, std = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    check = TipCheck(tuple(mean), tuple(std), tuple(w2), 0.3, 0.5,
                     hidden_weights=tuple(map(tuple, w1)), hidden_bias=tuple(b1))
    x = rng.normal(size=n)
    logit = 0.3
    for j in range(h):
        unit = b1[j] + sum(w1[j, i] * (x[i] - mean[i]) / std[i] for i in range(n))
        logit += w2[j] * max(unit, 0.0)
    assert check.score(x) == pytest.approx(1.0 / (1.0 + np.exp(-logit)), rel=1e-12)
    check.save(tmp_path / "c.json")
    assert TipCheck.load(tmp_path / "c.json") == check
    with pytest.raises(ValueError, match="weights has 13 values, expected 3"):
        TipCheck(tuple(mean), tuple(std), (0.0,) * n, 0.0, 0.5,
                 hidden_weights=tuple(map(tuple, w1)), hidden_bias=tuple(b1))


def test_fit_network_learns_what_a_logistic_regression_cannot():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 1.0, size=(400, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(float)  # XOR of the signs: no line separates it
    mean, std, w1, b1, w2, b2 = tc.fit_network(x, y, hidden=8, weight_decay=0.0, steps=1500,
                                               lr=0.05)
    z = (x - mean) / std
    net = np.maximum(z @ w1.T + b1, 0.0) @ w2 + b2
    m, s, w, b = tc.fit_logistic(x, y)
    line = ((x - m) / s) @ w + b
    assert np.mean((net > 0) == y) > 0.95
    assert np.mean((line > 0) == y) < 0.75
    again = tc.fit_network(x, y, hidden=8, weight_decay=0.0, steps=1500, lr=0.05)
    np.testing.assert_array_equal(again[2], w1)  # deterministic for a seed


def test_lowest_safe_gate_is_the_lowest_gate_within_the_false_rate():
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.3])
    labels = np.array([True, True, False, True, False, False])
    gates = [0.0, 0.5, 0.75, 0.85, 0.99]
    # kept at 0.75: 3 tips, 1 false (33 %); at 0.85: 2 tips, none false
    assert lowest_safe_gate(scores, labels, gates, 0.0) == 0.85
    assert lowest_safe_gate(scores, labels, gates, 0.34) == 0.75
    assert lowest_safe_gate(scores, labels, gates, 0.5) == 0.0
    # a gate that keeps no tip is never "safe"
    assert lowest_safe_gate(scores, ~labels, [0.99, 1.0], 0.0) is None
