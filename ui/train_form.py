"""The Train page's settings form: every engine option as a widget with its default and help,
the study's presets, and the checks that turn the widgets' values into a valid TrainConfig.

Widget values live in session state under `train_form_<field>` (kept across page switches), so
a preset callback can fill them and the page can read them after the form is drawn.
"""

from __future__ import annotations

import time

import streamlit as st

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.datasets.augment import AUGMENT_PRESETS
from seg_core.models.spec import ARCH_LABELS, ARCHITECTURES, list_encoders
from seg_core.services import catalog
from seg_core.training import study
from seg_core.training.config import (
    AMP_MODES,
    DEVICES,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    STUDY_PRESETS,
    TrainConfig,
    model_spec,
)

CUSTOM = "Custom"
WEIGHTS = ("auto", "none", "imagenet-offline", "imagenet")
LABELS = {
    "weights": {
        "auto": "auto (offline ImageNet where available)",
        "none": "none (random init)",
        "imagenet-offline": "ImageNet, offline (EfficientNet-Lite0 only)",
        "imagenet": "ImageNet (downloads)",
    },
    "loss": {
        "ce": "Cross-entropy",
        "weighted_ce": "Weighted cross-entropy",
        "dice": "Dice",
        "ce_dice": "Cross-entropy + Dice",
        "focal": "Focal",
        "lovasz": "Lovász-softmax",
    },
    "optimizer": {"sgd": "SGD with momentum", "adam": "Adam", "adamw": "AdamW"},
    "schedule": {
        "none": "constant",
        "cosine": "cosine decay",
        "poly": "polynomial decay",
        "onecycle": "one-cycle",
    },
    "arch": ARCH_LABELS,
    "augment": {
        "none": "none (crop only)",
        "seed": "rot90 + flips (the study's)",
        "strong": "strong (+ scale, colour, blur, shadows)",
    },
}
DOUBLE_CLICK_S = 10.0  # the same settings submitted again within this window is a double click
DEFAULTS = TrainConfig().to_dict()
FORM_KEYS = [k for k in DEFAULTS if k != "data"]


def key(name: str) -> str:
    return f"train_form_{name}"


def widget_options(name: str, options) -> dict:
    """Common keyword arguments: the session-state key, kept across page switches, and labels."""
    labels = LABELS.get(name, {})
    extra = {"format_func": lambda v: labels.get(v, v)} if options is not None else {}
    return {"key": key(name), "persist_state": "session", **extra}


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


def selectbox(column, label: str, name: str, options, **kwargs):
    options = list(options)
    if st.session_state.get(key(name)) not in options:  # e.g. encoder 'none' left by a U-Net preset
        st.session_state[key(name)] = DEFAULTS[name] if DEFAULTS.get(name) in options else options[0]
    return column.selectbox(label, options, **widget_options(name, options), **kwargs)


def number(column, label: str, name: str, **kwargs):
    return column.number_input(label, **widget_options(name, None), **kwargs)


def form_values(dataset: str) -> dict:
    values = {name: st.session_state[key(name)] for name in FORM_KEYS}
    values["data"] = str(catalog.resolve_dataset(dataset))
    if values["arch"] == "unet":  # no encoder to choose, nothing pretrained (as the study's presets)
        values["encoder"], values["weights"] = "none", "none"
    return values


