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
"""Tip check: the probability that a tracked wire's tip is a true guidewire tip.

Most tips the tracker publishes today are false (55-70 % on validation): tracks on ECG leads,
vessel branches and wire fragments. The mean probability along the centerline barely tells
them apart, but a handful of cues taken together do (docs/results.md, session 11): the
probability at and just past the tip, the darkness of the radio-opaque distal coil against
its surroundings, how the last 30 px bend and how wide the mask is there. A logistic
regression (or a network with one small hidden layer) over those cues, fitted on frames the
segmentation network never trained on (``franet tipcheck``), gives each published tip a
score; tips scoring under ``min_score``
(chosen on validation folders for a false-tip rate at or under a target) are withheld:
the pipeline publishes the wire as LOST, so a consumer never acts on them.

Coordinates: (x, y) px of the input image, x right, y down. ``image`` is the normalised
frame in [0, 1] (wires dark); ``probability`` and ``mask`` are the pipeline's maps at the
input size. The fitted check is stored as JSON (never a pickle) beside the weights it was
fitted for, as ``<weights stem>.tipcheck.json``, with the weights' SHA-256.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from franet_core.types import WireState, WireStatus

__all__ = ["FEATURES", "TipCheck", "check_tips", "fit_logistic", "fit_network",
           "lowest_safe_gate", "resolve", "sha256_file", "tip_check_path", "tip_features"]

FORMAT = "franet-tip-check/1"

#: Feature names, in the order :func:`tip_features` returns them:
#: tracking (1 measured this frame, 0 PREDICTED), confidence (the wire's mean probability
#: along its centerline), log_length (log(1 + length px)), since_measured (frames),
#: tip_prob (largest probability within 5 px of the tip), distal_prob (mean probability
#: along the last DISTAL_PX), low_prob (10th percentile along the whole centerline),
#: coil_cnr / body_cnr (darkness of the line against its side bands over the last
#: DISTAL_PX / over BODY_PX from the tip, in units of the bands' spread; a radio-opaque coil
#: is darker than the body), turn_deg (angle between the two halves of the last TURN_PX),
#: width_px (mask pixels within 7 px of the tip / 14), beyond_prob (mean probability 4, 8
#: and 12 px past the tip along its direction: a mask that goes on is no tip) and blob
#: (darkest pixel within 6 px of the tip below the image median, in image standard
#: deviations: electrode snaps and clips are dark blobs).
FEATURES = ("tracking", "confidence", "log_length", "since_measured", "tip_prob",
            "distal_prob", "low_prob", "coil_cnr", "body_cnr", "turn_deg", "width_px",
            "beyond_prob", "blob")

DISTAL_PX = 20.0            # the distal coil: last 20 px of the centerline
BODY_PX = (40.0, 120.0)     # the body, this far from the tip
TURN_PX = 30.0              # bend measured over the last 30 px
SIDE_PX = (4.0, 8.0)        # side bands of the contrast measure, either side of the line
BEYOND_PX = (4.0, 8.0, 12.0)  # probability sampled this far past the tip


def _sample(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``values`` at (x, y) ``points``; edge values outside."""
    return ndi.map_coordinates(values, [points[:, 1], points[:, 0]], order=1, mode="nearest")


