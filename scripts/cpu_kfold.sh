#!/usr/bin/env bash
# A model's 5-fold real-photo row on this 2-core CPU: scripts/device_kfold.sh's recipe at CPU size, for a session
# with no lent GPU. Same mixtures, mask placements and selection rules; fewer draws:
#
#   1. base: from scratch, no Face Mask Detection face drawn and no epoch chosen on it, 5 epochs of 6,000 draws
#      (the GPU recipe: up to 8 epochs of 12,500, stopped by a 2.3-minute budget; it kept epoch 5);
#   2. kfold: each of 5 folds a fine-tune of the whole network from the base without its photos, 2 epochs of
#      3,000 draws (GPU: 2 of 10,000), scored on them (maskxai.kfold --base): docs/kfold_$MODEL.json.
#
# Batch 32, fp32, 2 threads (--no-bf16: no AVX-512 here). ResNet50 at 160 px took 3.0 s a step of 32 (2026-11-27):
# the base about 55 minutes, each fold about 12. Rerun to resume after an interruption: a finished base is kept
# (its `done` marker), finished folds are not retrained, an unfinished run resumes from its last.pt.
#
#   MODEL=resnet50 bash scripts/cpu_kfold.sh        # R=runs/kfold_cpu_$MODEL holds the runs
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-resnet50}
R=${R:-runs/kfold_cpu_$MODEL}
PY=${PY:-.venv/bin/python}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
PLACE="correct=0.08,none=0.08,below_nose=0.04,chin=0.02,nose_mouth=0.02,real_correct=0.25,real_none=0.25"
PLACE="$PLACE,real_below_nose=0.12,real_chin=0.06,real_nose_mouth=0.04,real_hanging=0.04"  # device_kfold.sh's
COMMON=(--threads 2 --no-bf16 --placements "$PLACE")
mkdir -p "$R/base"

if [ ! -f "$R/base/done" ]; then
  echo "== base $(date +%T)"
  $PY -m maskxai.train --model "$MODEL" "${COMMON[@]}" --out "$R/base" --epochs 5 --samples-per-epoch 6000 \
    --lr 0.002 --warmup-steps 100 --mix "synthetic=0.55,face-mask-12k=0.15,maskedface-net=0.3,face-mask-detection=0" \
    --select "maskedface-net,face-mask-12k,synthetic,synthetic-real" --time-budget-min 90 > "$R/base.log" 2>&1
  touch "$R/base/done"
fi

echo "== kfold $(date +%T)"
$PY -m maskxai.kfold --model "$MODEL" --folds 5 --out "$R/kfold" --base "$R/base/best.safetensors" -- \
  "${COMMON[@]}" --epochs 2 --samples-per-epoch 3000 --lr 0.0005 --warmup-steps 30 \
  --mix "synthetic=0.3,face-mask-12k=0.1,maskedface-net=0.25,face-mask-detection=0.35" \
  --select "maskedface-net,face-mask-detection,face-mask-12k,synthetic-real" > "$R/kfold.log" 2>&1
grep -E "^(fold [0-9]|pooled)" "$R/kfold.log"  # each fold and the pooled row
cp "$R/kfold/kfold.json" "docs/kfold_$MODEL.json"
echo "== done $(date +%T): docs/kfold_$MODEL.json; the card: python -m maskxai.modelcard --model $MODEL"
