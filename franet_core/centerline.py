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

"""Centerlines from a segmentation: skeleton → graph → wires → smoothed, arc-length polylines.

Steps, each a small function below:

1. binarise (or take the given mask);
2. thin the mask to a one-pixel skeleton (``skimage.morphology.skeletonize``, run on the
   foreground's tiles only, for speed), and drop isolated skeleton pieces smaller than
   ``min_component_px`` (noise speckles);
3. build the skeleton graph with *m-adjacency* (a diagonal link is dropped when the two pixels
   share a 4-neighbour, so staircases are simple paths): nodes are junction clusters
   (pixels with ≥ 3 neighbours) and free ends, edges are the pixel paths between them;
4. merge junctions joined by a very short edge (two wires crossing at a shallow angle give
   two Y-junctions close together), prune short terminal spurs;
5. chain edges into wires: through a junction an edge continues into the edge whose
   direction agrees best (straight continuation), so two crossing wires stay two wires;
6. bridge small gaps between wire ends that point at each other (contrast dropouts), and
   longer ones where the probability map shows the wire just under the threshold;
7. fit a smoothing spline (``scipy.interpolate.splprep``) per wire and resample it every
   ``sample_step_px`` of arc length.

The result is unoriented: :mod:`franet_core.tip` decides which end is the tip.
Coordinates are pixels, x right, y down, origin at the centre of the top-left pixel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.interpolate import splev, splprep
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

__all__ = ["CenterlineConfig", "Centerline", "extract_centerlines", "centerline_distance",
           "mean_closest_distance"]


#: A node where more skeleton branches meet than this is no wire crossing (a blob or a
#: noisy mask): nothing is continued through it, and its short branches are simply pruned.
_MAX_CROSSING_DEGREE = 8


@dataclass(frozen=True)
class CenterlineConfig:
    """Parameters of :func:`extract_centerlines` (lengths in px, angles in degrees).

    The defaults suit guidewires 2–8 px wide in 256–1024 px frames.

    max_mask_fraction: a mask covering more of the image than this is no guidewire (the
        segmentation failed): no centerline is returned rather than garbage.
    min_component_px: isolated skeleton pieces with fewer pixels are noise speckles and
        dropped (cheaper than labelling the mask; a speckle thins to a few pixels).
    spur_px: terminal skeleton branches shorter than this that hang off a junction are
        thinning artefacts (bumps on the mask boundary) and pruned.
    junction_merge_px: junctions joined by an edge shorter than this are one crossing.
    crossing_overlap_px: longest skeleton segment two wires crossing at a shallow angle may
        share (≈ width / sin(angle)); see :func:`_merge_junctions`.
    junction_skip_px: px of skeleton next to a junction or a broken end ignored when
        estimating its tangent (thinning bends there); also trimmed where wires cross.
    tangent_px: arc length over which end/junction tangents are estimated.
    max_bend_deg: largest direction change accepted when continuing through a junction.
    corner_span_px, max_corner_deg: a path turning by more than max_corner_deg between the
        chords ``corner_span_px`` before and after a point is cut there (two wire tips
        touching form such a "V"; a guidewire bends more gently).
    bridge_gap_px: largest gap between two wire ends that may be bridged.
    bridge_angle_deg: both end tangents must point at the other end within this angle
        (ends closer than ``junction_skip_px``, which thinning at a junction can leave
        side by side: must point against each other within it).
    support_gap_px, support_angle_deg, support_ratio: a second bridging pass, for
        probability maps only, joins ends up to ``support_gap_px`` apart whose tangents
        point at each other within ``support_angle_deg`` when the model's probability
        along the gap stays high, followed along the cubic curve that leaves each end on
        its tangent (a bending wire's path): its 10th percentile (best of each 3 x 3
        neighbourhood) at least ``support_ratio`` times the lower of the two pieces' mean
        probabilities. A faint stretch of wire just under the threshold otherwise splits it
        into two tracks, one with a false tip mid-wire; the empty background between a wire
        and a lead beyond its tip does not pass. ``support_gap_px`` 0 disables the pass.
        (The stiff floor sequence's faint wire breaks with gaps of 120-175 px.)
    min_wire_px: wires shorter than this after bridging are dropped. A shorter piece just
        ahead of a wire's end is that wire's J or angled hook and is joined to it, and a
        corner this close to a path's end is a hook, not two wires touching (not cut).
    extend_ends: thinning stops short of a wire's round end; extend each end along its
        tangent to the mask boundary minus the local half-width (see :func:`_extend_end`).
    smoothing: spline smoothing in px² per skeleton point (``s = smoothing * n`` in splprep);
        skeleton pixels carry ≈ 0.3 px rms quantisation error. 0.1 keeps a J-tip's bend: 0.5
        cut the corner and put the tip ≈ 1 px beside the wire (simulated ground-truth masks:
        median tip error 0.60 / 1.51 / 1.28 px at 0.5, 0.46 / 0.57 / 0.59 px at 0.1 for dual /
        mono / stiff; median tip angle error 3.7 / 1.7 / 1.1 deg at 0.5, 2.3 / 1.5 / 0.8 at 0.1).
    sample_step_px: arc-length spacing of the output polyline.
    max_wires: at most this many wires are returned (the longest ones).
    """

    max_mask_fraction: float = 0.15
    min_component_px: int = 8
    spur_px: float = 12.0
    junction_merge_px: float = 8.0
    crossing_overlap_px: float = 50.0
    junction_skip_px: int = 4
    tangent_px: int = 10
    max_bend_deg: float = 50.0
    corner_span_px: int = 6
    max_corner_deg: float = 100.0
    bridge_gap_px: float = 30.0
    bridge_angle_deg: float = 45.0
    support_gap_px: float = 200.0
    support_angle_deg: float = 30.0
    support_ratio: float = 0.8
    min_wire_px: float = 15.0
    extend_ends: bool = True
    smoothing: float = 0.1
    sample_step_px: float = 1.0
    max_wires: int = 6


@dataclass(frozen=True)
class Centerline:
    """One wire's smoothed centerline, not yet oriented.

    points: (K, 2) float64 x, y in px, spaced ``sample_step_px`` apart along the arc.
    confidence: mean probability sampled (bilinear) along ``points``, in [0, 1].
    length_px: arc length in px.
    """

    points: np.ndarray
    confidence: float
    length_px: float


def extract_centerlines(prob_or_mask: np.ndarray, config: CenterlineConfig = CenterlineConfig(),
                        mask: np.ndarray | None = None) -> list[Centerline]:
    """Return the wires' centerlines in ``prob_or_mask`` (H, W), longest first.

    prob_or_mask: float probabilities in [0, 1] (binarised at 0.5 unless ``mask`` is given)
        or a binary mask (bool / integer, non-zero = wire). Confidence is the mean of this
        map along the centerline (1.0 for a binary mask).
    mask: optional (H, W) binary mask to skeletonise instead of thresholding at 0.5.
    An empty mask, or one covering more than ``max_mask_fraction`` of the image, gives ``[]``.
    """
    prob = np.asarray(prob_or_mask)
    if prob.ndim != 2:
        raise ValueError(f"prob_or_mask: expected an (H, W) map, got shape {prob.shape}")
    if mask is None:
        mask = prob >= 0.5 if np.issubdtype(prob.dtype, np.floating) else prob != 0
    elif np.shape(mask) != prob.shape:
        raise ValueError(f"mask shape {np.shape(mask)} != prob_or_mask shape {prob.shape}")
    is_prob = np.issubdtype(prob.dtype, np.floating)
    mask = np.asarray(mask) != 0
    if not mask.any() or np.count_nonzero(mask) > config.max_mask_fraction * mask.size:
        return []
    paths = _wire_paths(*_skeleton(mask), mask.shape, config, prob if is_prob else None)
    # Only the longest candidates are worth a spline (a garbage mask has thousands).
    lengths = [_arc_length(p) for p in paths]
    ranked = sorted((k for k in range(len(paths)) if lengths[k] >= config.min_wire_px),
                    key=lambda k: -lengths[k])
    out = []
    for path in (paths[k] for k in ranked[: config.max_wires + 2]):
        pts = _smooth_resample(path, config.smoothing, config.sample_step_px)
        if config.extend_ends and len(pts) > config.tangent_px:
            pts = _extend_end(_extend_end(pts, mask, config)[::-1], mask, config)[::-1]
            arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
            pts = _resample_linear(pts, arc, config.sample_step_px)
        length = _arc_length(pts)
        if length < config.min_wire_px:
            continue
        conf = 1.0
        if is_prob:
            conf = float(np.clip(ndimage.map_coordinates(
                prob, [pts[:, 1], pts[:, 0]], order=1, mode="nearest").mean(), 0.0, 1.0))
        out.append(Centerline(pts, conf, length))
    out.sort(key=lambda c: -c.length_px)
    return out[: config.max_wires]


def mean_closest_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over points of ``a`` (K, 2) of the distance to the closest point of ``b``, in px."""
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    if len(a) * len(b) <= 1 << 14:  # small: brute force beats building a k-d tree
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
        return float(np.sqrt(d2.min(axis=1)).mean())
    return float(cKDTree(b).query(a)[0].mean())


def centerline_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean closest-point distance between two polylines (K, 2) in px."""
    if 0 < len(a) * len(b) <= 1 << 14:  # one distance matrix serves both directions
        d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
        return 0.5 * float(d.min(axis=1).mean() + d.min(axis=0).mean())
    return 0.5 * (mean_closest_distance(a, b) + mean_closest_distance(b, a))


#: Thinning works tile by tile (only tiles holding foreground) with an overlap margin. A
#: pixel's fate after k thinning sub-iterations depends only on pixels within k px, so the
#: result equals whole-image thinning for structures up to ~2 × margin px wide (wires are
#: 2–10 px) and costs a fraction of it when the wires cover a small part of the frame.
_TILE_PX, _TILE_MARGIN_PX = 64, 16


def _skeleton(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """One-pixel skeleton of the foreground's bounding box (+1 px margin) and its (x0, y0)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
    x0, x1 = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
    crop = mask[y0:y1, x0:x1]
    h, w = crop.shape
    t, m = _TILE_PX, _TILE_MARGIN_PX
    out = np.zeros_like(crop)
    for ty in range(0, h, t):
        for tx in range(0, w, t):
            if not crop[ty: ty + t, tx: tx + t].any():
                continue
            a0, b0 = max(ty - m, 0), max(tx - m, 0)
            thin = skeletonize(crop[a0: min(ty + t + m, h), b0: min(tx + t + m, w)])
            out[ty: ty + t, tx: tx + t] = thin[ty - a0: ty - a0 + t, tx - b0: tx - b0 + t]
    return out, (int(x0), int(y0))


@dataclass
class _Edge:
    """A skeleton pixel path (K, 2) x, y between nodes n0 (at points[0]) and n1 (points[-1])."""

    points: np.ndarray
    n0: int
    n1: int

    def __post_init__(self) -> None:
        self.length = _arc_length(self.points)


def _m_adjacency(skel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel coordinates (ys, xs) of the skeleton and its m-adjacent pixel pairs (r, c).

    Neighbours are found by binary search on the sorted linear pixel indices, so the cost
    grows with the skeleton length, not with the image area.
    """
    ys, xs = np.nonzero(skel)
    w = skel.shape[1] + 2  # linear index on a 1-px padded grid: no wrap-around at edges
    lin = (ys + 1) * w + (xs + 1)

    def lookup(dy: int, dx: int) -> np.ndarray:
        target = lin + dy * w + dx
        pos = np.minimum(np.searchsorted(lin, target), len(lin) - 1)
        return np.where(lin[pos] == target, pos, -1)

    rows, cols = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        j = lookup(dy, dx)
        ok = j >= 0
        if dy and dx:  # diagonal: only if no shared 4-neighbour is on the skeleton
            ok &= (lookup(0, dx) < 0) & (lookup(dy, 0) < 0)
        rows.append(np.nonzero(ok)[0])
        cols.append(j[ok])
    return ys, xs, np.concatenate(rows), np.concatenate(cols)


def _ordered_paths(r: np.ndarray, c: np.ndarray, keep: np.ndarray) -> list[np.ndarray]:
    """Return each component of the ``keep`` pixels as an ordered path of indices.

    The kept pixels all have degree <= 2 (paths or loops); indices count ``keep``'s True
    entries and run from one end of the path to the other. A plain walk along each pixel's
    (at most two) neighbours: for a skeleton of ~1000 px it is cheaper than a sparse-graph
    traversal, whose set-up dominates at this size. Paths are walked from an end; closed
    loops, which have none, from any of their pixels.
    """
    new = np.cumsum(keep) - 1
    ok = keep[r] & keep[c]
    a, b = np.r_[new[r[ok]], new[c[ok]]], np.r_[new[c[ok]], new[r[ok]]]
    n = int(np.count_nonzero(keep))
    srt = np.argsort(a, kind="stable")
    a, b = a[srt], b[srt]
    count = np.bincount(a, minlength=n)
    first = np.minimum(np.searchsorted(a, np.arange(n)), max(len(b) - 1, 0))
    pad_b = b if len(b) else np.array([-1])
    nb0 = np.where(count >= 1, pad_b[first], -1).tolist()
    nb1 = np.where(count >= 2, pad_b[np.minimum(first + 1, len(pad_b) - 1)], -1).tolist()
    seen = [False] * n
    paths = []
    for start in np.flatnonzero(count <= 1).tolist() + list(range(n)):
        if seen[start]:
            continue
        path, prev, cur = [start], -1, start
        seen[start] = True
        while True:
            nxt = nb0[cur] if nb0[cur] != prev else nb1[cur]
            if nxt < 0 or seen[nxt]:
                break
            seen[nxt] = True
            path.append(nxt)
            prev, cur = cur, nxt
        paths.append(np.asarray(path))
    return paths


def _skeleton_graph(skel: np.ndarray, offset: tuple[int, int],
                    min_piece_px: int) -> tuple[list[_Edge], int]:
    """Return the skeleton graph's edges and its number of nodes (junctions + free ends).

    Edge points are (x, y) in px of the full image: skeleton pixel + ``offset`` (x0, y0).
    Isolated pieces (both ends free) shorter than ``min_piece_px`` are noise and dropped.
    """
    ys, xs, r, c = _m_adjacency(skel)
    n = len(ys)
    junction = (np.bincount(r, minlength=n) + np.bincount(c, minlength=n)) >= 3
    # Junction pixels touching each other form one junction node (tiny union-find).
    parent = {int(j): int(j) for j in np.flatnonzero(junction)}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    both = junction[r] & junction[c]
    for a, b in zip(r[both].tolist(), c[both].tolist()):
        parent[find(a)] = find(b)
    roots = {root: k for k, root in enumerate(sorted({find(j) for j in parent}))}
    label = {j: roots[find(j)] for j in parent}
    touch: dict[int, list[int]] = {}  # non-junction pixel -> junction nodes it touches
    one = junction[r] != junction[c]
    for a, b in zip(r[one].tolist(), c[one].tolist()):
        p, j = (b, a) if junction[a] else (a, b)
        if label[j] not in touch.setdefault(p, []):
            touch[p].append(label[j])
    eidx = np.flatnonzero(~junction)
    edges: list[_Edge] = []
    next_node = len(roots)
    for path in _ordered_paths(r, c, ~junction):
        pix = eidx[path]
        nodes = []
        for k_end, p in enumerate((int(pix[0]), int(pix[-1]))):
            touching = touch.get(p, [])
            # A one-pixel edge may sit between two junctions: each end gets its own.
            which = k_end if len(pix) == 1 else 0
            if which < len(touching):
                nodes.append(touching[which])
            else:
                nodes.append(next_node)
                next_node += 1
        if nodes[0] >= len(roots) and nodes[1] >= len(roots) and len(pix) < min_piece_px:
            continue
        pts = np.stack([xs[pix] + offset[0], ys[pix] + offset[1]], axis=1).astype(np.float64)
        edges.append(_Edge(pts, nodes[0], nodes[1]))
    return edges, next_node


def _merge_junctions(edges: list[_Edge], n_nodes: int, config: CenterlineConfig,
                     overlaps: bool) -> list[_Edge]:
    """Collapse junction pairs that are one crossing into a single node (edge removed).

    Two wires crossing at angle θ share a skeleton segment about ``width / sin θ`` long,
    bounded by two Y-junctions. The segment goes when it is shorter than
    ``junction_merge_px`` (done before spur pruning, so a wire tip just past a crossing
    still meets the crossing), or, with ``overlaps``, shorter than ``crossing_overlap_px``
    with both Ys opening away from it (both other branches run straight on into it).
    """
    deg = _degrees(edges, n_nodes)
    ends_at = _ends_at(edges)
    cos_bend = np.cos(np.radians(config.max_bend_deg))

    def opens_away(i: int, at_start: bool) -> bool:
        e = edges[i]
        node = e.n0 if at_start else e.n1
        d_e = _end_direction(e.points, at_start, 0, config.tangent_px)
        others = [(j, s) for j, s in ends_at[node] if j != i]
        return len(others) == 2 and all(
            float(_end_direction(edges[j].points, s == 0, config.junction_skip_px,
                                 config.tangent_px) @ d_e) < -cos_bend for j, s in others)

    merge = [i for i, e in enumerate(edges) if e.n0 != e.n1 and deg[e.n0] >= 3
             and deg[e.n1] >= 3 and (e.length < config.junction_merge_px
                                     or (overlaps and e.length < config.crossing_overlap_px
                                         and opens_away(i, True) and opens_away(i, False)))]
    parent = list(range(n_nodes))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in merge:
        parent[find(edges[i].n0)] = find(edges[i].n1)
    merged = set(merge)
    kept = [e for i, e in enumerate(edges) if i not in merged]
    for e in kept:
        e.n0, e.n1 = find(e.n0), find(e.n1)
    return kept


def _ends_at(edges: list[_Edge]) -> dict[int, list[tuple[int, int]]]:
    """Node → list of (edge index, 0 for its start / 1 for its end) touching it."""
    ends: dict[int, list[tuple[int, int]]] = {}
    for i, e in enumerate(edges):
        ends.setdefault(e.n0, []).append((i, 0))
        ends.setdefault(e.n1, []).append((i, 1))
    return ends


def _degrees(edges: list[_Edge], n_nodes: int) -> np.ndarray:
    deg = np.zeros(n_nodes, dtype=np.int64)
    for e in edges:
        deg[e.n0] += 1
        deg[e.n1] += 1
    return deg


def _prune_spurs(edges: list[_Edge], n_nodes: int, config: CenterlineConfig) -> list[_Edge]:
    """Remove short terminal edges hanging off junctions, shortest first at each junction.

    A short terminal edge that is the straight continuation of another edge at its junction
    (each the other's straightest partner) is kept: that is a wire tip just past a
    crossing, not a thinning artefact (those stick out sideways). Rounds repeat until
    nothing changes, one removal per junction per round, since a removal changes degrees.
    """
    cos_bend = np.cos(np.radians(config.max_bend_deg))
    protected: set[int] = set()
    while True:
        deg = _degrees(edges, n_nodes)
        ends_at = _ends_at(edges)
        shortest: dict[int, _Edge] = {}
        removed = set()
        for e in edges:
            if e.length >= config.spur_px or id(e) in protected:
                continue
            if deg[e.n0] == 1 and deg[e.n1] >= 3:
                node = e.n1
            elif deg[e.n1] == 1 and deg[e.n0] >= 3:
                node = e.n0
            else:
                continue
            if deg[node] > _MAX_CROSSING_DEGREE:
                removed.add(id(e))  # a blob's hairs: all go at once
            elif node not in shortest or e.length < shortest[node].length:
                shortest[node] = e
        for node, spur in shortest.items():
            if _continues_straight(edges, ends_at[node], spur, node, cos_bend, config):
                protected.add(id(spur))
            else:
                removed.add(id(spur))
        if not shortest and not removed:
            return edges
        edges = [e for e in edges if id(e) not in removed]


def _continues_straight(edges: list[_Edge], ends: list[tuple[int, int]], spur: _Edge,
                        node: int, cos_bend: float, config: CenterlineConfig) -> bool:
    """True when ``spur`` and another edge at junction ``node`` are each other's straightest.

    ``ends`` are the (edge index, 0 start / 1 end) pairs touching ``node``.
    """
    ends = [(i, s) for i, s in ends if edges[i] is not spur]
    at_start = spur.n0 == node
    skip = min(config.junction_skip_px, len(spur.points) // 3)
    d_spur = _end_direction(spur.points, at_start, skip, config.tangent_px)
    dirs = [_end_direction(edges[i].points, s == 0, config.junction_skip_px, config.tangent_px)
            for i, s in ends]
    straight = [-float(d @ d_spur) for d in dirs]
    best = int(np.argmax(straight))
    if straight[best] < cos_bend:
        return False
    rival = max((-float(dirs[best] @ d) for k, d in enumerate(dirs) if k != best), default=-1.0)
    return straight[best] >= rival


def _end_direction(points: np.ndarray, at_start: bool, skip: int, span: int) -> np.ndarray:
    """Unit vector pointing *out of* the polyline at one end (away from its interior)."""
    pts = points if at_start else points[::-1]
    n = len(pts)
    i0 = min(skip, max(n - 2, 0))
    i1 = min(i0 + span, n - 1)
    v = pts[i0] - pts[i1]
    if i1 == i0 or not np.any(v):
        return np.zeros(2)
    return v / np.linalg.norm(v)


def _chain(edges: list[_Edge], n_nodes: int, config: CenterlineConfig) -> list[np.ndarray]:
    """Join edges into wires, continuing straight through junctions."""
    # Through a junction a wire may bend by max_bend_deg; through a plain node (a junction
    # whose spur was pruned) by up to max_corner_deg: sharper is two wires' tips touching.
    cos_bend_junction = np.cos(np.radians(config.max_bend_deg))
    cos_bend_plain = np.cos(np.radians(config.max_corner_deg))
    ends_at = _ends_at(edges)
    link: dict[tuple[int, int], tuple[int, int]] = {}
    through_junction: set[tuple[int, int]] = set()
    for ends in ends_at.values():
        if not 2 <= len(ends) <= _MAX_CROSSING_DEGREE:
            continue
        dirs = [_end_direction(edges[i].points, s == 0, config.junction_skip_px,
                               config.tangent_px) for i, s in ends]
        pairs = []
        for a in range(len(ends)):
            for b in range(a + 1, len(ends)):
                straightness = -float(dirs[a] @ dirs[b])  # 1 = perfectly straight through
                if straightness >= (cos_bend_plain if len(ends) == 2 else cos_bend_junction):
                    pairs.append((straightness, a, b))
        used: set[int] = set()
        for _, a, b in sorted(pairs, reverse=True):
            if a in used or b in used or ends[a][0] == ends[b][0]:
                continue
            used.update((a, b))
            link[ends[a]], link[ends[b]] = ends[b], ends[a]
            if len(ends) > 2:
                through_junction.update((ends[a], ends[b]))
    wires, visited = [], np.zeros(len(edges), dtype=bool)
    starts = [(i, s) for i in range(len(edges)) for s in (0, 1) if (i, s) not in link]
    starts += [(i, 0) for i in range(len(edges))]  # closed loops have no free end
    skip = config.junction_skip_px
    for i, s in starts:
        if visited[i]:
            continue
        pieces = []
        while not visited[i]:
            visited[i] = True
            pts = edges[i].points if s == 0 else edges[i].points[::-1]
            lo = skip if (i, s) in through_junction else 0
            hi = skip if (i, 1 - s) in through_junction else 0
            if len(pts) > lo + hi + 1:
                pts = pts[lo: len(pts) - hi]
            pieces.append(pts)
            if (i, 1 - s) not in link:
                break
            i, s = link[(i, 1 - s)]
        wires.append(np.concatenate(pieces))
    return wires


def _bridge(wires: list[np.ndarray], config: CenterlineConfig, gap_px: float | None = None,
            angle_deg: float | None = None, accept: Any = None) -> list[np.ndarray]:
    """Join wire ends that are close and point at each other, best candidates first.

    Candidate end pairs come from a k-d tree (within ``gap_px``, default
    ``bridge_gap_px``; tangents within ``angle_deg``, default ``bridge_angle_deg``), pass
    ``accept(wires, pos, dirs, a, b)`` if given (ends numbered ``2 * wire + (0 start | 1
    end)``; ``pos`` and ``dirs`` are every end's point and outward tangent), are
    ranked once by cost, and are taken greedily while both ends are free and the join makes
    no loop, so the cost stays near-linear even for a mask full of fragments.
    """
    if len(wires) < 2:
        return wires
    gap_px = config.bridge_gap_px if gap_px is None else gap_px
    angle_deg = config.bridge_angle_deg if angle_deg is None else angle_deg
    cos_max = np.cos(np.radians(angle_deg))
    pos = np.array([w[0] if s == 0 else w[-1] for w in wires for s in (0, 1)])
    dirs = np.array([_end_direction(w, s == 0, config.junction_skip_px, config.tangent_px)
                     for w in wires for s in (0, 1)])
    pairs = cKDTree(pos).query_pairs(gap_px, output_type="ndarray")
    pairs = pairs[pairs[:, 0] // 2 != pairs[:, 1] // 2]
    a, b = pairs[:, 0], pairs[:, 1]
    gap = pos[b] - pos[a]
    dist = np.hypot(gap[:, 0], gap[:, 1])
    # Ends closer than junction_skip_px are judged by their tangents alone: where thinning
    # splits a wire at a junction, the two ends can lie side by side or overlap by a pixel or
    # two, and the direction of so short a gap says nothing about the wire.
    close = (dist < max(config.junction_skip_px, 1))[:, None]
    g = np.where(close, 0.5 * (dirs[a] - dirs[b]), gap / np.maximum(dist, 1.0)[:, None])
    ca, cb = np.einsum("ij,ij->i", dirs[a], g), -np.einsum("ij,ij->i", dirs[b], g)
    # A piece shorter than min_wire_px within 2 * junction_skip_px ahead of a longer wire's
    # end is that wire's hook (a J or angled tip the skeleton broke off at its tight bend):
    # only the long wire's tangent is asked to point at it, since the hook's own turns.
    short = np.array([_arc_length(w) < config.min_wire_px for w in wires])
    hook = dist <= 2 * config.junction_skip_px
    ca = np.where(hook & short[a // 2] & ~short[b // 2], 1.0, ca)
    cb = np.where(hook & short[b // 2] & ~short[a // 2], 1.0, cb)
    ok = (ca >= cos_max) & (cb >= cos_max)
    cost = dist[ok] * (3.0 - ca[ok] - cb[ok])
    candidates = pairs[ok][np.argsort(cost, kind="stable")].tolist()
    parent = list(range(len(wires)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    link: dict[int, int] = {}
    for a, b in candidates:
        if a in link or b in link or find(a // 2) == find(b // 2):
            continue
        if accept is not None and not accept(wires, pos, dirs, a, b):
            continue
        link[a], link[b] = b, a
        parent[find(a // 2)] = find(b // 2)
    if not link:
        return wires
    out, done = [], [False] * len(wires)
    for start in [e for e in range(2 * len(wires)) if e not in link]:
        if done[start // 2]:
            continue
        pieces, end = [], start
        while True:
            w = end // 2
            done[w] = True
            pieces.append(wires[w] if end % 2 == 0 else wires[w][::-1])
            far = end ^ 1  # the other end of the same wire
            if far not in link:
                break
            end = link[far]
        out.append(np.concatenate(pieces))
    return out


def _arc_length(points: np.ndarray) -> float:
    """Length (px) of the polyline ``points`` (K, 2)."""
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))


def _supported(prob: np.ndarray, config: CenterlineConfig) -> Any:
    """``accept`` rule of the probability-supported bridge (see ``support_ratio``)."""
    support = ndimage.maximum_filter(prob, size=3)
    h, w = prob.shape

    means: dict[int, float] = {}

    def mean_along(wires: list[np.ndarray], k: int) -> float:
        if k not in means:
            pts = wires[k]
            means[k] = float(prob[np.clip(pts[:, 1], 0, h - 1).astype(int),
                                  np.clip(pts[:, 0], 0, w - 1).astype(int)].mean())
        return means[k]

    def accept(wires: list[np.ndarray], pos: np.ndarray, dirs: np.ndarray, a: int,
               b: int) -> bool:
        pa, pb = pos[a].astype(float), pos[b].astype(float)
        da, db = dirs[a], dirs[b]
        span = float(np.hypot(*(pb - pa)))
        t = np.linspace(0.0, 1.0, max(int(np.ceil(span)), 2) + 1)[1:-1, None]
        # Cubic Hermite curve leaving a along its tangent and entering b against b's: the
        # path a smoothly bending wire takes across the gap (a straight chord would leave
        # a curved wire within a few tens of px).
        h00, h10 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t
        h01, h11 = -2 * t**3 + 3 * t**2, t**3 - t**2
        path = h00 * pa + h10 * span * da + h01 * pb - h11 * span * db
        path = np.rint(path).astype(int)
        along = support[np.clip(path[:, 1], 0, h - 1), np.clip(path[:, 0], 0, w - 1)]
        level = min(mean_along(wires, a // 2), mean_along(wires, b // 2))
        return bool(np.percentile(along, 10) >= config.support_ratio * level)

    return accept


def _wire_paths(skel: np.ndarray, offset: tuple[int, int], shape: tuple[int, ...],
                config: CenterlineConfig, prob: np.ndarray | None = None) -> list[np.ndarray]:
    """Ordered skeleton pixel paths (K, 2) x, y, one per wire (``prob``: the map, if any)."""
    edges, n_nodes = _skeleton_graph(skel, offset, config.min_component_px)
    edges = _merge_junctions(edges, n_nodes, config, overlaps=False)
    edges = _prune_spurs(edges, n_nodes, config)
    edges = _merge_junctions(edges, n_nodes, config, overlaps=True)
    wires = _bridge(_chain(edges, n_nodes, config), config)
    if prob is not None and config.support_gap_px > 0:
        wires = _bridge(wires, config, gap_px=config.support_gap_px,
                        angle_deg=config.support_angle_deg, accept=_supported(prob, config))
    pieces = [p for w in wires for p in _split_corners(w, config)]
    return [_trim_border_hooks(p, shape, config.junction_skip_px) for p in pieces
            if len(p) >= 2]


def _split_corners(path: np.ndarray, config: CenterlineConfig) -> list[np.ndarray]:
    """Cut a path where it turns by more than ``max_corner_deg`` within ±``corner_span_px``.

    A wire bends smoothly; a sharp corner is two wires whose tips touch (a "V"), which the
    skeleton shows as one path. Each piece keeps the corner point (the touching tips).
    A corner closer than ``min_wire_px`` of arc to either end of the path is not cut: that
    is a J or angled tip's hook (a J turns by 120–200° within a few px), and the piece cut
    off would be too short to keep, so cutting it would only move the tip back to the bend.
    """
    s = config.corner_span_px
    if len(path) < 2 * s + 1:
        return [path]
    v1 = path[s:-s] - path[:-2 * s]
    v2 = path[2 * s:] - path[s:-s]
    norm = np.linalg.norm(v1, axis=1) * np.linalg.norm(v2, axis=1)
    cos = np.einsum("ij,ij->i", v1, v2) / np.maximum(norm, 1e-9)
    sharp = cos < np.cos(np.radians(config.max_corner_deg))
    if not sharp.any():
        return [path]
    cuts, i = [], 0
    while i < len(sharp):  # one cut per run of sharp points, at its sharpest point
        if sharp[i]:
            j = i
            while j < len(sharp) and sharp[j]:
                j += 1
            cuts.append(s + i + int(np.argmin(cos[i:j])))
            i = j
        else:
            i += 1
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))]
    cuts = [c for c in cuts if config.min_wire_px <= arc[c] <= arc[-1] - config.min_wire_px]
    bounds = [0, *cuts, len(path) - 1]
    return [path[a: b + 1] for a, b in zip(bounds, bounds[1:]) if b > a]


def _trim_border_hooks(path: np.ndarray, shape: tuple[int, ...], skip: int) -> np.ndarray:
    """Drop ``skip`` px at an end lying on the image border, where thinning hooks the path."""
    h, w = shape[:2]

    def on_border(p: np.ndarray) -> bool:
        return bool(p[0] <= 0 or p[1] <= 0 or p[0] >= w - 1 or p[1] >= h - 1)

    lo = skip if on_border(path[0]) else 0
    hi = skip if on_border(path[-1]) else 0
    return path[lo: len(path) - hi] if len(path) > lo + hi + 3 else path


def _smooth_resample(path: np.ndarray, smoothing: float, step: float) -> np.ndarray:
    """Smoothing-spline fit of a pixel path, resampled every ``step`` px of arc length."""
    keep = np.r_[True, np.any(np.diff(path, axis=0) != 0, axis=1)]
    path = path[keep]
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    u = np.r_[0.0, np.cumsum(seg)]
    if len(path) <= 7 or u[-1] <= 0:
        return _resample_linear(path, u, step)
    # Every other pixel (plus the last) is enough for the fit and halves its cost.
    fit = np.r_[np.arange(0, len(path) - 1, 2), len(path) - 1]
    tck, _ = splprep(path[fit].T, u=u[fit], s=smoothing * len(fit), k=3)
    dense_u = np.linspace(0.0, u[-1], max(int(u[-1] / (0.5 * step)), 2) + 1)
    dense = np.stack(splev(dense_u, tck), axis=1)
    seg = np.linalg.norm(np.diff(dense, axis=0), axis=1)
    return _resample_linear(dense, np.r_[0.0, np.cumsum(seg)], step)


def _run_length(mask: np.ndarray, start: np.ndarray, direction: np.ndarray,
                max_px: float) -> float:
    """Distance (px) from ``start`` along ``direction`` to where the mask ends (0.5 px steps)."""
    steps = np.arange(0.5, max_px + 0.5, 0.5)
    pts = np.rint(start + steps[:, None] * direction).astype(np.int64)
    h, w = mask.shape
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    on = np.zeros(len(steps), dtype=bool)
    on[inside] = mask[pts[inside, 1], pts[inside, 0]]
    off = np.flatnonzero(~on)
    return float(steps[off[0]] - 0.25) if len(off) else float(max_px)


def _extend_end(points: np.ndarray, mask: np.ndarray, config: CenterlineConfig) -> np.ndarray:
    """Extend the last end of ``points`` to the wire's true end (about 1 px spacing).

    Thinning stops about one half-width short of a round end. Along the end tangent the mask
    continues for ``run`` px; the half-width ``r`` is measured across the wire
    ``tangent_px / 2`` back. The end moves ``run - r`` forward when that is positive and
    no more than ``r + 2`` px (more means the mask goes on: a crossing, a blob, the border).
    """
    end = points[-1]
    t = end - points[-1 - config.tangent_px // 2]
    if not np.any(t):
        return points
    t = t / np.linalg.norm(t)
    normal = np.array([-t[1], t[0]])
    back = points[-1 - config.tangent_px // 2]
    r = 0.5 * (_run_length(mask, back, normal, 20.0) + _run_length(mask, back, -normal, 20.0))
    ext = _run_length(mask, end, t, 20.0) - r
    if ext <= 0.0 or ext > r + 2.0:
        return points
    n = max(int(np.ceil(ext / config.sample_step_px)), 1)
    added = end + np.outer(np.arange(1, n + 1) * (ext / n), t)
    return np.concatenate([points, added])


def _resample_linear(points: np.ndarray, arc: np.ndarray, step: float) -> np.ndarray:
    if len(points) < 2 or arc[-1] <= 0:
        return points[:1].astype(np.float64)
    n = max(int(round(arc[-1] / step)), 1)
    s = np.linspace(0.0, arc[-1], n + 1)
    return np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], axis=1)
