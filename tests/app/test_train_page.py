"""The Train page: the form submits (started, then queued), bad settings give a sentence, presets
fill the form, the study queues four runs, and the run view shows how a run ended.

The training process is replaced by a `sleep` process (run_queue.launch is monkeypatched; AppTest runs
the script in this process), so a "running" run is real enough for the registry's liveness checks.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_every_control import settings, trouble

from seg_core.core import paths
from seg_core.runs.registry import RunRegistry
from seg_core.training import queue as run_queue
from seg_core.training import study
from ui import train_form

APP = Path(__file__).resolve().parents[2] / "app.py"


def train_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/train.py").run()


@pytest.fixture
def dataset(tiny_dataset) -> Path:
    target = paths.data_root() / "tiny"
    shutil.copytree(tiny_dataset, target)
    return target


@pytest.fixture
def fake_launch(monkeypatch):
    """run_queue.launch that starts `sleep` instead of training and records it as the run's process."""
    processes: list[subprocess.Popen] = []

    def launch(run_id, registry, extra_args=(), **_):
        registry.reset_for_launch(run_id)
        process = subprocess.Popen(["sleep", "120"])
        processes.append(process)
        registry.mark_running(run_id, process.pid, "cpu")
        return process.pid

    monkeypatch.setattr(run_queue, "launch", launch)
    monkeypatch.setattr(study, "imagenet_weights_available", lambda encoder: False)  # offline, fast
    train_form.imagenet_reachable.clear()  # the page caches the answer; each test sets its own
    yield processes
    for process in processes:
        process.kill()
        process.wait()


def set_small_unet(at: AppTest) -> None:
    at.selectbox(key="train_form_arch").set_value("unet").run()
    at.number_input(key="train_form_unet_base_width").set_value(8)
    at.number_input(key="train_form_epochs").set_value(2)
    at.number_input(key="train_form_crop").set_value(0)
    at.number_input(key="train_form_resolution").set_value(64)


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def runs_named(registry: RunRegistry, part: str) -> list:
    return [r for r in registry.list() if part in r.name]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_without_datasets_or_runs_it_says_how_to_get_data():
    at = train_page()
    assert not at.exception
    assert at.title[0].value == "Train"
    info = texts(at.info)
    assert "Generate demo dataset" in info and str(paths.data_root()) in info
    assert "No runs yet" in texts(at.caption)


def test_start_runs_then_queues_and_ignores_a_double_click(dataset, fake_launch):
    at = train_page()
    assert at.selectbox(key="train_form_dataset").value == "tiny"
    set_small_unet(at)
    at.text_input(key="train_form_name").set_value("first")
    click(at, "Start training")
    assert not at.exception
    assert "Started run" in texts(at.success)
    registry = RunRegistry()
    [run] = registry.list()
    assert run.status == "running" and run.name == "first"
    assert run.config["arch"] == "unet" and run.config["unet_base_width"] == 8 and run.config["epochs"] == 2
    assert run.config["encoder"] == "none" and run.config["weights"] == "none"
    assert Path(run.config["data"]) == dataset.resolve()
    assert "first" in texts(at.markdown)  # the live view follows the new run
    assert "Training on cpu" in texts(at.info)

    at.text_input(key="train_form_name").set_value("second")
    click(at, "Start training")
    assert "Queued run" in texts(at.info) and "(position 1 behind first)" in texts(at.info)
    click(at, "Start training")  # same settings again at once: a double click
    assert "double click ignored" in texts(at.info)
    assert sorted(r.status for r in registry.list()) == ["queued", "running"]


def test_an_invalid_setting_is_a_sentence_not_an_exception(dataset, fake_launch):
    at = train_page()
    at.number_input(key="train_form_crop").set_value(100)
    click(at, "Start training")
    assert not at.exception
    assert "crop 100 must be a multiple of 32" in texts(at.error)
    at.number_input(key="train_form_crop").set_value(128)
    at.selectbox(key="train_form_weights").set_value("imagenet-offline")
    at.selectbox(key="train_form_encoder").set_value("resnet18")
    click(at, "Start training")
    assert "imagenet-offline" in texts(at.error) and "resnet18" in texts(at.error)
    assert RunRegistry().list() == []


