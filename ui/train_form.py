"""The Train page's settings form: every engine option as a widget, the study's presets, and the
checks that turn the widgets' values into a TrainConfig that can train (the CLI's preflight).

Each widget's label, help, bounds and choices come from the setting's one declaration
(`seg_core.training.config.TrainConfig`, see `seg_core.training.settings`); this module only
lays them out. Widget values live in session state under `train_form_<field>` (kept across page
switches), so a preset callback can fill them and the page can read them after the form is drawn.
"""

from __future__ import annotations

import time

import streamlit as st

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.models.spec import ARCH_LABELS, ARCHITECTURES, list_encoders
from seg_core.services import catalog
from seg_core.training import preflight, study
from seg_core.training.choices import NAMED_WEIGHTS
from seg_core.training.config import TrainConfig
from seg_core.training.presets import STUDY_PRESETS
from seg_core.training.settings import declared, flag

CUSTOM = "Custom"
SETTINGS = {name: declared_as for name, (_, declared_as) in declared(TrainConfig).items()}
DOUBLE_CLICK_S = 10.0  # the same settings submitted again within this window is a double click
DEFAULTS = TrainConfig().to_dict()
FORM_KEYS = [k for k in DEFAULTS if k != "data"]
CHECKING = "Checking the settings and the dataset, as `train` does…"


def key(name: str) -> str:
    return f"train_form_{name}"


def widget_help(name: str) -> str:
    """The setting's help, and the flag that sets it (the sentences of a refusal name flags)."""
    return f"{SETTINGS[name].help} Command line: `{flag(name)}`."


def widget_options(name: str, options) -> dict:
    """Common keyword arguments: the session-state key (kept across page switches), the
    declared label and help, and names for the options."""
    labels = ARCH_LABELS if name == "arch" else (SETTINGS[name].choice_labels or {})
    extra = {"format_func": lambda v: labels.get(v, v)} if options is not None else {}
    return {
        "label": SETTINGS[name].label,
        "help": widget_help(name),
        "key": key(name),
        "persist_state": "session",
        **extra,
    }


@st.cache_data(ttl=3600, max_entries=1, show_spinner="Checking whether ImageNet weights can be downloaded…")
def imagenet_reachable() -> bool:
    return study.imagenet_weights_available("resnet50")


def study_configs(data: str, imagenet: bool) -> list[TrainConfig]:
    """The study's four runs at the form's resolution, crop and batch size; `imagenet`: whether
    ResNet50's ImageNet weights can be had (else those runs train from scratch)."""
    values = {name: st.session_state[key(name)] for name in ("resolution", "crop", "batch_size")}
    return study.study_configs(data or ".", imagenet=imagenet, **values)


def apply_preset() -> None:
    """Fill the form with the chosen study preset (a widget callback: runs before the widgets)."""
    label = st.session_state[key("preset")]
    if label == CUSTOM:
        return
    # Probing ImageNet takes seconds; only the presets that want it need the answer.
    imagenet = imagenet_reachable() if STUDY_PRESETS[label]["weights"] == "imagenet" else True
    cfg = study_configs("", imagenet)[list(STUDY_PRESETS).index(label)]
    for name in FORM_KEYS:
        st.session_state[key(name)] = getattr(cfg, name)


def selectbox(column, name: str, options=None, **kwargs):
    """The setting's select box; `options`: for settings whose choices are not declared."""
    declared_as = SETTINGS[name]
    options = list(options if options is not None else declared_as.choices)
    if st.session_state.get(key(name)) not in options:  # e.g. encoder 'none' left by a U-Net preset
        st.session_state[key(name)] = DEFAULTS[name] if DEFAULTS.get(name) in options else options[0]
    return column.selectbox(options=options, **widget_options(name, options), **kwargs)


def number(column, name: str, **kwargs):
    """The setting's number input, bounded and stepped as declared."""
    declared_as = SETTINGS[name]
    bounds = {
        "min_value": declared_as.minimum,
        "max_value": declared_as.maximum,
        "step": declared_as.step,
        "format": declared_as.format,
    }
    return column.number_input(
        **widget_options(name, None), **{k: v for k, v in bounds.items() if v is not None}, **kwargs
    )


