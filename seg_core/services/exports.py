"""A run's model as a verified ONNX file, for the Runs page's download (no Streamlit here).

The export is written next to the run's best.pt as `model.onnx`, so the Segment page's model
picker offers it too; it counts as current while it is newer than best.pt.
"""

from __future__ import annotations

from pathlib import Path

from seg_core.services.catalog import model_path_for_run


def onnx_path(run_id: str) -> Path:
    return model_path_for_run(run_id).with_name("model.onnx")


def current_export(run_id: str) -> Path | None:
    """The run's model.onnx if it was exported from its present best.pt, else None."""
    onnx, best = onnx_path(run_id), model_path_for_run(run_id)
    try:
        return onnx if onnx.stat().st_mtime_ns >= best.stat().st_mtime_ns else None
    except OSError:  # not exported yet, or the run's checkpoint is gone
        return None


def export_run(run_id: str):
    """Export and verify the run's best.pt (about a minute on 2 cores); returns the ExportReport.

    Raises:
        ValueError: no best.pt yet, or the export failed its verification (the message says why).
    """
    from seg_core.inference.export import export_onnx

    best = model_path_for_run(run_id)
    if not best.is_file():
        raise ValueError(f"run {run_id} has no best.pt yet: a model appears after its first finished epoch")
    return export_onnx(best, onnx_path(run_id))
