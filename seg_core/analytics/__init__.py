"""Per-photo figures from a mask and its scores: statistics, uncertainty, familiarity, overlays and their files."""
