# Sourced by the scripts/device_*.sh calls: a deadline, the wheels, the data unpacked, the landmark cache's keys
# moved to where the data now are. Sets START, left(), OUT, PY, DATA, LM.
set -u
START=$(date +%s)
DEADLINE=${DEADLINE:-555}  # seconds after START by which everything is written to $OUT (the call's limit: 600)
left() { echo $((START + DEADLINE - $(date +%s) - ${1:-0})); }
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
OUT=${OUT:-runs/device_out}
mkdir -p "$OUT"
PY=${PY:-python3}
if [ -d .whl ] && [ -z "${SMOKE:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
DATA=$PWD/.gpupack/data
[ -d "$DATA" ] || tar xzf .gpupack/data.tgz -C .gpupack || exit 1  # one archive travels: the limit counts disk blocks
LM=$PWD/.gpupack/landmarks.json
$PY - "$DATA" "$LM" <<'EOF' || exit 1
import json, sys
from pathlib import Path
data, lm = sys.argv[1], Path(sys.argv[2])
src = json.loads((Path(data).parent / "landmarks_src.json").read_text())
lm.write_text(json.dumps({k.replace(src["root"], data): v for k, v in src["landmarks"].items()}))
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available() and torch.cuda.get_device_name(), flush=True)
EOF
nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null
