"""Label sets: training and fine-tuning take accepted masks only by default (rejected ones never),
the run records the set it used (photos, mask checksums, states) and trains on frozen copies, and
a set can be reproduced (exported) and compared with a later one."""

from __future__ import annotations

import json
import os

import pytest
from review_helpers import ANA, RITA, mask_of, put_in_state, storm

from seg_core.cli import main
from seg_core.datasets.discovery import validate_dataset
from seg_core.labelling import labelset
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.review import mask_sha256
from seg_core.models.checkpoint import load_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.services import labelsets
from seg_core.services import review as review_service
from seg_core.services.caller import Caller
from seg_core.training.config import TrainConfig
from seg_core.training.preflight import check_dataset

TINY = dict(
    arch="unet",
    encoder="none",
    weights="none",
    unet_base_width=4,
    resolution=48,
    crop=32,
    loss="ce",
    epochs=1,
    batch_size=2,
    val_ratio=0.0,
    warmup_epochs=0,
    early_stop_patience=0,
)


@pytest.fixture
def reviewed(tmp_path):
    """p0 came with the dataset, p1 accepted, p2 submitted, p3 rejected, p4 pre-labelled."""
    dataset = storm(tmp_path / "storm", n=5, with_masks=1)
    store = LabelStore(dataset)
    put_in_state(store, "p1", "accepted", author=ANA.user, reviewer=RITA.user)
    put_in_state(store, "p2", "submitted", author=ANA.user)
    put_in_state(store, "p3", "rejected", author=ANA.user)
    put_in_state(store, "p4", "pre-labelled")
    return dataset


def test_accepted_masks_only_by_default_and_rejected_ones_never(reviewed):
    pairs = validate_dataset(reviewed).pairs
    default = labelset.choose(reviewed, pairs, include_unreviewed=False)
    assert [(p.stem, p.state) for p in default.photos] == [("p0", "accepted"), ("p1", "accepted")]
    assert {i["stem"]: i["state"] for i in default.left_out} == {"p2": "submitted", "p3": "rejected"}
    wider = labelset.choose(reviewed, pairs, include_unreviewed=True)
    assert [p.stem for p in wider.photos] == ["p0", "p1", "p2"]  # p3 stays out
    assert default.photos[1].by == ANA.user and default.photos[1].reviewer == RITA.user
    assert default.photos[0].mask_sha256 == mask_sha256(reviewed / "train_masks" / "p0.png")


def test_the_same_labels_make_the_same_set_and_a_change_a_new_one(reviewed):
    pairs = validate_dataset(reviewed).pairs
    first = labelset.freeze(labelset.choose(reviewed, pairs, False))
    again = labelset.freeze(labelset.choose(reviewed, pairs, False))
    assert first.id == again.id and first.id.startswith("ls-")
    frozen = [pair.mask for pair in first.pairs()]
    assert all(path.is_file() and path.stem == mask_sha256(path) for path in frozen)
    review_service.accept(reviewed, "p2", Caller(RITA))
    later = labelset.freeze(labelset.choose(reviewed, validate_dataset(reviewed).pairs, False))
    assert later.id != first.id
    change = labelset.compare(first, later)
    assert change["added"] == ["p2"] and change["removed"] == [] and change["unchanged"] == 2
    assert [s.id for s in labelsets.saved(reviewed)] == [first.id, later.id]


def test_training_refuses_a_dataset_whose_masks_review_leaves_out(tmp_path):
    dataset = storm(tmp_path / "storm", n=3)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "submitted")
    put_in_state(store, "p1", "rejected")
    cfg = TrainConfig(data=str(dataset), **TINY)
    with pytest.raises(
        ValueError, match=r"no mask a training run may use \(1 rejected, 1 submitted\); accept"
    ):
        check_dataset(cfg)
    assert [p.stem for p in check_dataset(cfg.with_updates(include_unreviewed=True)).pairs] == ["p0"]


@pytest.mark.slow
def test_a_finetune_refuses_rejected_masks_and_records_its_label_set(tmp_path, capsys):
    from helpers import write_tiny_checkpoint

    parent = write_tiny_checkpoint(tmp_path / "parent" / "best.pt", resolution=48)
    dataset = storm(tmp_path / "storm", n=4)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "rejected")
    put_in_state(store, "p1", "submitted")
    command = ["finetune", "--parent", str(parent), "--data", str(dataset), "--epochs", "1", "--crop", "32"]
    assert main(command) == 2  # nothing accepted: refused before a run exists
    assert "no mask a training run may use (1 rejected, 1 submitted)" in capsys.readouterr().err
    assert RunRegistry().list() == []

    put_in_state(store, "p2", "accepted")
    put_in_state(store, "p3", "submitted")
    assert main([*command, "--include-unreviewed"]) == 0
    (run,) = RunRegistry().list()
    recorded = labelset.load(run.checkpoint_dir / labelset.RUN_RECORD)
    assert [(p.stem, p.state) for p in recorded.photos] == [
        ("p1", "submitted"),
        ("p2", "accepted"),
        ("p3", "submitted"),
    ]
    assert {i["stem"]: i["state"] for i in recorded.left_out} == {"p0": "rejected"}
    for photo in recorded.photos:
        assert photo.mask_sha256 == mask_sha256(store.mask_path(photo.stem))
    config = load_checkpoint(run.checkpoint_dir / "best.pt")["meta"]["config"]
    assert config["label_set"] == recorded.id and config["include_unreviewed"] is True
    assert any(recorded.id in row.message for row in RunRegistry().logs(run.id))
    assert labelsets.of_run(run.id).id == recorded.id  # what Runs shows: which labels made this model


