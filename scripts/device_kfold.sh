#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool): a model's recipe that never sees a held-out Face Mask
# Detection photo, its 5-fold real-photo row, the weights to ship, and the GPU bench. MODEL picks the model
# (default inception_resnet_v1; MODEL=resnet50 for ResNet50's row, which it does not have yet).
#
#   1. base: from scratch on synthetic masks (photographed templates, maskxai.realmasks), Face Mask 12K and
#      MaskedFace-Net, with no Face Mask Detection face drawn and no epoch chosen on it;
#   2. kfold: each of 5 folds fine-tuned from the base without its photos, scored on them (maskxai.kfold --base);
#   3. final: the same fine-tune on the standard split (its test photos held out): the weights to ship;
#   4. bench: maskxai.bench on the GPU (panel and live mode), for the README beside the CPU figures.
#
# Here, before the call (the data travel re-encoded as WebP at the same pixel sizes, to fit the 64 MiB a call
# carries; the shipped checkpoints/*.safetensors are moved aside for the call, the bench runs untrained weights):
#   python scripts/pack_data.py                    # ../shared/data -> .gpupack/data.tgz, .cache landmarks beside
#   pip wheel --no-deps -w .whl facenet-pytorch==2.5.3 grad-cam==1.5.7 ttach captum==0.9.0
# The call: run(command="bash scripts/device_kfold.sh", carry=[".gpupack", ".whl"]); the files come back in $OUT.
# SMOKE=1 runs every step with tiny sizes (on the CPU here too) to check the script before spending GPU time.
source "$(dirname "$0")/device_prelude.sh"

if [ -n "${SMOKE:-}" ]; then  # tiny sizes: every step runs, nothing is learned
  BASE_E=1 BASE_N=64 FT_E=1 FT_N=64 WORKERS=0 BATCH=16 BENCH="--steps 8 --repeats 1 --ref-steps 16 --live-frames 2"
  EXTRA=(--no-bf16)  # bf16 is emulated (slow) on a CPU without AVX-512
else
  EXTRA=()
  BASE_E=${BASE_E:-8} BASE_N=${BASE_N:-12500} FT_E=${FT_E:-2} FT_N=${FT_N:-10000} WORKERS=${WORKERS:-15} BATCH=64
  BENCH="--steps 50 --repeats 2 --ref-steps 128 --live-frames 32"
fi
PLACE="correct=0.08,none=0.08,below_nose=0.04,chin=0.02,nose_mouth=0.02,real_correct=0.25,real_none=0.25"
PLACE="$PLACE,real_below_nose=0.12,real_chin=0.06,real_nose_mouth=0.04,real_hanging=0.04"
MODEL=${MODEL:-inception_resnet_v1}
COMMON=(--model "$MODEL" --data "$DATA" --landmarks "$LM" --workers "$WORKERS" --batch-size "$BATCH"
        --placements "$PLACE" "${EXTRA[@]}")
FT=(--epochs "$FT_E" --samples-per-epoch "$FT_N" --lr 0.0005 --warmup-steps 30
    --mix "synthetic=0.3,face-mask-12k=0.1,maskedface-net=0.25,face-mask-detection=0.35"
    --select "maskedface-net,face-mask-detection,face-mask-12k,synthetic-real" --time-budget-min ${FT_MIN:-0.6})
R=runs/device
mkdir -p $R

if [ -z "${ONLY_KFOLD:-}" ]; then  # ONLY_KFOLD=1: base and final already there (a warm machine's runs/)
echo "== base $(date +%T)"
$PY -m maskxai.train "${COMMON[@]}" --out $R/base --epochs "$BASE_E" --samples-per-epoch "$BASE_N" --lr 0.002 \
  --mix "synthetic=0.55,face-mask-12k=0.15,maskedface-net=0.3,face-mask-detection=0" \
  --select "maskedface-net,face-mask-12k,synthetic,synthetic-real" --time-budget-min ${BASE_MIN:-2.3} > $R/base.log 2>&1 || { tail -30 $R/base.log; exit 1; }
grep '^{' $R/base.log | tail -3

echo "== final $(date +%T)"
$PY -m maskxai.train "${COMMON[@]}" "${FT[@]}" --out $R/final --init $R/base/best.safetensors > $R/final.log 2>&1 \
  || { tail -30 $R/final.log; exit 1; }
grep '^{' $R/final.log | tail -2
cp $R/final/best.safetensors "$OUT/final.safetensors" && (cd "$OUT" && split -b 15M final.safetensors final.part. && rm final.safetensors)
fi

echo "== kfold $(date +%T)"
timeout $(left ${BENCH_SECONDS:-80}) $PY -m maskxai.kfold --model "$MODEL" --folds 5 --out $R/kfold --base $R/base/best.safetensors \
  -- "${COMMON[@]:2}" "${FT[@]}" > $R/kfold.log 2>&1; echo "kfold rc $?"; tail -8 $R/kfold.log
[ -n "${ONLY_KFOLD:-}" ] && BENCH_RUNS=0
[ "${BENCH_RUNS:-1}" = 1 ] && echo "== bench $(date +%T)" && timeout $(left 8) $PY -m maskxai.bench --models inception_resnet_v1 resnet50 --no-app $BENCH --json \
  > "$OUT/bench.txt" 2>&1; echo "bench rc $?"; tail -c 600 "$OUT/bench.txt"
echo "== done $(date +%T)"
tar czf "$OUT/runs.tgz" --exclude='*.pt' --exclude='*.safetensors' $R