def _line_cnr(image: np.ndarray, points: np.ndarray) -> float:
    """Contrast of a dark line over its side bands, in units of the bands' spread."""
    if len(points) < 3:
        return 0.0
    d = np.gradient(points, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    on = _sample(image, points)
    side = np.concatenate([_sample(image, points + s * k * normal)
                           for s in (-1.0, 1.0) for k in SIDE_PX])
    return float((np.median(side) - np.median(on)) / (np.std(side) + 1e-3))


def tip_features(wire: WireState, probability: np.ndarray, mask: np.ndarray,
                 image: np.ndarray, image_level: tuple[float, float] | None = None
                 ) -> np.ndarray:
    """The :data:`FEATURES` of one published wire (a tip is required), float64.

    Features from the centerline (distal probability, contrasts, bend, width, beyond) are 0
    when the wire was not measured this frame (PREDICTED: no centerline). ``image_level``:
    the image's (median, standard deviation), computed here when not given (the median of
    a 512 px frame costs about 3 ms: :func:`check_tips` computes it once per frame).
    """
    if wire.tip is None:
        raise ValueError(f"wire {wire.id} has no tip to check (status {wire.status.value})")
    h, w = probability.shape
    tip = np.asarray(wire.tip, dtype=np.float64)
    x = int(round(min(max(tip[0], 0.0), w - 1.0)))
    y = int(round(min(max(tip[1], 0.0), h - 1.0)))
    y0, x0 = max(0, y - 7), max(0, x - 7)  # the 7 px disc around the tip, in a window
    ys, xs = np.ogrid[y0:min(h, y + 8), x0:min(w, x + 8)]
    r2 = (xs - x) ** 2 + (ys - y) ** 2
    window = (slice(y0, y + 8), slice(x0, x + 8))
    tip_prob = float(probability[window][r2 <= 25].max())
    distal_prob = low_prob = coil = body = turn = width = beyond = blob = 0.0
    line = np.asarray(wire.centerline, dtype=np.float64)
    if len(line) >= 4:
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
        from_tip = arc[-1] - arc
        distal = line[from_tip <= DISTAL_PX]
        along = _sample(probability, line)
        distal_prob = float(_sample(probability, distal).mean()) if len(distal) else 0.0
        low_prob = float(np.percentile(along, 10))
        coil = _line_cnr(image, distal)
        body = _line_cnr(image, line[(from_tip > BODY_PX[0]) & (from_tip <= BODY_PX[1])])
        last = line[from_tip <= TURN_PX]
        if len(last) >= 3:
            v1, v2 = last[len(last) // 2] - last[0], last[-1] - last[len(last) // 2]
            cos = np.dot(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2) + 1e-9)
            turn = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        width = float(mask[window][r2 <= 49].sum()) / 14.0  # mask px per px across 14 px
        if wire.tip_angle is not None:
            ahead = np.array([np.cos(wire.tip_angle), np.sin(wire.tip_angle)])
            beyond = float(_sample(probability, tip + np.outer(BEYOND_PX, ahead)).mean())
        median, spread = image_level if image_level is not None else _level(image)
        patch = image[max(0, y - 6):y + 7, max(0, x - 6):x + 7]
        blob = float((median - patch.min()) / (spread + 1e-3))
    return np.array([float(wire.status is WireStatus.TRACKING), float(wire.confidence),
                     float(np.log1p(wire.length_px)), float(wire.frames_since_measured),
                     tip_prob, distal_prob, low_prob, coil, body, turn, width, beyond, blob])


def _level(image: np.ndarray) -> tuple[float, float]:
    return float(np.median(image)), float(image.std())


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000,
                 lr: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression on standardised features, by gradient descent.

    Minimises mean binary cross-entropy + l2/2 * |w|² over z = (x - mean) / std.
    Returns (mean, std, w, b); a constant feature gets std 1 (and, l2 > 0, weight 0).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need x (N, F) and y (N,), got {x.shape} and {y.shape}")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-12] = 1.0
    z = (x - mean) / std
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= lr * (z.T @ (p - y) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return mean, std, w, b


def fit_network(x: np.ndarray, y: np.ndarray, hidden: int = 16, weight_decay: float = 1e-2,
                steps: int = 1500, lr: float = 1e-2, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """One hidden ReLU layer on standardised features, full-batch Adam on cross-entropy.

    Returns (mean, std, W1 (hidden, F), b1, w2 (hidden,), b2), float64. Deterministic for a
    given ``seed`` (CPU, one full batch).
    """
    import torch

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need x (N, F) and y (N,), got {x.shape} and {y.shape}")
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-12] = 1.0
    generator = torch.Generator().manual_seed(seed)
    layers = [torch.nn.Linear(x.shape[1], hidden, dtype=torch.float64),
              torch.nn.Linear(hidden, 1, dtype=torch.float64)]
    for layer in layers:  # torch's default init, drawn from our generator
        bound = 1.0 / layer.in_features ** 0.5
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    net = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1])
    z = torch.from_numpy((x - mean) / std)
    target = torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(z)[:, 0], target)
        loss.backward()
        opt.step()
    w1, b1, w2, b2 = (p.detach().numpy() for p in net.parameters())
    return mean, std, w1, b1, w2[0], float(b2[0])


def lowest_safe_gate(scores: np.ndarray, labels: np.ndarray, gates: Sequence[float],
                     max_false_rate: float) -> float | None:
    """The lowest of ``gates`` (ascending) whose kept tips (score >= gate) are at most
    ``max_false_rate`` false and are not none; None when no gate is that safe.

    ``labels``: True for a true tip. This is the rule ``franet tipcheck`` chooses
    ``min_score`` by, on validation tips.
    """
    scores, labels = np.asarray(scores), np.asarray(labels, dtype=bool)
    for gate in gates:
        kept = scores >= gate
        if kept.any() and 1.0 - labels[kept].mean() <= max_false_rate:
            return float(gate)
    return None


