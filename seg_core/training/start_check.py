"""How a fine-tune starts, chosen by cross-validation on the labelled photos themselves.

A parent trained on other ground (the synthetic demo model, a run from another town) can be a
worse start than ImageNet weights for photos unlike its training: on real photos the demo model's
fine-tune ended below a fresh ImageNet start (docs/benchmarks-analysis.md, section 19). So before a
fine-tune trains, `check_start` runs short trainings on folds of the labelled photos from each
candidate start, scores the IoU of the labelled classes on each held-out fold every few epochs,
and `choose` keeps the start and the epoch count with the best mean held-out score. One labelled
photo is split into its left and right halves, so even a single photo gets a held-out check.

The check trains on at most `CheckPlan.max_train_photos` photos per fold: its cost is bounded
whatever the number of labels (the final run then trains on every photo). Where the run has more
photos than a fold trains on, a fold's best epoch judges a shorter run than the one that follows,
so the run keeps the check's start and takes the schedule's epochs (`run_epochs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from seg_core.datasets.augment import build_augmentation, reseed
from seg_core.datasets.dataset import normalize
from seg_core.schemes.scheme import IGNORE_INDEX, LabelScheme
from seg_core.training.config import TrainConfig
from seg_core.training.losses import create_loss
from seg_core.training.optim import build_optimizer, build_scheduler

if TYPE_CHECKING:
    from seg_core.datasets.discovery import Pair

Photo = tuple[np.ndarray, np.ndarray]  # (HxWx3 uint8 image, HxW uint8 class ids)
STARTS = ("parent", "imagenet")


@dataclass(frozen=True)
class CheckPlan:
    """How much the check may cost; every field bounds steps, not quality."""

    folds: int = 2  # two folds: each photo is held out once, at half the cost of leave-one-out
    max_train_photos: int = 4  # per fold: bounds the check's cost whatever the number of labels
    max_val_photos: int = 4  # per fold
    eval_every: int = 10  # epochs between held-out scores (the epoch count is chosen among these)

    def __post_init__(self) -> None:
        if self.folds < 2 or self.max_train_photos < 1 or self.max_val_photos < 1 or self.eval_every < 1:
            raise ValueError(f"{self}: folds must be 2 or more and the other limits at least 1")


@dataclass
class StartChoice:
    """The outcome: which start, how many epochs, and the mean held-out score behind it."""

    start: str
    epochs: int
    score: float
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def summary(self) -> str:
        best = {name: max((s for _, s in curve), default=float("nan")) for name, curve in self.curves.items()}
        scores = ", ".join(f"{name} {value:.3f}" for name, value in best.items())
        return f"start from {self.start} for {self.epochs} epochs (held-out IoU of the labelled classes: {scores})"


def choose(curves: dict[str, list[tuple[int, float]]]) -> StartChoice:
    """The (start, epoch) with the best mean held-out score; on a tie the fewer epochs, then the
    earlier start in `curves` (the caller lists the parent first: keep it when nothing beats it).

    Raises:
        ValueError: no scores at all.
    """
    best: tuple[float, int, int, str] | None = None
    for rank, (name, curve) in enumerate(curves.items()):
        for epoch, score in curve:
            if math.isnan(score):
                continue
            key = (-score, epoch, rank, name)
            if best is None or key < best:
                best = key
    if best is None:
        raise ValueError("the start check produced no held-out score")
    return StartChoice(start=best[3], epochs=best[1], score=-best[0], curves=curves)


def labelled_classes(masks: Sequence[np.ndarray]) -> list[int]:
    """The classes the labels speak for: every class with pixels except background, or background
    alone when nothing else is labelled."""
    counts = np.zeros(256, np.int64)
    for mask in masks:
        counts += np.bincount(np.asarray(mask).reshape(-1), minlength=256)
    present = [int(c) for c in np.flatnonzero(counts) if c not in (0, IGNORE_INDEX)]
    return present or [0]


def folds(photos: Sequence[Photo], plan: CheckPlan) -> list[tuple[list[Photo], list[Photo]]]:
    """(train, held-out) per fold: photos dealt round-robin into `plan.folds` folds; a single photo
    is split into its left and right halves."""
    if len(photos) == 1:
        image, mask = photos[0]
        middle = image.shape[1] // 2
        left, right = (image[:, :middle], mask[:, :middle]), (image[:, middle:], mask[:, middle:])
        return [([left], [right]), ([right], [left])]
    k = min(plan.folds, len(photos))
    dealt = [list(photos[i::k]) for i in range(k)]
    out = []
    for i in range(k):
        train = [p for j in range(k) if j != i for p in dealt[j]]
        out.append((train[: plan.max_train_photos], dealt[i][: plan.max_val_photos]))
    return out


@torch.inference_mode()
def held_out_counts(
    model: nn.Module, photos: Sequence[Photo], classes: Sequence[int], mean, std, device: torch.device
) -> np.ndarray:
    """(len(classes), 2) pooled (intersection, union) pixel counts of each class over `photos`."""
    model.eval()
    counts = np.zeros((len(classes), 2), np.int64)
    for image, mask in photos:
        logits = model(normalize(image, mean, std)[None].to(device))
        pred = logits.argmax(1)[0].cpu().numpy()
        valid = mask != IGNORE_INDEX
        for i, c in enumerate(classes):
            truth, guess = (mask == c) & valid, (pred == c) & valid
            counts[i] += ((truth & guess).sum(), (truth | guess).sum())
    return counts


def iou(counts: np.ndarray) -> float:
    """Mean IoU over classes from pooled counts; a class absent from truth and prediction is skipped."""
    seen = counts[:, 1] > 0
    return float((counts[seen, 0] / counts[seen, 1]).mean()) if seen.any() else float("nan")


def freeze_batchnorm_statistics(model: nn.Module) -> list:
    """Keep every BatchNorm layer in eval mode (running statistics used and never updated) even
    while the model trains; returns the hook handles (`.remove()` undoes it)."""

    def keep_eval(module: nn.Module, _inputs) -> None:
        module.training = False

    return [
        module.register_forward_pre_hook(keep_eval)
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]


def _batches(photos: Sequence[Photo], cfg: TrainConfig, rng: np.random.Generator, mean, std):
    """One epoch of augmented crops in batches of `cfg.batch_size` (a last short batch is kept)."""
    transform = build_augmentation(cfg.augment, cfg.crop or None)  # pads a smaller photo (ignored pixels)
    order = rng.permutation(len(photos))
    for start in range(0, len(order), cfg.batch_size):
        images, masks = [], []
        for index in order[start : start + cfg.batch_size]:
            image, mask = photos[index]
            reseed(transform, int(rng.integers(2**31)))
            out = transform(image=np.asarray(image), mask=np.asarray(mask))
            images.append(normalize(out["image"], mean, std))
            masks.append(torch.from_numpy(np.array(out["mask"], dtype=np.int64)))
        yield torch.stack(images), torch.stack(masks)


def train_curve(
    model: nn.Module,
    train: Sequence[Photo],
    held_out: Sequence[Photo],
    classes: Sequence[int],
    cfg: TrainConfig,
    eval_every: int,
    mean,
    std,
    device: torch.device,
    num_classes: int,
) -> list[tuple[int, np.ndarray]]:
    """Train `model` on `train` for `cfg.epochs` epochs (the run's optimiser, schedule and loss)
    and return [(epoch, held-out counts)] every `eval_every` epochs and at the end.
    `num_classes`: the model's (its label scheme's)."""
    criterion = create_loss(cfg.loss, num_classes, ignore_index=IGNORE_INDEX).to(device)
    batches = math.ceil(len(train) / cfg.batch_size)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, batches)
    rng = np.random.default_rng(cfg.seed)
    curve = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        for images, masks in _batches(train, cfg, rng, mean, std):
            loss = criterion(model(images.to(device)), masks.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad_norm:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            optimizer.step()
            scheduler.step()
        if epoch % eval_every == 0 or epoch == cfg.epochs:
            curve.append((epoch, held_out_counts(model, held_out, classes, mean, std, device)))
    return curve


def check_start(
    starts: dict[str, Callable[[], nn.Module]],
    settings: dict[str, TrainConfig],
    photos: Sequence[Photo],
    plan: CheckPlan,
    mean,
    std,
    device: torch.device,
    *,
    num_classes: int,
    frozen_bn: dict[str, bool] | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> StartChoice:
    """Score every start on every fold and choose (see `choose`).

    Args:
        starts: name -> a function building a fresh model with that start's weights.
        settings: name -> the training settings that start would fine-tune with (epochs = the most
            the check tries).
        photos: the labelled photos at the working resolution.
        frozen_bn: name -> train with BatchNorm statistics frozen (`freeze_batchnorm_statistics`).
    """
    classes = labelled_classes([mask for _, mask in photos])
    curves: dict[str, list[tuple[int, float]]] = {}
    for name, build in starts.items():
        pooled: dict[int, np.ndarray] = {}
        for fold, (train, held_out) in enumerate(folds(photos, plan)):
            # Each start's draws (a new decoder's initialisation, dropout) depend on its own seed
            # and fold only: another start tried before it does not change its score.
            torch.manual_seed(settings[name].seed + fold)
            model = build().to(device)
            if (frozen_bn or {}).get(name):
                freeze_batchnorm_statistics(model)
            for epoch, counts in train_curve(
                model,
                train,
                held_out,
                classes,
                settings[name],
                plan.eval_every,
                mean,
                std,
                device,
                num_classes,
            ):
                pooled[epoch] = pooled.get(epoch, 0) + counts
            log(f"start check: {name}, fold {fold + 1} done")
        curves[name] = [(epoch, iou(counts)) for epoch, counts in sorted(pooled.items())]
    return choose(curves)


def starter_weights(
    cfg: TrainConfig, scheme: LabelScheme, parent_state: dict, log: Callable[[str], None]
) -> dict | None:
    """The state dict of `cfg.starter` when it can be a start of this run: a loadable checkpoint of
    the run's model (arch and encoder, and weights of the parent's shapes) and of the dataset's label
    scheme, other than the parent itself. Otherwise None, and the log says why (the check then
    tries the parent and ImageNet)."""
    if not cfg.starter:
        return None
    from seg_core.models.checkpoint import CheckpointError, load_checkpoint, scheme_of

    try:
        payload = load_checkpoint(cfg.starter)
    except CheckpointError as exc:
        log(f"start check: the further start is left out: {exc}")
        return None
    meta = payload["meta"]
    if meta.get("weights_sha256") == cfg.parent_weights_sha256:
        return None  # the parent is the starter: nothing further to try
    if (meta.get("arch"), meta.get("encoder")) != (cfg.arch, cfg.encoder):
        log(
            f"start check: the further start {cfg.starter} is a {meta.get('arch')}/{meta.get('encoder')} "
            f"model, this fine-tune a {cfg.arch}/{cfg.encoder} one: left out"
        )
        return None
    if scheme_of(meta, cfg.starter) != scheme:  # as `heads.head_plan` compares parent and data
        log(f"start check: the further start {cfg.starter} has another label scheme than the data: left out")
        return None
    state = payload["state_dict"]
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    if shapes != {name: tuple(tensor.shape) for name, tensor in parent_state.items()}:
        log(
            f"start check: the further start {cfg.starter} has weights of other shapes than the parent's: left out"
        )
        return None
    return state


def run_start_check(
    model: nn.Module,
    cfg: TrainConfig,
    parent_state: dict,
    log: Callable[[str], None],
    scheme: LabelScheme,
    pairs: Sequence[Pair],
) -> TrainConfig:
    """The fine-tune's start check on `pairs` (the run's label set: masks review lets it train on,
    never others): `model` holds the parent's weights on its device; afterwards it
    holds the chosen start's, and the returned config the outcome ("parent", "imagenet" or
    "starter"), the chosen epoch count and, for ImageNet, that start's learning rate and warm-up.
    The further start (`cfg.starter`: `auto` resolved by the number of labelled photos,
    `finetune.starter_path`; `starter_weights`) trains with the parent's settings: it is a trained
    model of the same kind, and a run that starts from it records its path."""
    from seg_core.core.runtime import seed_everything
    from seg_core.datasets.dataset import ArrayCache
    from seg_core.models import ModelSpec, create_model, normalization
    from seg_core.models.spec import OFFLINE_ENCODER
    from seg_core.training.finetune import IMAGENET_START, starter_path
    from seg_core.training.setup import model_spec

    device = next(model.parameters()).device
    num_classes = scheme.num_classes
    spec = model_spec(cfg, num_classes=num_classes)
    cache = ArrayCache(cfg.resolution)
    photos = [tuple(np.asarray(a) for a in cache.pair(p)) for p in pairs]

    def parent() -> nn.Module:
        fresh = create_model(spec, load_weights=False)
        fresh.load_state_dict(parent_state)
        return fresh

    starts: dict[str, Callable[[], nn.Module]] = {"parent": parent}
    settings = {"parent": cfg}
    further = cfg.with_updates(starter=starter_path(cfg.starter, len(photos), log))
    starter_state = starter_weights(further, scheme, parent_state, log)
    if starter_state is not None:

        def starter() -> nn.Module:
            fresh = create_model(spec, load_weights=False)
            fresh.load_state_dict(starter_state)  # a half-precision file is copied into float32
            return fresh

        starts["starter"] = starter
        settings["starter"] = cfg
    if cfg.encoder == OFFLINE_ENCODER and cfg.arch != "unet":  # ImageNet weights that need no network
        imagenet_spec = ModelSpec(
            arch=cfg.arch, encoder=cfg.encoder, weights="imagenet-offline", num_classes=num_classes
        )
        starts["imagenet"] = lambda: create_model(imagenet_spec)
        settings["imagenet"] = cfg.with_updates(**IMAGENET_START)
    else:
        log(f"start check: no offline ImageNet weights for {cfg.encoder}; it only chooses the epoch count")
    log(f"start check on {len(photos)} labelled photo(s): {', '.join(starts)}, up to {cfg.epochs} epochs")
    mean, std = normalization(spec)
    plan = CheckPlan()
    choice = check_start(starts, settings, photos, plan, mean, std, device, log=log, num_classes=num_classes)
    log(f"start check: {choice.summary()}")
    epochs = run_epochs(choice, cfg.epochs, photos, plan, log)
    seed_everything(cfg.seed)  # the run itself draws as it would without the check
    if choice.start == "imagenet":
        model.load_state_dict(starts["imagenet"]().state_dict())
        return cfg.with_updates(start_check="imagenet", epochs=epochs, **IMAGENET_START)
    if choice.start == "starter":
        model.load_state_dict(starter_state)
        return cfg.with_updates(start_check="starter", starter=further.starter, epochs=epochs)
    return cfg.with_updates(start_check="parent", epochs=epochs)


def run_epochs(
    choice: StartChoice,
    schedule_epochs: int,
    photos: Sequence[Photo],
    plan: CheckPlan,
    log: Callable[[str], None],
) -> int:
    """The run's epochs: the check's best held-out epoch where its folds train on as many photos as
    the run (one photo, whose halves hold each other out), the schedule's where the run has more.
    A fold of fewer photos peaks early and judges a shorter run than the one that follows (chosen
    on the real-photo selection group: docs/benchmarks-analysis.md section 19)."""
    fold_photos = max(len(train) for train, _ in folds(photos, plan))  # the folds the check trained
    if len(photos) <= fold_photos or choice.epochs == schedule_epochs:
        return choice.epochs
    log(
        f"start check: the run trains the schedule's {schedule_epochs} epochs, not the check's "
        f"{choice.epochs}: its {len(photos)} labelled photos are more than a fold's {fold_photos}"
    )
    return schedule_epochs
