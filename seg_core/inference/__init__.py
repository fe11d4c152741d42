"""Checkpoint to mask: the Predictor, per-image statistics, overlays and exported files."""
