#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool): the shipped InceptionResnetV1 fine-tuned as a whole with
# photographed mask templates (maskxai.realmasks) and tight face crops taken whole (--reframe), its epoch chosen
# on validation only, Face Mask Detection's tight val crops among the sets that choose.
#
# Here, before the call (a call carries 64 MiB at most, the working tree included):
#   python scripts/pack_data.py --keep face-mask-12k=0.4 --quality face-mask-12k=65,maskedface-net=70   # 32 MB
#   python scripts/pack_weights.py pack checkpoints/inception_resnet_v1.safetensors .gpupack/init.pt    # 24 MB
#   pip wheel --no-deps -w .whl facenet-pytorch==2.5.3 grad-cam==1.5.7 ttach captum==0.9.0
#   (and checkpoints/*.safetensors moved aside and out of the index for the call: they do not fit beside)
# The call: run(command="bash scripts/device_finetune.sh", carry=[".gpupack", ".whl"]); the kept weights come
# back in $OUT split in 15 MB parts (cat ft.part.* > ft.safetensors), with the run's log.
# SMOKE=1 runs it with tiny sizes (on the CPU here too) to check it before spending GPU time.
# VIDEO=0.3 also sees that share of the draws as grayscale video frames (--video) and chooses the epoch with the
# val sets seen so too (--val-views video; three @video terms added to --select): the lever for the unseen video
# frames, which a 2-core CPU could not train far enough (README, "Video frames").
source "$(dirname "$0")/device_prelude.sh"
if [ -n "${SMOKE:-}" ]; then
  E=1 N=64 WORKERS=0 BATCH=16 BUDGET=5 EXTRA=(--no-bf16)
else
  E=${E:-8} N=${N:-18000} WORKERS=${WORKERS:-15} BATCH=64 BUDGET=${BUDGET:-6.8} EXTRA=()
fi
SELECT="maskedface-net:accuracy,face-mask-detection,face-mask-detection-tight,face-mask-12k,synthetic-real"
if [ -n "${VIDEO:-}" ]; then
  EXTRA+=(--video "$VIDEO" --val-views video)
  SELECT="$SELECT,maskedface-net@video:accuracy,face-mask-detection@video,synthetic-real@video"
fi
R=runs/device
mkdir -p $R
$PY scripts/pack_weights.py unpack .gpupack/init.pt $R/init.safetensors || exit 1
PLACE="correct=0.08,none=0.08,below_nose=0.04,chin=0.02,nose_mouth=0.02,real_correct=0.25,real_none=0.25"
PLACE="$PLACE,real_below_nose=0.12,real_chin=0.06,real_nose_mouth=0.04,real_hanging=0.04"
echo "== finetune $(date +%T)"
timeout $(left 25) $PY -m maskxai.train --model inception_resnet_v1 --data "$DATA" --landmarks "$LM" \
  --workers "$WORKERS" --batch-size "$BATCH" --init $R/init.safetensors --out $R/ft \
  --epochs "$E" --samples-per-epoch "$N" --lr ${LR:-0.0002} --warmup-steps 50 --reframe 0.35 \
  --placements "$PLACE" --mix "synthetic=0.3,face-mask-12k=0.08,maskedface-net=0.22,face-mask-detection=0.4" \
  --select "$SELECT" \
  --time-budget-min "$BUDGET" "${EXTRA[@]}" > $R/ft.log 2>&1; echo "train rc $?"
grep '^{' $R/ft.log | cut -c1-400
cp $R/ft/log.jsonl "$OUT/ft_log.jsonl"; tail -c 3000 $R/ft.log > "$OUT/ft_tail.txt"
[ -f $R/ft/best.safetensors ] && cp $R/ft/best.safetensors "$OUT/ft.safetensors" \
  && (cd "$OUT" && split -b 15M ft.safetensors ft.part. && rm ft.safetensors)
echo "== done $(date +%T)"; ls -la "$OUT"
