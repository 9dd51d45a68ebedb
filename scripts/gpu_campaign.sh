#!/usr/bin/env bash
# One device lease of the training campaign (docs/results.md, "GPU recipe"), run on the
# device machine in the repository root. Everything it brings back is under $OUT:
#   best.safetensors, best.json   weights of the best validation epoch (+ sidecar)
#   curve.json                    the learning curve (one record per epoch)
#   val_report.md, val_metrics.json   franet eval of best on the validation folder + sweep
#   gpu_latency.json              batch-1 / batched, fp32 / fp16 latency of FRA-Net at 512 px
#
# Prepare here (once per session; .bg/ is ignored by git and carried):
#   echo /.bg/ >> .git/info/exclude
#   python -c "from franet_core.sim.presets import background_split as b; import shutil, \
#       pathlib; d = pathlib.Path('.bg'); d.mkdir(exist_ok=True); \
#       [shutil.copy(p, d) for s in ('train', 'val') for p in b(s)]"
# Then, with the device tool:  run(command="bash scripts/gpu_campaign.sh", carry=[".bg"],
#                                  timeout_s=590)
# Sizes come from the environment (defaults fill a 10-minute call on one H200, 16 cores):
#   SEQUENCES (4000) x 3 frames of training data, TRAIN_MIN (7) minutes of training,
#   INIT (the shipped weights) to start from, TINY=1 for the CPU dry run of this script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-out/gpu_campaign}"; mkdir -p "$OUT"
WORK="${WORK:-/tmp/franet_gpu}"; rm -rf "$WORK"; mkdir -p "$WORK"
PY="${PYTHON:-python3}"
CORES="$(nproc)"
SEQUENCES="${SEQUENCES:-4000}"; TRAIN_MIN="${TRAIN_MIN:-7}"
INIT="${INIT:-franet_core/weights/franet_sim.safetensors}"
SETS=(device=cuda batch_size=32 crop=512 amp=true num_workers=$((CORES - 2))
      steps_per_epoch=250 lr=0.001 "init=$INIT" time_budget_min="$TRAIN_MIN"
      "data=[$WORK/train]" "val_data=[$WORK/val]")
if [ "${TINY:-0}" = 1 ]; then  # CPU dry run: same steps, toy sizes
    SEQUENCES=4
    SETS=(device=cpu batch_size=2 crop=128 num_workers=0 steps_per_epoch=2 epochs=1
          "init=$INIT" "data=[$WORK/train]" "val_data=[$WORK/val]")
fi
BG=(); [ -d .bg ] && BG=(--backgrounds .bg)
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv

echo "== 1/4 simulate on $CORES cores"
"$PY" -m franet_core.cli synth --out "$WORK/train" --sequences "$SEQUENCES" --frames 3 \
    --seed 0 --background-split train "${BG[@]}" --workers "$CORES" >/dev/null
"$PY" -m franet_core.cli synth --out "$WORK/val" --sequences 48 --frames 4 --seed 2000003 \
    --background-split val "${BG[@]}" --workers "$CORES" >/dev/null

echo "== 2/4 train (${TRAIN_MIN} min budget)"
"$PY" -m franet_core.cli train --config configs/shipped.yaml --out "$WORK/run" --no-progress \
    --set "${SETS[@]}"
cp "$WORK/run/best.safetensors" "$WORK/run/best.json" "$OUT/"
"$PY" - "$WORK/run/state.safetensors" "$OUT/curve.json" <<'PY'
import json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="pt") as f:
    state = json.loads(f.metadata()["franet_state"])
json.dump(state["history"], open(sys.argv[2], "w"), indent=1)
PY

echo "== 3/4 validate (threshold sweep on the validation folder)"
"$PY" -m franet_core.cli eval --weights "$OUT/best.safetensors" --data "$WORK/val" \
    --out "$WORK/val_eval" --sweep 0.3 0.4 0.5 0.6 0.7 0.8 0.9
cp "$WORK/val_eval/report.md" "$OUT/val_report.md"
cp "$WORK/val_eval/metrics.json" "$OUT/val_metrics.json"

echo "== 4/4 latency"
"$PY" benchmarks/bench_gpu_latency.py --weights "$OUT/best.safetensors" \
    --out "$OUT/gpu_latency.json"
ls -l "$OUT"
