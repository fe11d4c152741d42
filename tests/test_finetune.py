"""Fine-tuning: a run starts from a whole parent checkpoint and records its lineage."""

from __future__ import annotations

import pytest
import torch
from helpers import write_tiny_checkpoint

from seg_core.datasets.discovery import validate_dataset
from seg_core.models import create_model
from seg_core.models.checkpoint import load_checkpoint, save_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.schemes.scheme import HARVEY
from seg_core.training.config import TrainConfig
from seg_core.training.finetune import finetune_config, init_from_parent
from seg_core.training.loop import fit, model_spec

TINY = dict(arch="unet", encoder="none", weights="none", unet_base_width=4, resolution=48, loss="ce")


@pytest.fixture
def parent(tmp_path):
    """A parent checkpoint as training writes it (built directly: no need to train one here)."""
    run_id = "20261129-000000-parent-abcd"
    path = write_tiny_checkpoint(
        tmp_path / "parent" / "best.pt", 48, config=TrainConfig(**TINY).to_dict(), run_id=run_id
    )
    return run_id, path


@pytest.mark.slow
def test_a_finetuned_run_starts_from_the_parent_weights_and_records_its_lineage(parent, tiny_dataset):
    parent_id, parent_path = parent
    parent_meta = load_checkpoint(parent_path)["meta"]
    cfg = finetune_config(parent_path, tiny_dataset, epochs=1, crop=32, loss="ce")
    assert (cfg.arch, cfg.resolution, cfg.val_ratio) == ("unet", 48, 0.0)
    assert (cfg.parent_run_id, cfg.parent_weights_sha256) == (parent_id, parent_meta["weights_sha256"])

    model = create_model(model_spec(cfg), load_weights=False)
    pairs = validate_dataset(tiny_dataset).pairs
    init_from_parent(model, cfg, resume=False, log=lambda _m: None, scheme=HARVEY, pairs=pairs)
    parent_state = load_checkpoint(parent_path)["state_dict"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, parent_state[name]), name

    registry = RunRegistry()
    child = registry.create_run(cfg.to_dict(), name="child")
    assert fit(cfg, child.id, registry, child.checkpoint_dir) == "completed"
    saved = load_checkpoint(child.checkpoint_dir / "best.pt")["meta"]["config"]
    assert saved["parent_run_id"] == parent_id
    assert saved["parent_weights_sha256"] == parent_meta["weights_sha256"]
    assert registry.get(child.id).config["parent_run_id"] == parent_id
    assert any("fine-tuning from" in row.message for row in registry.logs(child.id))


def test_train_init_from_alone_fills_in_the_parent_identity(parent, tiny_dataset):
    parent_id, parent_path = parent
    cfg = TrainConfig(data=str(tiny_dataset), init_from=str(parent_path), **TINY)
    model = create_model(model_spec(cfg), load_weights=False)
    filled = init_from_parent(model, cfg, resume=False, log=lambda _m: None, scheme=HARVEY, pairs=[])
    assert filled.parent_run_id == parent_id and len(filled.parent_weights_sha256) == 64


def test_a_changed_parent_or_another_architecture_is_refused(parent, tiny_dataset):
    _, parent_path = parent
    cfg = finetune_config(parent_path, tiny_dataset)
    payload = load_checkpoint(parent_path)
    payload["state_dict"] = {
        k: v + 1 if v.is_floating_point() else v for k, v in payload["state_dict"].items()
    }
    save_checkpoint(payload, parent_path)  # retrained after the fine-tune was queued
    model = create_model(model_spec(cfg), load_weights=False)
    with pytest.raises(ValueError, match="the parent checkpoint changed since"):
        init_from_parent(model, cfg, resume=False, log=lambda _m: None, scheme=HARVEY, pairs=[])
    other = TrainConfig(data=str(tiny_dataset), init_from=str(parent_path), arch="fpn", encoder="resnet18")
    with pytest.raises(ValueError, match="is a unet/none model; this run builds fpn/resnet18"):
        init_from_parent(model, other, resume=False, log=lambda _m: None, scheme=HARVEY, pairs=[])
