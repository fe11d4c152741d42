"""Add the familiarity reference to a checkpoint trained before runs stored one, weights untouched.

    .venv/bin/python scripts/add_uncertainty_reference.py [CHECKPOINT] [--data FOLDER] [--only GLOB]

Training now stores, in `meta["uncertainty_reference"]`, the per-photo uncertainty of the model
on its own validation photos (`seg_core.analytics.familiarity`). For a checkpoint that predates
that, this script rebuilds its validation photos exactly (by default the synthetic data of the
last stage of `scripts/train_demo_model.sh`: `demo-data --n 45 --size 640x480 --seed 7 --style
harvey,coastal,prairie`, split with the checkpoint's own `val_ratio` and `seed` by `split_pairs`,
as training did), predicts them, and rewrites the checkpoint atomically with the reference added.
(The shipped demo model no longer needs it: its training stored the reference.) The weights and their checksum
(`meta["weights_sha256"]`) do not change; the script checks that before it replaces the file.
Deterministic: the same data and weights give the same reference. `--only GLOB` keeps the
validation photos whose file name matches: the demo model's stage 3 takes its reference from its
synthetic validation scenes only (`synth_*`), so that real ground it was taught from does not make
every real photo "familiar" (docs/benchmarks-analysis.md section 19).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The demo model's data, as the last stage of scripts/train_demo_model.sh generates it.
DEMO_DATA = {"n": 45, "size": (640, 480), "seed": 7, "style": ("harvey", "coastal", "prairie")}


def validation_photos(checkpoint_meta: dict, data: Path, only: str = "*") -> list[Path]:
    """The photos training held out for validation (the same seeded split by stem) whose file
    name matches `only`."""
    from seg_core.datasets.discovery import split_pairs, validate_dataset

    config = checkpoint_meta.get("config") or {}
    report = validate_dataset(data)
    _, val = split_pairs(report.pairs, float(config.get("val_ratio", 0.15)), int(config.get("seed", 0)))
    photos = [pair.image for pair in val if fnmatch.fnmatch(pair.image.name, only)]
    if not photos:
        raise ValueError(f"{data}: the checkpoint's split leaves no validation photos matching {only!r}")
    return photos


def add_reference(checkpoint: Path, data: Path, only: str = "*") -> dict:
    """Compute the reference on `data`'s validation photos (those matching `only`) and store it
    in `checkpoint`."""
    from seg_core.analytics.familiarity import uncertainty_reference
    from seg_core.analytics.uncertainty import photo_uncertainty
    from seg_core.inference.predictor import Predictor
    from seg_core.models.checkpoint import load_checkpoint, save_checkpoint, weights_digest

    payload = load_checkpoint(checkpoint)
    before = weights_digest(payload["state_dict"])
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    photos = []
    for path in validation_photos(payload["meta"], data, only):
        result = predictor.predict_full(path, confidence=True)
        photos.append(photo_uncertainty(result.mask, result.confidence, predictor.scheme))
    if only == "*":
        reference = uncertainty_reference(photos)
    else:
        reference = {**uncertainty_reference(photos, "validation_subset"), "photos_matching": only}
    payload["meta"] = {**payload["meta"], "uncertainty_reference": reference}
    if weights_digest(payload["state_dict"]) != before:  # never: nothing above writes weights
        raise RuntimeError("weights changed while computing the reference; checkpoint left as it was")
    save_checkpoint(payload, checkpoint)
    return reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=str(ROOT / "checkpoints" / "demo" / "best.pt"))
    parser.add_argument(
        "--data", help="the training data folder (default: regenerate the demo model's synthetic data)"
    )
    parser.add_argument(
        "--only", default="*", help="only validation photos whose file name matches this glob"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stormseg-reference-") as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "demo"
        if not args.data:
            from seg_core.demo.synth import write_demo_dataset

            write_demo_dataset(data, **DEMO_DATA)
        try:
            reference = add_reference(Path(args.checkpoint), data, args.only)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"{args.checkpoint}: uncertainty reference from {reference['photos']} validation photo(s):")
    for figure in ("mean", "uncertain_share"):
        values = reference[figure]
        print(f"  {figure}: median {values['median']:.4f}, p95 {values['p95']:.4f}, max {values['max']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