def test_every_setting_at_its_ends_starts_a_run_or_says_why(dataset, fake_launch, monkeypatch):
    """Each number at its least and its most, each text empty or odd (test_every_control.settings),
    then Start training: a run is started or queued, or an error sentence says why; never a bug."""
    from seg_core.core import memory

    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 24 * 10**9)  # this machine's, anywhere
    names = [name for name, _, _ in settings(train_page())]
    assert len(names) > 30  # the form's settings were found
    refused = []
    for position, name in enumerate(names):
        runs_before = len(RunRegistry().list())
        at = train_page()
        found, element, value = settings(at)[position]
        assert found == name
        element.set_value(value)
        click(at.run(), "Start training")
        assert not trouble(at), f"{name}: {trouble(at)}"
        if len(RunRegistry().list()) == runs_before:
            assert at.error, f"{name}: no run and no sentence"
            refused.append(name)
    # what the preflight refuses here: a batch larger than the training split (5 of the 6 photos; 1 at
    # 0.9), and 4 crops of 8192 px, which need about 850 GB
    assert refused == ["Batch size = 4000", "Crop (px) = 8192.0", "Validation share = 0.9"]


def test_a_preset_fills_the_form_and_the_study_queues_four_runs(dataset, fake_launch):
    at = train_page()
    at.selectbox(key="train_form_preset").set_value("U-Net + Adam").run()
    assert at.selectbox(key="train_form_arch").value == "unet"
    assert at.selectbox(key="train_form_optimizer").value == "adam"
    assert at.number_input(key="train_form_lr").value == pytest.approx(5e-4)
    assert at.number_input(key="train_form_epochs").value == 20
    assert at.selectbox(key="train_form_augment").value == "none"

    at.number_input(key="train_form_resolution").set_value(64)
    click(at, "Queue the whole study (4 runs)")
    assert not at.exception
    message = texts(at.success)
    assert message.count("Queued run") == 3 and "Started run" in message
    assert study.NO_IMAGENET_NOTICE in message
    deeplab = runs_named(RunRegistry(), "DeepLabV3+")
    assert {r.config["weights"] for r in deeplab} == {"none"}
    runs = RunRegistry().list()
    assert sorted(r.status for r in runs) == ["queued", "queued", "queued", "running"]
    assert {r.config["resolution"] for r in runs} == {64}
    assert {r.config["epochs"] for r in runs} == {20, 30, 60}


def test_where_imagenet_can_be_had_the_study_uses_it_and_says_nothing(dataset, fake_launch, monkeypatch):
    from seg_core.models import weights
    from seg_core.training import preflight

    monkeypatch.setattr(study, "imagenet_weights_available", lambda encoder: True)
    # ...and cached, as the preflight asks before queuing (the network is built without them).
    monkeypatch.setattr(preflight, "smp_weights_cached", lambda encoder: True)
    monkeypatch.setattr(weights, "hub_weights_obtainable", lambda encoder: True)
    at = train_page()
    at.number_input(key="train_form_resolution").set_value(64)
    click(at, "Queue the whole study (4 runs)")
    assert not at.exception
    assert study.NO_IMAGENET_NOTICE not in texts(at.success)
    deeplab = runs_named(RunRegistry(), "DeepLabV3+")
    assert len(deeplab) == 2 and {r.config["weights"] for r in deeplab} == {"imagenet"}
    assert not any("no ImageNet" in r.name for r in deeplab)


def test_the_run_view_shows_how_the_latest_run_ended():
    registry = RunRegistry()
    run = registry.create_run(
        {"arch": "unet", "epochs": 3, "optimizer": "adam", "augment": "none"}, name="crashy"
    )
    registry.log_metrics(
        run.id, [(4, 1, "train", "loss", 1.5), (4, 1, "val", "loss", 1.6), (4, 1, "val", "dice", 0.31)]
    )
    registry.set_epochs_done(run.id, 1)
    registry.set_best(run.id, 0.31, 1)
    registry.log(run.id, "epoch 1/3: train_loss 1.5000")
    registry.finish(run.id, "failed", "CUDA out of memory")
    at = train_page()
    assert not at.exception
    assert "Failed after 1 of 3 epochs: CUDA out of memory" in texts(at.error)
    assert "Best val Dice 0.310 (epoch 1)" in texts(at.error)
    assert any(m.label == "Latest val Dice" and m.value == "0.310" for m in at.metric)
    assert "epoch 1/3: train_loss 1.5000" in texts(at.code)
    assert not [b for b in at.button if b.label == "Stop"]  # nothing to stop