@dataclass(frozen=True)
class TipCheck:
    """A fitted tip check over standardised :data:`FEATURES` z = (x - mean) / std.

    Without a hidden layer it is a logistic regression, score = σ(z·weights + bias); with
    one (``hidden_weights`` H × F, ``hidden_bias`` H), score = σ(relu(W₁z + b₁)·weights +
    bias). min_score: tips scoring under it are withheld (published as LOST).
    weights_sha256: the segmentation weights it was fitted for (their probabilities are its
    inputs). note: where it was fitted and where min_score was chosen.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    min_score: float
    weights_sha256: str = ""
    note: str = ""
    features: tuple[str, ...] = FEATURES
    hidden_weights: tuple[tuple[float, ...], ...] = ()
    hidden_bias: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if tuple(self.features) != FEATURES:
            raise ValueError(f"tip check features {list(self.features)} are not this "
                             f"version's {list(FEATURES)}; refit it with `franet tipcheck`")
        hidden = len(self.hidden_bias)
        expected = {"mean": len(FEATURES), "std": len(FEATURES),
                    "weights": hidden or len(FEATURES), "hidden_weights": hidden}
        for name, n in expected.items():
            if len(getattr(self, name)) != n:
                raise ValueError(f"tip check {name} has {len(getattr(self, name))} values, "
                                 f"expected {n}")
        if any(len(row) != len(FEATURES) for row in self.hidden_weights):
            raise ValueError(f"tip check hidden_weights rows must have {len(FEATURES)} values")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"tip check min_score must be in [0, 1], got {self.min_score}")

    def score(self, features: np.ndarray) -> np.ndarray:
        """P(true tip) for feature rows ``(N, F)`` or one row ``(F,)``."""
        z = (np.asarray(features, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.std)
        if self.hidden_bias:
            z = np.maximum(z @ np.asarray(self.hidden_weights).T + np.asarray(self.hidden_bias),
                           0.0)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def save(self, path: str | Path) -> None:
        """Write the check as JSON (with its format tag)."""
        record = {"format": FORMAT, **asdict(self)}
        Path(path).write_text(json.dumps(record, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path, weights: str | Path | None = None) -> "TipCheck":
        """Read a check from JSON; with ``weights``, refuse one fitted for other weights."""
        try:
            record: dict[str, Any] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read tip check {path}: {exc}") from exc
        if not isinstance(record, dict) or record.pop("format", None) != FORMAT:
            raise ValueError(f"{path} is not a tip check (format {FORMAT!r} expected)")
        try:
            check = cls(**{k: _tuples(v) for k, v in record.items()})
        except TypeError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        if weights is not None and check.weights_sha256 != sha256_file(weights):
            raise ValueError(f"tip check {path} was fitted for other weights than {weights} "
                             "(SHA-256 differs); refit it with `franet tipcheck`")
        return check

    def with_min_score(self, min_score: float) -> "TipCheck":
        """The same check with another gate."""
        return TipCheck(**{**asdict(self), "min_score": float(min_score)})


def resolve(spec: str | Path | None, weights: str | Path, min_score: float | None = None
            ) -> tuple[TipCheck | None, str | None]:
    """The tip check asked for by ``spec``, for the weights file ``weights``.

    "auto": ``<weights stem>.tipcheck.json`` beside the weights if it exists, else none;
    None or "off": none; anything else: that file, which must exist. A check fitted for
    other weights is refused (a .onnx file carries no SHA-256 to compare: its check is
    taken as given). ``min_score`` replaces the check's own gate. Returns (check, where it
    came from).
    """
    if spec is None or spec == "off":
        return None, None
    weights = Path(weights)
    path = tip_check_path(weights) if spec == "auto" else Path(spec)
    if spec == "auto" and not path.is_file():
        return None, None
    if not path.is_file():
        raise FileNotFoundError(f"tip check not found: {path}")
    check = TipCheck.load(path, None if weights.suffix == ".onnx" else weights)
    return (check if min_score is None else check.with_min_score(min_score)), str(path)


def _tuples(value: Any) -> Any:
    """JSON lists (nested too) back to the tuples a frozen TipCheck holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def tip_check_path(weights: str | Path) -> Path:
    """Where the tip check of ``weights`` lives: ``<weights stem>.tipcheck.json`` beside it."""
    weights = Path(weights)
    return weights.with_name(weights.stem + ".tipcheck.json")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_tips(check: TipCheck, wires: Sequence[WireState], probability: np.ndarray,
               mask: np.ndarray, image: np.ndarray) -> list[WireState]:
    """Score every published tip; withhold (publish as LOST) those under ``min_score``.

    Every scored wire carries its ``tip_score``; a withheld one keeps its centerline (what
    was seen) but loses tip, direction, covariance and velocity, as a LOST wire does.
    """
    out, level = [], None
    for wire in wires:
        if wire.tip is None:
            out.append(wire)
            continue
        level = level or _level(image)
        score = float(check.score(tip_features(wire, probability, mask, image, level)))
        if score >= check.min_score:
            out.append(replace(wire, tip_score=score))
        else:
            out.append(replace(wire, status=WireStatus.LOST, tip=None, tip_angle=None,
                                tip_covariance=None, tip_velocity=None, tip_score=score))
    return out