@pytest.mark.slow
def test_a_run_trains_on_the_frozen_masks_and_can_be_reproduced(reviewed, tmp_path):
    from seg_core.training.loop import fit

    registry = RunRegistry()
    cfg = TrainConfig(data=str(reviewed), **TINY)
    run = registry.create_run(cfg.to_dict(), name="reviewed")
    assert fit(cfg, run.id, registry, run.checkpoint_dir) == "completed"
    recorded = labelsets.of_run(run.id)
    assert [p.stem for p in recorded.photos] == ["p0", "p1"] and recorded.frozen
    # Later edits of train_masks/ change neither the record nor its frozen masks.
    LabelStore(reviewed).save("p1", mask_of(9), "ben", LabelStore(reviewed).version("p1"))
    out = labelsets.export(recorded, tmp_path / "reproduced")
    report = validate_dataset(out)
    assert [p.stem for p in report.pairs] == ["p0", "p1"]
    for photo in recorded.photos:
        assert mask_sha256(out / "train_masks" / f"{photo.stem}.png") == photo.mask_sha256
    assert json.loads((out / labelset.RUN_RECORD).read_text())["id"] == recorded.id
    change = labelsets.compare(recorded, labelsets.current(reviewed))
    assert change["removed"] == ["p1"]  # ben's new save waits for review: no longer in a new set


def test_a_dataset_without_a_label_store_is_used_in_place_and_nothing_is_written_into_it(tmp_path):
    dataset = storm(tmp_path / "plain", n=2, with_masks=2)  # e.g. a published dataset, maybe read-only
    record = tmp_path / "run" / labelset.RUN_RECORD
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))
    used = labelset.for_run(dataset, validate_dataset(dataset).pairs, False, record)
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before
    assert not used.frozen and [p.state for p in used.photos] == ["accepted", "accepted"]
    assert [pair.mask for pair in used.pairs()] == [dataset / "train_masks" / f"p{i}.png" for i in range(2)]
    assert labelset.load(record).id == used.id


def test_a_resumed_run_reads_its_set_back_and_refuses_one_whose_masks_are_gone(reviewed, tmp_path):
    record = tmp_path / "run" / labelset.RUN_RECORD
    pairs = validate_dataset(reviewed).pairs
    first = labelset.for_run(reviewed, pairs, False, record)
    review_service.accept(reviewed, "p2", Caller(RITA))  # accepted after the run started
    assert labelset.for_run(reviewed, pairs, False, record, resume=True).id == first.id
    first.pairs()[0].mask.unlink()
    with pytest.raises(ValueError, match=r"the mask of p0 recorded in ls-\w+ is missing or changed"):
        labelset.for_run(reviewed, pairs, False, record, resume=True)


def test_an_unreadable_label_set_is_a_sentence(tmp_path):
    bad = tmp_path / "labelset.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the label set"):
        labelset.load(bad)
    bad.write_text(json.dumps({"id": "ls-x"}))
    with pytest.raises(ValueError, match="not a label set manifest"):
        labelset.load(bad)


def test_under_ddp_the_other_ranks_read_the_set_the_main_rank_froze(reviewed, tmp_path):
    record = tmp_path / "run" / labelset.RUN_RECORD
    pairs = validate_dataset(reviewed).pairs
    waited = []
    main_set = labelset.for_run(reviewed, pairs, False, record, barrier=lambda: waited.append("main"))
    review_service.accept(reviewed, "p2", Caller(RITA))  # a change between ranks cannot split them
    other = labelset.for_run(
        reviewed, pairs, False, record, is_main=False, barrier=lambda: waited.append("other")
    )
    assert other == main_set and waited == ["main", "other"]


@pytest.mark.slow
def test_ddp_two_processes_train_on_one_frozen_set(tmp_path, stormseg_home):
    import subprocess
    import sys

    from seg_core.core import paths

    dataset = storm(tmp_path / "storm", n=6, with_masks=6)
    (dataset / "classes.json").write_text('{"scheme": "harvey"}')  # its pool-heavy masks are Harvey's
    store = LabelStore(dataset)
    for stem in ("p4", "p5"):  # saved again by a person: they wait for review, left out
        store.save(stem, mask_of(2), "ana", store.version(stem))
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args += ["-m", "seg_core", "train", "--data", str(dataset), "--device", "cpu", "--weights", "none"]
    args += ["--arch", "unet", "--encoder", "none", "--unet-base-width", "4", "--resolution", "48"]
    args += ["--crop", "32", "--loss", "ce", "--epochs", "1", "--batch-size", "2", "--val-ratio", "0"]
    env = {**os.environ, "STORMSEG_HOME": str(stormseg_home), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run,) = RunRegistry().list()
    recorded = labelset.load(run.checkpoint_dir / labelset.RUN_RECORD)
    assert [p.stem for p in recorded.photos] == ["p0", "p1", "p2", "p3"] and recorded.frozen
    assert {i["stem"] for i in recorded.left_out} == {"p4", "p5"}
    records = sorted(stormseg_home.rglob(labelset.RUN_RECORD))
    assert len(records) == 1, records  # one record, written once by the main rank
