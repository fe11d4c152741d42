#!/usr/bin/env bash
# Rebuilds the shipped demo model (checkpoints/demo/best.pt) with the project's own CLI, in three
# stages (deterministic data, seeded training), and with WITH_STARTER=1 the real-ground starter:
#   1. harvey: FPN / EfficientNet-Lite0 from ImageNet weights on 40 harvey-style photos (640x480,
#      seed 7), 40 epochs: ~12 minutes on 2 quiet CPU cores.
#   2. across styles: that model trained further (`train --init-from`, whole network) on 45 photos
#      cycling harvey, coastal, prairie (15 of each, seed 7), 12 epochs at a lower learning rate:
#      ~6 minutes on 2 quiet cores (the demo model until 2026-12-06).
#   3. real ground (the demo model since 2026-12-06): stage 2's model trained further on 90
#      synthetic photos of the three styles (seed 11) mixed with the 99 real 400x400 tiles of the
#      real benchmark's selection group of Dubai (bench/real/manifest.json, dense set
#      "dubai-selection": CC0 imagery, the only real source whose licence lets weights trained on
#      it ship), 18 epochs at 3e-4: ~40 minutes on one quiet core (OMP_NUM_THREADS=1). The real
#      tiles label building, road, water and bare land; their vegetation class is Grass,
#      Trees/Shrubs or Dense Vegetation in Harvey's scheme, so it is taught as "one of the three"
#      (a partial-label code, the dense set's partial_labels.json; the stage-2 model's beliefs
#      choose among them), and their unlabelled pixels are ignored (255), never taught as
#      background. Its familiarity reference (meta["uncertainty_reference"]) is taken from its
#      synthetic validation scenes only (`synth_*`). This is the fifth such try and the first to
#      pass the rule written before its figures (docs/benchmarks-analysis.md section 19): twice
#      the synthetic scenes of the fourth keep it sure of the scenes it was made for, so the
#      warning on unseen styles keeps its margin.
#   WITH_STARTER=1: the real-ground starter (checkpoints/starter/real-ground.pt), a further start
#      the fine-tune's start check tries (`TrainConfig.starter`; by default with one labelled
#      photo): stage 2's model on 45 synthetic photos (seed 11) and the same real tiles, 6 epochs
#      at 3e-4 (~7 minutes on one quiet core), stored in half precision
#      (scripts/half_checkpoint.py: 9.6 MB).
# The `forest` style and the real benchmark's report group are held out on purpose:
# docs/benchmarks-analysis.md sections 10 and 19 report the model on them (`python bench/labelling.py
# --demo-across-styles`, `python bench/real/run.py --unadapted`).
#
#   [WITH_STARTER=1] scripts/train_demo_model.sh [WORKDIR] [STAGE1_CHECKPOINT] [STAGE2_CHECKPOINT]
# A STAGE1_CHECKPOINT skips stage 1; a STAGE2_CHECKPOINT (the demo model of git history before
# 2026-12-06, SHA-256 6e7bf445...) skips stages 1 and 2. Stage 3 needs the Dubai source's snapshot
# (the assembly below names the command that brings it when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
stage1="${2:-}"
stage2="${3:-}"
python="${PYTHON:-.venv/bin/python}"
export STORMSEG_HOME="$work"
recipe=(--arch fpn --resolution 640 --crop 320 --batch-size 8 --early-stop-patience 0 --augment seed --seed 0)
latest() { echo "$(ls -td "$work"/checkpoints/*/ | head -1)best.pt"; }
if [ -z "$stage2" ]; then
  if [ -z "$stage1" ]; then
    "$python" -m seg_core demo-data --out "$work/harvey" --n 40 --size 640x480 --seed 7
    "$python" -m seg_core train --data "$work/harvey" --name demo-harvey "${recipe[@]}" \
      --epochs 40 --lr 3e-3 --warmup-epochs 1
    stage1=$(latest)
  fi
  "$python" -m seg_core demo-data --out "$work/styles" --n 45 --size 640x480 --seed 7 \
    --style harvey,coastal,prairie
  "$python" -m seg_core train --data "$work/styles" --name demo-styles "${recipe[@]}" \
    --epochs 12 --lr 5e-4 --warmup-epochs 0 --init-from "$stage1"
  stage2=$(latest)
fi
"$python" bench/real/assemble.py --dense-only --only dubai --out "$work/real"
# A mix of the real tiles and N synthetic photos (seed 11) in $2 (the folder name is what the app
# shows as the model's training data).
mix() {
  local n="$1" out="$work/$2"
  "$python" -m seg_core demo-data --out "$work/synthetic-$n" --n "$n" --size 640x480 --seed 11 \
    --style harvey,coastal,prairie
  mkdir -p "$out/images" "$out/masks"
  cp "$work/synthetic-$n"/train_images/* "$out/images/"
  cp "$work/synthetic-$n"/train_masks/* "$out/masks/"
  cp "$work"/real/dense/dubai-selection/images/* "$out/images/"
  cp "$work"/real/dense/dubai-selection/masks/* "$out/masks/"
  cp "$work"/real/dense/dubai-selection/partial_labels.json "$out/"
}
mix 90 synthetic-and-dubai-tiles
"$python" -m seg_core train --data "$work/synthetic-and-dubai-tiles" --name demo "${recipe[@]}" \
  --epochs 18 --lr 3e-4 --warmup-epochs 0 --init-from "$stage2"
best=$(latest)
"$python" scripts/add_uncertainty_reference.py "$best" --data "$work/synthetic-and-dubai-tiles" --only 'synth_*'
mkdir -p checkpoints/demo
cp "$best" checkpoints/demo/best.pt
echo "demo model: checkpoints/demo/best.pt (from $best)"
if [ "${WITH_STARTER:-0}" != 1 ]; then
  exit 0
fi
mix 45 synthetic-and-dubai-tiles-45
"$python" -m seg_core train --data "$work/synthetic-and-dubai-tiles-45" --name real-ground "${recipe[@]}" \
  --epochs 6 --lr 3e-4 --warmup-epochs 0 --init-from "$stage2"
best=$(latest)
"$python" scripts/add_uncertainty_reference.py "$best" --data "$work/synthetic-and-dubai-tiles-45" --only 'synth_*'
"$python" scripts/half_checkpoint.py "$best" checkpoints/starter/real-ground.pt
echo "real-ground starter: checkpoints/starter/real-ground.pt (from $best)"
