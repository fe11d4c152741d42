"""Models by name: `demo` (the model shipped inside StormSeg) and every run, by its id or its name,
as Ultralytics resolves `yolov8n.pt`. The CLI's `--checkpoint`, `--model` and `--parent`, the
app's model pickers and `stormseg models` all read this one list, so a name that one offers the
others accept.

A path to an existing file always wins over a name; a name never reaches the file system except
through the run registry (run ids are validated there), so it cannot point outside the home.
Reading the list never creates the registry: `stormseg models` in an empty folder leaves it empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seg_core.core import paths
from seg_core.runs.registry import RunRecord, RunRegistry

DEMO_NAME = "demo"
DEMO_TITLE = "Demo model (synthetic floods + real ground)"
# Exported beside a run's best.pt by `export` from the Runs page (services/exports.py).
RUN_ONNX_NAME = "model.onnx"
# How many names an unknown-name error lists before pointing at `stormseg models`.
_NAMES_IN_ERROR = 8


@dataclass(frozen=True)
class NamedModel:
    """A model a user can name. `checkpoint` is a torch best.pt, `onnx` an exported model beside
    it; either may be None where that form does not exist."""

    id: str  # what always works: `demo` or the run id
    name: str  # the run's name (unique or not), or a title for the shipped model
    checkpoint: Path | None
    onnx: Path | None
    val_dice: float | None
    status: str  # shipped, or the run's status
    run: RunRecord | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "onnx": str(self.onnx) if self.onnx else None,
            "val_dice": self.val_dice,
            "status": self.status,
        }


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _runs(registry: RunRegistry | None) -> list[RunRecord]:
    if registry is None:
        db = paths.runs_dir() / "registry.db"
        if not db.is_file():
            return []
        registry = RunRegistry(db)
    return registry.list()


def named_models(registry: RunRegistry | None = None) -> list[NamedModel]:
    """The shipped demo model first, then every run with a best.pt or an exported model, best val
    Dice first (runs without a score last, newest first among them)."""
    found = []
    demo = _existing(paths.DEMO_CHECKPOINT)
    demo_onnx = _existing(paths.DEMO_CHECKPOINT.with_name(RUN_ONNX_NAME))
    if demo or demo_onnx:
        found.append(NamedModel(DEMO_NAME, DEMO_TITLE, demo, demo_onnx, None, "shipped"))
    runs = []
    for run in _runs(registry):
        best = _existing(run.checkpoint_dir / "best.pt")
        onnx = _existing(run.checkpoint_dir / RUN_ONNX_NAME)
        if best or onnx:
            runs.append(NamedModel(run.id, run.name, best, onnx, run.best_metric, run.status, run))
    runs.sort(key=lambda m: -(m.val_dice if m.val_dice is not None else -1))
    return found + runs


def _looks_like_a_path(text: str) -> bool:
    return "/" in text or "\\" in text or Path(text).suffix.lower() in (".pt", ".pth", ".onnx")


def _find(text: str, models: list[NamedModel]) -> NamedModel | None:
    by_id = [m for m in models if m.id == text]
    if by_id:
        return by_id[0]
    by_name = [m for m in models if m.run is not None and m.name == text]
    if len(by_name) > 1:
        ids = ", ".join(m.id for m in by_name)
        raise ValueError(f"{text}: {len(by_name)} runs have this name ({ids}); give one run id")
    return by_name[0] if by_name else None


def _nameable(models: list[NamedModel]) -> str:
    if not models:
        return "no model can be named here yet: train one, or give the path to a best.pt"
    labels = [m.id if m.run is None or m.name in ("", m.id) else f"{m.id} ({m.name})" for m in models]
    shown = ", ".join(labels[:_NAMES_IN_ERROR])
    more = len(labels) - _NAMES_IN_ERROR
    return f"models that can be named: {shown}" + (
        f" and {more} more (`stormseg models` lists them)" if more > 0 else ""
    )


def _resolve(text: str | Path, registry: RunRegistry | None) -> tuple[Path | None, NamedModel | None]:
    """(a path to hand to the loader as is, None) or (None, the named model)."""
    path = Path(text)
    if path.is_file() or _looks_like_a_path(str(text)):
        return path, None  # the loader's own sentence names a missing or damaged file
    models = named_models(registry)
    model = _find(str(text), models)
    if model is not None:
        return None, model
    if path.exists():
        return path, None  # a folder or a device: the loader says why it is not a model
    raise ValueError(f"{text}: no such file, and no model has this name; {_nameable(models)}")


def resolve_checkpoint(text: str | Path, registry: RunRegistry | None = None) -> Path:
    """The torch checkpoint `text` names: a path as is (the loader checks it), `demo` the shipped
    model, a run id or run name that run's best.pt.

    Raises:
        ValueError: one sentence starting with `text`; for an unknown name, what can be named.
    """
    path, model = _resolve(text, registry)
    if model is None:
        return path
    if model.checkpoint is None:
        raise ValueError(f"{text}: run {model.id} has no best.pt yet (it is {model.status})")
    return model.checkpoint


def resolve_onnx(text: str | Path, registry: RunRegistry | None = None) -> Path:
    """The exported ONNX model `text` names: a path as is, a run id or name (or `demo`) the
    model.onnx exported beside its best.pt.

    Raises:
        ValueError: one sentence, as `resolve_checkpoint`; a model not exported yet says how.
    """
    path, model = _resolve(text, registry)
    if model is None:
        return path
    if model.onnx is None:
        raise ValueError(
            f"{text}: {model.id} has not been exported to ONNX yet; run "
            f"`stormseg export --checkpoint {model.id} --out {model.id}.onnx` and pass that file"
        )
    return model.onnx
