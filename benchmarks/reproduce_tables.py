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

r"""Reproduce the FRA-Net paper's Tables 2-4 (losses, ablations/backbones, baselines).

Each ``configs/paper/<table>.yaml`` holds a ``base`` TrainConfig and named ``variants``
(partial overrides). For every variant this script writes the merged config, trains it with
``franet train`` and evaluates the best weights with ``franet eval`` on one held-out simulated
test folder (mono, dual and stiff sequences from seeds never used in training), then writes
``OUT/<table>.md`` and ``OUT/<table>.json`` with the measured numbers.

The YAML files are set for a reduced CPU scale (about 5 minutes per FRA-Net variant, AdamW
because SGD does not leave the all-background start in 500 CPU steps). For the full scale on a
GPU with the paper's optimiser, override fields for every variant, e.g.::

    python benchmarks/reproduce_tables.py --out runs/paper-gpu \\
        --set crop=512 batch_size=32 epochs=50 steps_per_epoch=500 sim.size=512 device=cuda \\
              optimizer=sgd weight_decay=0.0005

Finished variants (an ``eval/metrics.json`` in their run folder) are skipped on a re-run, so
the script can be stopped and restarted.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"table2": "table2_losses", "table3": "table3_ablations", "table4": "table4_baselines"}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``override`` wins, nested dicts are merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        *parents, leaf = key.split(".")
        node = out
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(value)
    return out


def make_test_set(path: Path, frames: int, seed: int, size: int) -> Path:
    """Held-out simulated test folder: 2 sequences each of mono, dual and stiff wires."""
    from franet_core.data import write_data_folder
    from franet_core.sim import SimConfig, Simulator

    if (path / "images").is_dir():
        return path
    sequences = []
    for k, kind in enumerate(("mono", "dual", "stiff")):
        sim = Simulator(SimConfig(kind=kind, size=size), seed=seed + k)
        sequences += [sim.sequence(frames) for _ in range(2)]
    write_data_folder(path, sequences)
    return path


def run_variant(table: str, name: str, config: dict[str, Any], test_dir: Path,
                out: Path) -> dict[str, Any]:
    """Train + evaluate one variant (skipped when already evaluated); return its metrics."""
    run_dir = out / table / name
    metrics_path = run_dir / "eval" / "metrics.json"
    if not metrics_path.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg_path = run_dir / "requested.yaml"
        cfg_path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
        franet = [sys.executable, "-m", "franet_core.cli"]
        resume = ["--resume"] if (run_dir / "state.safetensors").is_file() else []
        subprocess.run(franet + ["train", "--config", str(cfg_path), "--out", str(run_dir),
                                 "--no-progress", *resume], check=True, cwd=ROOT)
        subprocess.run(franet + ["eval", "--data", str(test_dir), "--weights",
                                 str(run_dir / "best.safetensors"), "--out",
                                 str(run_dir / "eval"), "--no-tracking"], check=True, cwd=ROOT)
    result = json.loads(metrics_path.read_text(encoding="utf-8"))
    return {"variant": name, "model": result["model"], "frames": result["frames"],
            **{m: result["metrics"][m] for m in ("precision", "sensitivity", "f1", "gsp")},
            "ms_per_frame": result["timing"]["ms_per_frame"],
            "latency_ms": result["timing"]["latency_ms"]["median"]}


def write_table(table: str, rows: list[dict[str, Any]], out: Path, note: str) -> Path:
    """Markdown + JSON table of measured results."""
    lines = [f"# {table} (measured by benchmarks/reproduce_tables.py)", "", note, "",
             "| variant | model | F1 mean ± std | precision | sensitivity | GSP (px) | "
             "ms/frame (N/T) | batch-1 ms |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['model']} | {r['f1']['mean']:.4f} ± "
                     f"{r['f1']['std']:.4f} | {r['precision']['mean']:.4f} | "
                     f"{r['sensitivity']['mean']:.4f} | {r['gsp']['mean']:.3f} | "
                     f"{r['ms_per_frame']:.1f} | {r['latency_ms']:.1f} |")
    path = out / f"{table}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / f"{table}.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: which tables, where, and overrides for every variant."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", choices=sorted(TABLES), default=sorted(TABLES))
    parser.add_argument("--variants", nargs="+", help="only these variant names")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "paper")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override a TrainConfig field in every variant")
    parser.add_argument("--test-frames", type=int, default=8, help="frames per test sequence")
    parser.add_argument("--test-size", type=int, default=256, help="test frame side, px")
    parser.add_argument("--test-seed", type=int, default=2_000_003)
    parser.add_argument("--dry-run", action="store_true", help="print the merged configs only")
    args = parser.parse_args(argv)

    overrides = parse_sets(args.set)
    plans = []
    for table in args.tables:
        spec = yaml.safe_load((ROOT / "configs" / "paper" / f"{TABLES[table]}.yaml").read_text())
        for name, variant in spec["variants"].items():
            if args.variants is None or name in args.variants:
                plans.append((table, name, merge(merge(spec["base"], variant or {}), overrides)))
    if args.dry_run:
        for table, name, config in plans:
            print(f"## {table}/{name}\n{yaml.safe_dump(config, sort_keys=True)}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    test_dir = make_test_set(args.out / "test", args.test_frames, args.test_seed,
                             args.test_size)
    note = (f"Test set: {test_dir} (mono, dual, stiff; {args.test_frames} frames per sequence, "
            f"{args.test_size} px, seeds from {args.test_seed}). Overrides: {args.set or 'none'}.")
    for table in args.tables:
        rows = [run_variant(t, n, c, test_dir, args.out) for t, n, c in plans if t == table]
        if rows:
            print(f"wrote {write_table(table, rows, args.out, note)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
