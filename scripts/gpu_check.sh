#!/usr/bin/env bash
# The CUDA-only checks of the training and inference engine, for the day a GPU is available
# (a few minutes on one GPU, nothing downloaded):
#   bash scripts/gpu_check.sh [WORKDIR]
# One line per check (PASS / FAIL / SKIP with its figures); exits non-zero if any check fails.
# Checks: a short training run with bf16 AMP and one with fp16 + GradScaler; a stop mid-epoch and
# a resume on the GPU (same step losses and weights as an uninterrupted run); a real CUDA
# out-of-memory retry (the process capped at 3x a 2-image step, then asked for batches of 16);
# the shipped model's Predictor on CUDA (BatchNorm folding accepted, masks equal to the CPU's on
# samples/); with 2+ GPUs, a 2-process torchrun NCCL run with SyncBatchNorm.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WORK=${1:-$(mktemp -d -t stormseg-gpu-check.XXXXXX)}
mkdir -p "$WORK"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "FAIL cuda: no CUDA GPU is visible to torch"
    exit 1
fi
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'GPU {p.name}, {p.total_memory / 2**30:.0f} GiB, compute {p.major}.{p.minor}, {torch.cuda.device_count()} visible, torch {torch.__version__}')"
if ! "$PY" -m seg_core demo-data --out "$WORK/data" --n 24 --size 400x300 > "$WORK/demo-data.log" 2>&1; then
    echo "FAIL data: could not write the synthetic dataset (see $WORK/demo-data.log)"
    exit 1
fi

status=0
for check in amp-bf16 amp-fp16 resume oom-retry predictor ddp-2gpu; do
    started=$SECONDS
    timeout 600 "$PY" scripts/gpu_check.py "$check" "$WORK" 2> "$WORK/$check.err"
    code=$?
    if [ $code -eq 124 ]; then
        echo "FAIL $check: timed out after 600 s"
    fi
    if [ $code -ne 0 ]; then
        status=1
        echo "     (stderr: $WORK/$check.err; last lines:)"
        tail -n 3 "$WORK/$check.err" | sed 's/^/     /'
    fi
    echo "     ($check took $((SECONDS - started)) s)"
done
exit $status