def test_fine_tune_on_my_labels_queues_a_run_that_records_its_parent(dataset, fake_launch):
    from seg_core.models.checkpoint import load_checkpoint

    at = train_page()
    assert next(s for s in at.selectbox if s.label == "Model to fine-tune").value == "demo"
    assert next(s for s in at.selectbox if s.label == "Dataset with the saved masks").value == "tiny"
    at.button(key="train_finetune_tiny").click().run()
    assert not at.exception and not at.error
    [run] = RunRegistry().list()
    parent = load_checkpoint(paths.DEMO_CHECKPOINT)["meta"]
    assert run.config["parent_run_id"] == parent["run_id"]
    assert run.config["parent_weights_sha256"] == parent["weights_sha256"]
    assert run.config["data"] == str(dataset) and run.config["val_ratio"] == 0.0
    assert run.name in texts(at.success)


def test_fine_tune_without_saved_masks_says_so(fake_launch):
    from helpers import make_pair

    _, mask = make_pair(paths.data_root() / "fresh", "img0")  # new photos: nothing labelled yet
    mask.unlink()
    at = train_page()
    assert not at.exception
    assert at.button(key="train_finetune_fresh").disabled  # nothing to train on: offered, not clickable
    assert any("Trains on accepted masks: 0 accepted" in c.value for c in at.caption)
    assert RunRegistry().list() == []


def test_fine_tune_offers_the_dataset_being_labelled_not_the_forms(dataset, fake_launch):
    from helpers import make_pairs

    make_pairs(paths.data_root() / "zz-being-labelled", 2)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["label_dataset_name"] = "zz-being-labelled"  # what the Label page's picker holds
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="train_form_dataset").value == "tiny"  # the form's own choice
    assert (
        next(s for s in at.selectbox if s.label == "Dataset with the saved masks").value
        == "zz-being-labelled"
    )
    at.button(key="train_finetune_zz-being-labelled").click().run()
    [run] = RunRegistry().list()
    assert run.config["data"] == str(paths.data_root() / "zz-being-labelled")


def test_a_finished_run_without_validation_says_so_and_counts_its_epochs():
    registry = RunRegistry()
    run = registry.create_run(
        {"arch": "unet", "epochs": 20, "optimizer": "adamw", "augment": "seed", "val_ratio": 0.0}, name="ft"
    )
    # One step per epoch (4 photos, batch 4); the registry's count moves at checkpoints (every 10).
    rows = []
    for epoch in range(1, 21):
        rows += [
            (epoch, epoch, "train", "loss_step", 1.0 / epoch),
            (epoch, epoch, "train", "loss", 1.0 / epoch),
        ]
    registry.log_metrics(run.id, rows)
    registry.set_epochs_done(run.id, 10)
    registry.finish(run.id, "stopped")
    at = train_page()
    assert not at.exception
    assert any(m.label == "Epochs done" and m.value == "20 / 20" for m in at.metric)
    captions = texts(at.caption)
    assert "No validation scores: this run has no validation split" in captions
    assert "appear after the first epoch" not in captions
    assert "One training step per epoch: the loss per step is the loss per epoch" in captions
    assert len(at.get("plotly_chart")) == 1  # the loss per epoch, not the same curve twice


def test_a_kept_fine_tune_click_never_acts_on_another_dataset(dataset, fake_launch):
    from helpers import make_pairs

    make_pairs(paths.data_root() / "zz-other", 2)
    at = train_page()
    at.session_state["train_finetune_zz-other__clicked"] = True  # kept while zz-other was shown
    at.run()
    assert not at.exception and RunRegistry().list() == []  # tiny is shown: nothing is queued
    at.session_state["train_finetune_tiny__clicked"] = True  # a click kept for the dataset shown
    at.run()
    [run] = RunRegistry().list()
    assert run.config["data"] == str(dataset)
