#!/usr/bin/env bash
# Rebuilds the shipped demo model (checkpoints/demo/best.pt) from synthetic data with the
# project's own CLI. ~12 minutes on 2 CPU cores. Deterministic data; training is seeded.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
export STORMSEG_HOME="$work"
.venv/bin/python -m seg_core demo-data --out "$work/demo" --n 40 --size 640x480 --seed 7
.venv/bin/python -m seg_core train --data "$work/demo" --name demo --arch fpn --epochs 40 --resolution 640 --crop 320 \
  --batch-size 8 --lr 3e-3 --warmup-epochs 1 --early-stop-patience 0 --augment seed --seed 0
best=$(ls -td "$work"/checkpoints/*/ | head -1)best.pt
mkdir -p checkpoints/demo
cp "$best" checkpoints/demo/best.pt
echo "demo model: checkpoints/demo/best.pt (from $best)"
