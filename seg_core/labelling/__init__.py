"""Labelling: a dataset's label store (status, drafts, conflict-safe saves) and the mask-editing tools (fill, brush, superpixels, undo)."""