def checked_config(values: dict) -> TrainConfig:
    """The config, or ValueError naming the bad setting (including arch/encoder/weights combos)."""
    cfg = TrainConfig.from_dict(values)
    model_spec(cfg)
    return cfg


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
        "Run name", key=key("name"), persist_state="session", placeholder="optional, e.g. lite0-strong-aug"
    )

    model, optimisation, data = st.columns(3, border=True)
    model.markdown("**Model and loss**")
    arch = selectbox(
        model,
        "Architecture",
        "arch",
        ARCHITECTURES,
        help="U-Net (classic) is the study's from-scratch network; the others use a pretrained encoder.",
    )
    if arch == "unet":
        number(
            model,
            "Base width",
            "unet_base_width",
            min_value=1,
            step=8,
            help="Channels of the first level: 64 as in the paper, 32 is about 4x cheaper, 8 for a quick try.",
        )
        model.caption("The classic U-Net has no separate encoder and no pretrained weights.")
    else:
        selectbox(
            model,
            "Encoder",
            "encoder",
            list_encoders(),
            help="The backbone. EfficientNet-Lite0 is the fastest, with ImageNet weights available offline.",
        )
        selectbox(
            model,
            "Pretrained weights",
            "weights",
            WEIGHTS,
            help="'imagenet' needs internet access to download the weights; 'imagenet-offline' ships with "
            "StormSeg for EfficientNet-Lite0 only; 'auto' uses it where it exists, else random init.",
        )
    loss = selectbox(
        model,
        "Loss",
        "loss",
        LOSSES,
        help="Cross-entropy + Dice trains for the score of record (Dice) while staying calibrated; "
        "weighted cross-entropy makes rare classes count more.",
    )

    optimisation.markdown("**Optimisation**")
    left, right = optimisation.columns(2)
    optimizer = selectbox(left, "Optimiser", "optimizer", OPTIMIZERS)
    selectbox(right, "Schedule", "schedule", SCHEDULES, help="How the learning rate changes over the epochs.")
    number(optimisation, "Learning rate", "lr", min_value=1e-7, max_value=1.0, step=1e-4, format="%.6f")
    left, right = optimisation.columns(2)
    number(left, "Epochs", "epochs", min_value=1, step=1)
    number(right, "Batch size", "batch_size", min_value=1, step=1)
    number(
        optimisation,
        "Early-stop patience (epochs)",
        "early_stop_patience",
        min_value=0,
        step=1,
        help="Stop after this many epochs without a better val Dice; 0 = always run every epoch.",
    )

    data.markdown("**Data**")
    left, right = data.columns(2)
    number(
        left,
        "Resolution (px)",
        "resolution",
        min_value=32,
        step=64,
        help="Working resolution: photos are resized once so their long side is this many pixels "
        "(Harvey teams used 256-1024).",
    )
    number(
        right,
        "Crop (px)",
        "crop",
        min_value=0,
        step=32,
        help="Side of the random square training crops, a multiple of 32; 0 trains on whole images.",
    )
    selectbox(data, "Augmentation", "augment", AUGMENT_PRESETS)
    left, right = data.columns(2)
    number(
        left,
        "Validation share",
        "val_ratio",
        min_value=0.0,
        max_value=0.9,
        step=0.05,
        format="%.2f",
        help="Part of the photos held out to score each epoch (the study used 0.15).",
    )
    number(right, "Seed", "seed", min_value=0, step=1, help="Same seed, same split and same crops.")

    with st.expander("Advanced settings"):
        a, b, c, d = st.columns(4)
        number(a, "Weight decay", "weight_decay", min_value=0.0, step=1e-4, format="%.5f")
        number(
            a,
            "Momentum",
            "momentum",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            disabled=optimizer != "sgd",
            help="SGD only.",
        )
        number(
            b,
            "Warm-up epochs",
            "warmup_epochs",
            min_value=0,
            step=1,
            help="Linear learning-rate warm-up; protects pretrained weights early on.",
        )
        number(
            b,
            "Class-weight cap",
            "class_weight_cap",
            min_value=1.0,
            step=1.0,
            disabled=loss != "weighted_ce",
            help="Weighted cross-entropy only: upper bound on the weight of rare classes.",
        )
        number(
            c,
            "Gradient accumulation",
            "accumulation",
            min_value=1,
            step=1,
            help="Optimiser step every N batches: a larger effective batch without more memory.",
        )
        number(
            c,
            "Gradient clipping (norm)",
            "clip_grad_norm",
            min_value=0.0,
            step=0.5,
            help="0 disables clipping.",
        )
        selectbox(d, "Device", "device", DEVICES, help="auto: CUDA GPU, else Apple GPU, else CPU.")
        selectbox(d, "Mixed precision", "amp", AMP_MODES, help="auto: bf16/fp16 on CUDA, off elsewhere.")
        number(
            d,
            "Data-loading workers",
            "num_workers",
            min_value=-1,
            step=1,
            help="-1: automatic (none on CPU, where workers would steal compute from training).",
        )

    return dataset
