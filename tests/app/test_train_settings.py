"""The Train form draws each setting from its one declaration (label, help, bounds, default), and
its Start runs the CLI's preflight: the app refuses what `train` refuses, with the same sentence,
before any run exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from seg_core.cli import main
from seg_core.core import paths
from seg_core.runs.registry import RunRegistry
from seg_core.training import study
from seg_core.training.config import TrainConfig
from seg_core.training.settings import declared, flag
from ui import train_form

APP = Path(__file__).resolve().parents[2] / "app.py"
SETTINGS = declared(TrainConfig)
DEFAULTS = TrainConfig()


def train_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/train.py").run()


@pytest.fixture
def dataset(tiny_dataset, monkeypatch) -> Path:
    monkeypatch.setattr(study, "imagenet_weights_available", lambda encoder: False)  # offline, fast
    train_form.imagenet_reachable.clear()
    target = paths.data_root() / "tiny"
    shutil.copytree(tiny_dataset, target)
    return target


@pytest.fixture
def offline(monkeypatch):
    """No ImageNet download, whatever this machine's network (as tests/test_cli_contract.py)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def widget(at: AppTest, name: str):
    found = [w for w in at.get("selectbox") + at.get("number_input") + at.get("text_input") if w.key]
    return next(w for w in found if w.key == train_form.key(name))


def shown(at: AppTest) -> set[str]:
    widgets = at.get("selectbox") + at.get("number_input") + at.get("text_input")
    return {w.key.removeprefix("train_form_") for w in widgets if w.key and w.key.startswith("train_form_")}


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def cli_refusal(argv: list[str], capsys) -> str:
    """The sentence `python -m seg_core ARGV` prints (exit 2)."""
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: ") and "\n" not in line
    return line.removeprefix("error: ")


def test_every_widget_shows_its_declared_label_help_bounds_and_default(dataset):
    at = train_page()
    assert not at.exception
    visible = {n for n, (_, s) in SETTINGS.items() if s.group != "hidden"} - {"unet_base_width"}
    assert visible <= shown(at)
    at.selectbox(key="train_form_arch").set_value("unet").run()  # its width appears, the encoder goes
    assert "unet_base_width" in shown(at) and "encoder" not in shown(at)
    at.selectbox(key="train_form_arch").set_value(DEFAULTS.arch).run()
    for name in visible | {"name"}:
        f, declared_as = SETTINGS[name]
        w = widget(at, name)
        assert w.label == declared_as.label, name
        assert w.help.startswith(declared_as.help) and f"`{flag(name)}`" in w.help, name
        if name == "unet_base_width":
            continue
        assert w.value == f.default, name
        if declared_as.choices is not None:
            assert list(w.options) == [
                (declared_as.choice_labels or {}).get(c, c) for c in declared_as.choices
            ], name
        if w.type == "number_input":
            assert w.min == declared_as.minimum, name
            if declared_as.maximum is not None:
                assert w.max == declared_as.maximum, name


def test_the_form_submits_the_dataclass_defaults_it_shows(dataset):
    at = train_page()
    values = {name: widget(at, name).value for name in shown(at) if name in SETTINGS}
    assert values == {name: getattr(DEFAULTS, name) for name in values}


def test_start_refuses_a_batch_larger_than_the_training_split_as_train_does(dataset, capsys):
    sentence = cli_refusal(["train", "--data", str(dataset), "--arch", "unet", "--batch-size", "50"], capsys)
    assert "--batch-size 50 is larger than the 5 training images" in sentence
    at = train_page()
    at.selectbox(key="train_form_arch").set_value("unet").run()
    at.number_input(key="train_form_batch_size").set_value(50)
    click(at, "Start training")
    assert not at.exception
    assert f"Cannot start: {sentence}" in texts(at.error)
    click(at, "Queue the whole study (4 runs)")  # the study's runs take this batch size too
    assert sentence in texts(at.error)
    assert RunRegistry().list() == []


def test_start_refuses_weights_that_cannot_be_had_as_train_does(dataset, offline, capsys):
    argv = ["train", "--data", str(dataset), "--encoder", "resnet18", "--weights", "imagenet"]
    sentence = cli_refusal(argv, capsys)
    assert "ImageNet weights for encoder resnet18 are not cached and cannot be downloaded" in sentence
    at = train_page()
    at.selectbox(key="train_form_encoder").set_value("resnet18")
    at.selectbox(key="train_form_weights").set_value("imagenet")
    click(at, "Start training")
    assert not at.exception
    assert f"Cannot start: {sentence}" in texts(at.error)
    assert RunRegistry().list() == []