def form_values(dataset: str) -> dict:
    values = {name: st.session_state[key(name)] for name in FORM_KEYS}
    values["data"] = str(catalog.resolve_dataset(dataset))
    if values["arch"] == "unet":  # no encoder to choose, nothing pretrained (as the study's presets)
        values["encoder"], values["weights"] = "none", "none"
    return values


def checked_config(values: dict) -> TrainConfig:
    """The config, or ValueError with the sentence `train` would print (every setting, the
    model, the weights, the dataset and the batch size against its training split)."""
    cfg = TrainConfig.from_dict(values)
    with st.spinner(CHECKING):
        preflight.check_before_run(cfg)
    return cfg


def checked_study(dataset: str, imagenet: bool) -> list[TrainConfig]:
    """The study's four runs on `dataset`, checked as `study` checks them (ValueError)."""
    configs = study_configs(str(catalog.resolve_dataset(dataset)), imagenet)
    with st.spinner(CHECKING):
        preflight.check_all(configs)
    return configs


def is_double_click(signature: str) -> bool:
    last = st.session_state.get("train_last_submission")
    return bool(last and last["signature"] == signature and time.time() - last["time"] < DOUBLE_CLICK_S)


def remember(signature: str, messages: list[str], started: bool) -> None:
    st.session_state["train_last_submission"] = {
        "signature": signature,
        "time": time.time(),
        "messages": messages,
        "started": started,
    }


def settings_form(datasets: list[catalog.DatasetInfo]) -> str:
    """Every engine option as widgets (kept in session state across pages); returns the dataset
    chosen. Read the values with `form_values`."""
    for name in FORM_KEYS:
        st.session_state.setdefault(key(name), DEFAULTS[name])
    st.session_state.setdefault(key("preset"), CUSTOM)

    top = st.columns([2, 2, 2])
    names = [d.name for d in datasets]
    if st.session_state.get(key("dataset")) not in names:
        st.session_state[key("dataset")] = names[0]
    dataset = top[0].selectbox(
        "Dataset",
        names,
        key=key("dataset"),
        persist_state="session",
        format_func=lambda n: f"{n} ({count(next(d.images for d in datasets if d.name == n), 'photo')})",
        help=f"Folders under the data root {paths.data_root()}",
    )
    top[1].selectbox(
        "Preset",
        [CUSTOM, *STUDY_PRESETS],
        on_change=apply_preset,
        key=key("preset"),
        persist_state="session",
        help="Fills the form with one of the student study's four runs (resolution, crop and batch size stay as "
        "set here); change anything afterwards.",
    )
    top[2].text_input(
        **widget_options("name", None),
        placeholder="optional, e.g. lite0-strong-aug",
    )

    model, optimisation, data = st.columns(3, border=True)
    model.markdown("**Model and loss**")
    arch = selectbox(model, "arch", ARCHITECTURES)
    if arch == "unet":
        number(model, "unet_base_width")
        model.caption("The classic U-Net has no separate encoder and no pretrained weights.")
    else:
        selectbox(model, "encoder", list_encoders())
        selectbox(model, "weights", NAMED_WEIGHTS)
    loss = selectbox(model, "loss")

    optimisation.markdown("**Optimisation**")
    left, right = optimisation.columns(2)
    optimizer = selectbox(left, "optimizer")
    selectbox(right, "schedule")
    number(optimisation, "lr")
    left, right = optimisation.columns(2)
    number(left, "epochs")
    number(right, "batch_size")
    number(optimisation, "early_stop_patience")

    data.markdown("**Data**")
    left, right = data.columns(2)
    number(left, "resolution")
    number(right, "crop")
    selectbox(data, "augment")
    left, right = data.columns(2)
    number(left, "val_ratio")
    number(right, "seed")

    # Every "advanced" setting, in declaration order, two or three to a column: a newly declared
    # one appears here without a change to this form.
    with st.expander("Advanced settings"):
        disabled = {"momentum": optimizer != "sgd", "class_weight_cap": loss != "weighted_ce"}
        names = [name for name, declared_as in SETTINGS.items() if declared_as.group == "advanced"]
        columns = st.columns(4)
        for i, name in enumerate(names):
            column = columns[i * len(columns) // len(names)]
            if SETTINGS[name].choices is not None:
                selectbox(column, name, disabled=disabled.get(name, False))
            else:
                number(column, name, disabled=disabled.get(name, False))

    return dataset
