"""What the app offers, as plain data: the machine, datasets under the data root, models to
segment with, sample photos. Nothing here imports streamlit."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from seg_core.core import paths
from seg_core.datasets.discovery import LAYOUTS
from seg_core.imagery.imageio import IMAGE_SUFFIXES
from seg_core.runs.registry import RunRegistry, validate_run_id
from seg_core.services.caller import Caller
from seg_core.services.models import named_models

SAMPLES_DIR = paths.SAMPLES_DIR
# The sample photos' ground sampling distance: 1600 px across the 120 m a Harvey frame covers
# (samples/README.md); filled in when they are used, so their areas come out in m².
SAMPLE_GSD_CM = 7.5
DEMO_DATASET_NAME = "demo"
DEMO_LABELLED, DEMO_TEST = 24, 6  # the demo dataset's scenes with masks, and its test scenes without


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # folder name under the data root
    path: Path
    layout: str  # a `datasets.discovery.LAYOUTS` key: harvey, generic, splits (FloodNet/RescueNet), ...
    images: int  # files in the image folder (not validated)


@dataclass(frozen=True)
class ModelChoice:
    label: str  # what the picker shows
    path: Path  # a best.pt, or an exported .onnx (run by ONNX Runtime, without torch)
    run_id: str | None
    val_dice: float | None

    @property
    def id(self) -> str:
        """Stable across pages and sessions: the run id, "demo" for the shipped model, else the
        exported file's path."""
        if self.run_id:
            return self.run_id
        return "demo" if self.path == paths.DEMO_CHECKPOINT else str(self.path)


def device_summary() -> dict:
    """The compute StormSeg will use, e.g. {'device': 'cpu', 'name': '2 CPU cores'}."""
    import torch

    if torch.cuda.is_available():
        return {"device": "cuda", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return {"device": "mps", "name": "Apple GPU (MPS)", "count": 1}
    return {"device": "cpu", "name": f"{os.cpu_count()} CPU cores", "count": 0}


def list_datasets(root: Path | None = None) -> list[DatasetInfo]:
    """Dataset folders directly under the data root (any layout `datasets.discovery` reads)."""
    root = (root or paths.data_root()).resolve()
    found = []
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for layout, (image_dir, _masks, _test) in LAYOUTS.items():
            if (folder / image_dir).is_dir():
                count = sum(
                    1
                    for f in (folder / image_dir).iterdir()
                    if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                )
                found.append(DatasetInfo(folder.name, folder, layout, count))
                break
    return found


def resolve_dataset(name: str, root: Path | None = None) -> Path:
    """A dataset folder by name, refusing anything that would leave the data root."""
    root = (root or paths.data_root()).resolve()
    candidate = (root / name).resolve()
    if not name or "/" in name or "\\" in name or name.startswith(".") or candidate.parent != root:
        raise ValueError(f"dataset name {name!r} must be a folder directly under the data root {root}")
    if not candidate.is_dir():
        raise ValueError(f"no dataset folder {name!r} under {root}")
    return candidate


def torch_installed() -> bool:
    """False on a field install (requirements-field.txt): only exported ONNX models can run there."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _checkpoint_choices(registry: RunRegistry | None) -> list[ModelChoice]:
    """The torch models `stormseg models` names, in its order (one list: services/models)."""
    choices = []
    for model in named_models(registry or RunRegistry()):
        if model.checkpoint is None:
            continue
        if model.run is None:
            choices.append(ModelChoice(model.name, model.checkpoint, None, None))
            continue
        run = model.run
        dice = f" · val Dice {run.best_metric:.3f}" if run.best_metric is not None else ""
        label = f"{run.name or run.id} · {run.config.get('arch')}{dice} · {run.status}"
        choices.append(ModelChoice(label, model.checkpoint, run.id, run.best_metric))
    return choices


def list_models(registry: RunRegistry | None = None) -> list[ModelChoice]:
    """The shipped demo model first, then every run's best.pt, best val Dice first, then exported
    ONNX models (only these without torch)."""
    choices = _checkpoint_choices(registry) if torch_installed() else []
    folders = [
        paths.DEMO_CHECKPOINT.parent,
        *sorted(p for p in paths.checkpoints_dir().glob("*") if p.is_dir()),
    ]
    for folder in dict.fromkeys(folders):
        for onnx in sorted(folder.glob("*.onnx")):
            choices.append(ModelChoice(f"{folder.name}/{onnx.name} · ONNX Runtime", onnx, None, None))
    return choices


def model_path_for_run(run_id: str) -> Path:
    """best.pt of a run, by validated id (never a user-supplied path)."""
    return paths.checkpoints_dir() / validate_run_id(run_id) / "best.pt"


def checkpoint_summary(path: Path) -> dict:
    """Metadata of a checkpoint or exported ONNX model for display (architecture, resolution,
    metrics, training data)."""
    if path.suffix.lower() == ".onnx":
        from seg_core.inference.onnx_predictor import read_model_metadata

        load = read_model_metadata
    else:
        from seg_core.models.checkpoint import load_checkpoint

        def load(p):
            return load_checkpoint(p)["meta"]

    try:
        meta = load(path)
    except ValueError as exc:  # CheckpointError, OnnxModelError: the message names the file
        return {"error": str(exc)}
    config = meta.get("config", {})
    return {
        "arch": meta["arch"],
        "encoder": meta["encoder"],
        "resolution": meta["resolution"],
        "epoch": meta.get("epoch"),
        "metrics": meta.get("metrics", {}),
        "data": config.get("data"),
        "run_id": meta.get("run_id"),
    }


def sample_photos() -> list[Path]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif"))


def create_demo_dataset(progress=None, caller: Caller | None = None) -> Path:
    """Draw the demo dataset (DEMO_LABELLED scenes with masks and DEMO_TEST test scenes without,
    640x480) under the data root, for analysts and admins (`caller` None: the owner). `progress`
    counts all the scenes. Returns its folder."""
    from seg_core.demo.synth import write_demo_dataset

    folder = paths.data_root() / DEMO_DATASET_NAME
    (caller or Caller()).authorize("dataset.create", target=str(folder))
    write_demo_dataset(folder, n=DEMO_LABELLED, n_test=DEMO_TEST, size=(640, 480), progress=progress)
    return folder


def delete_dataset(name: str, caller: Caller | None = None) -> Path:
    """Remove a dataset folder under the data root, for admins (`caller` None: the owner).

    Refuses a name that leaves the data root (links included) and a dataset that a queued or
    running run trains on. Returns the removed folder.
    """
    caller = (caller or Caller()).opened()
    caller.authorize("dataset.delete", target=name)
    folder = resolve_dataset(name)
    users = [r for r in caller.runs.active() if Path(str(r.config.get("data", ""))).resolve() == folder]
    if users:
        raise ValueError(
            f"dataset {name!r} is used by run {users[0].name} ({users[0].id}), which is {users[0].status}; "
            "stop it (or take it out of the queue) before deleting the dataset"
        )
    shutil.rmtree(folder)
    return folder
