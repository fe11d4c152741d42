"""Which model made a mask, and the record of it a map folder keeps (`model.json`), so the building
layer and the situation report made later from that folder name the model that made the map.

    model = ModelIdentity.from_meta(predictor.meta, "best.pt")
    write_model_identity(folder, model, predictor.scheme)
    model, scheme = read_model_identity(folder)     # "not recorded" and Harvey for older folders
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seg_core.schemes.scheme import BUILTIN, HARVEY, LabelScheme

MODEL_FILE = "model.json"


@dataclass(frozen=True)
class ModelIdentity:
    """Which model graded the buildings.

    Attributes:
        model_id: the training run id, else the model file's name.
        weights_sha256: the weights checksum the checkpoint records ("" when it records none).
        trained_on: what the model learnt from, in words (dataset folder and scheme).
    """

    model_id: str
    weights_sha256: str = ""
    trained_on: str = ""

    @classmethod
    def from_meta(cls, meta: dict, fallback_name: str = "unknown model") -> ModelIdentity:
        config = meta.get("config") or {}
        data = str(config.get("data") or "").rstrip("/").rsplit("/", 1)[-1]
        scheme = meta.get("scheme")
        scheme_name = scheme.get("name") if isinstance(scheme, dict) else scheme
        trained = ", ".join(
            p for p in (data and f"dataset '{data}'", f"scheme {scheme_name or 'harvey'}") if p
        )
        return cls(str(meta.get("run_id") or fallback_name), str(meta.get("weights_sha256") or ""), trained)


def write_model_identity(folder: str | Path, model: ModelIdentity, scheme: LabelScheme | None) -> None:
    """`model.json` in `folder`: the model's id, weights checksum, training data and scheme name."""
    payload = {
        "model_id": model.model_id,
        "weights_sha256": model.weights_sha256,
        "trained_on": model.trained_on,
        "scheme": (scheme or HARVEY).name,
    }
    path = Path(folder) / MODEL_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(path)


def read_model_identity(folder: str | Path) -> tuple[ModelIdentity, LabelScheme]:
    """The model and scheme a map folder records; "not recorded" and Harvey when it has none."""
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        return ModelIdentity("not recorded in the map folder"), HARVEY
    values = json.loads(path.read_text())
    scheme = BUILTIN.get(str(values.get("scheme", "")).lower(), HARVEY)
    return ModelIdentity(
        values["model_id"], values.get("weights_sha256", ""), values.get("trained_on", "")
    ), scheme
