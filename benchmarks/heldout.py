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

"""Build the held-out test domains and score weights on every one, per kind.

Each preset of ``franet_core.sim.presets`` × each kind (mono, dual, stiff) becomes a data
folder ``ROOT/PRESET/KIND`` (``franet synth --preset PRESET --kind KIND --sequences 4
--frames 8``, the preset's own seed: anyone rebuilds the same frames), built once. Then
``franet eval`` runs per preset over its three kinds, and one Markdown table (a row per
preset and kind, plus the drop of each domain against the in-distribution ``mixed`` preset,
the leave-one-domain-out proxy for an unseen C-arm) is printed and written to
``OUT/heldout.md``; every eval's full report stays in ``OUT/PRESET/``.

These are TEST sets: never choose a threshold, a checkpoint or a recipe on them.

Usage: ``python benchmarks/heldout.py --weights W --out OUT [--root runs/heldout]
[--tip-check off]`` (tip figures with the weights' tip check unless ``off``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import subprocess
import sys

from franet_core.sim import PRESETS

KINDS = ("mono", "dual", "stiff")
COLUMNS = ("relaxed F1", "relaxed recall", "pixel F1", "GSP px", "tips ≤ 5 px",
           "tip err median px", "false tips", "id switches")


def _franet(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "franet_core.cli", *args], check=True)


def build(root: Path, sequences: int, frames: int) -> None:
    """Simulate every (preset, kind) folder that does not exist yet."""
    for name in PRESETS:
        for kind in KINDS:
            out = root / name / kind
            if not (out / "annotations.json").is_file():
                _franet("synth", "--preset", name, "--kind", kind, "--sequences",
                        str(sequences), "--frames", str(frames), "--out", str(out))


def _row(block: dict) -> list[float | None]:
    m, tr = block["metrics"], (block.get("tracking") or {})
    tr = tr.get("overall", tr) or {}
    return [m["relaxed_f1"]["mean"], m["relaxed_recall"]["mean"], m["f1"]["mean"],
            m["gsp"]["mean"], tr.get("tip_detection_rate"), tr.get("tip_error_median_px"),
            tr.get("false_tip_rate"), tr.get("id_switches")]


def _fmt(v: float | None, col: str) -> str:
    if v is None:
        return "n/a"
    if col in ("tips ≤ 5 px", "false tips"):
        return f"{100 * v:.1f} %"
    if col == "id switches":
        return str(int(v))
    return f"{v:.3f}" if "F1" in col or "recall" in col else f"{v:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="default: the shipped weights")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path("runs/heldout"))
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--tip-check", default="auto",
                        help="franet eval's --tip-check: auto (the weights' own), off or FILE")
    args = parser.parse_args()
    build(args.root, args.sequences, args.frames)
    rows: dict[tuple[str, str], list] = {}
    for name in PRESETS:
        out = args.out / name
        cmd = ["eval", "--data", *(str(args.root / name / k) for k in KINDS), "--out", str(out),
               "--tip-check", args.tip_check]
        if args.weights:
            cmd += ["--weights", args.weights]
        _franet(*cmd)
        result = json.loads((out / "metrics.json").read_text())
        for kind in KINDS:
            rows[name, kind] = _row(result["per_folder"][kind])
        rows[name, "all"] = _row(result)
    lines = ["| domain | kind | " + " | ".join(COLUMNS) + " | Δ relaxed F1 vs mixed |",
             "|---" * (len(COLUMNS) + 3) + "|"]
    for (name, kind), row in rows.items():
        ref = rows["mixed", kind][0]
        drop = "" if name == "mixed" or row[0] is None or ref is None else f"{row[0] - ref:+.3f}"
        lines.append(f"| {name} | {kind} | " + " | ".join(_fmt(v, c) for v, c in zip(row, COLUMNS))
                     + f" | {drop} |")
    table = "\n".join(lines)
    (args.out / "heldout.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
