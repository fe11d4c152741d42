"""Fine-tuning: a new run that starts from a whole existing checkpoint (encoder and decoder).

`TrainConfig.init_from` names the parent checkpoint; the training loop calls
`init_from_parent` once, right after building the model. The new run's config (saved in its
registry row and in every checkpoint's `meta["config"]`) records the parent's run id and its
weights' SHA-256 (DESIGN.md: "a checkpoint fine-tuned from another records its parent's run id
and weights checksum"); a parent file that changed after the run was queued is refused.

`finetune_config` is the short schedule for a handful of corrected photos (below): the app's
"Fine-tune on my labels" and `python -m seg_core finetune` both use it. Its `start_check` makes
the run choose, before training, between the parent and ImageNet weights (and, when asked, a
further start such as the shipped real-ground starter: `TrainConfig.starter`), and with one
labelled photo the epoch count, by cross-validation on the labelled photos (`training.start_check`): a fine-tune never knowingly
starts from a parent that does worse on the photos than a fresh start would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from seg_core.core.text import count
from seg_core.schemes.scheme import LabelScheme
from seg_core.training.config import TrainConfig

if TYPE_CHECKING:  # torch loads with the checkpoint, not with the schedule (`finetune --help`)
    import torch

    from seg_core.datasets.discovery import Pair


@dataclass(frozen=True)
class FineTuneSchedule:
    """Defaults for fine-tuning on a few labelled photos; every field is a TrainConfig setting."""

    # 4 photos x 90 epochs = 180 steps of batch 2, ~3 CPU minutes on 2 cores. Chosen by
    # docs/benchmarks-analysis.md section 9 (forest style, 4 photos): 30 epochs at 3e-4 reached 84% of a model
    # trained on 40 photos, 90 at 3e-4 90%, 120 at 3e-4 91% (4.1 CPU min), 90 at 6e-4 91% (2.9).
    epochs: int = 90
    lr: float = 6e-4  # a fifth of training from ImageNet: move the trained weights, do not erase them
    warmup_epochs: int = 0  # the weights are already trained; warm-up would only waste the few steps
    batch_size: int = 2  # 1-4 photos: a batch of 2 keeps BatchNorm working on a tiny training set
    crop: int = 320  # random crops multiply what a handful of photos can show
    val_ratio: float = 0.0  # with 4 photos, holding one back costs a quarter of the labels
    early_stop_patience: int = 0  # no validation split to stop on
    augment: str = "seed"  # rotations and flips are free extra views of the same few photos
    # 4 photos make 2-step epochs, and each epoch's last.pt + best.pt (76 MB, fsynced) cost 0.23
    # CPU s and about 1 s of wall time on a busy disk (docs/benchmarks-analysis.md section 9): saving every 10th
    # epoch (and the last) drops 81 of 90 saves; a kill loses at most 10 epochs, and a stop (Stop
    # button, SIGTERM) still saves first.
    checkpoint_every: int = 10
    # Real photos (docs/benchmarks-analysis.md section 19): from the synthetic demo model a fine-tune on
    # 4 photos ended below a fresh ImageNet start (0.20 vs 0.25, 0.26 vs 0.42 IoU); the check picks the
    # better start and the epoch count on held-out folds of the labels themselves.
    start_check: str = "on"
    # With exactly one labelled photo the check also tries the shipped real-ground starter
    # (docs/benchmarks-analysis.md section 19): chosen on the selection group's road-cil-s (3 seeds:
    # mean IoU 0.346 with it against 0.351 without, within the rule's 0.01, none below ImageNet), and
    # on the report group 0.334 against 0.269, never below ImageNet. With 4 or 16 photos it picked
    # worse starts, so there it is tried only when asked for.
    starter: str = "auto"


# `TrainConfig.starter` values that name no file: the shipped real-ground starter, and that starter
# only when the labels are STARTER_AUTO_PHOTOS photo(s); "none" (or empty) for no further start.
STARTER_REAL_GROUND = "real-ground"
STARTER_AUTO = "auto"
STARTER_AUTO_PHOTOS = 1
STARTER_NONE = "none"


# An ImageNet start in the check and the run: the training defaults (TrainConfig) for lr and
# warm-up, which protect pretrained encoder weights under a new, random decoder.
IMAGENET_START = {"lr": 1e-3, "warmup_epochs": 1}


def schedule_summary(schedule: FineTuneSchedule | None = None) -> str:
    """The schedule in a few words for the pages, from its fields: '90 epochs, lr 0.0006, no
    validation split'."""
    schedule = schedule or FineTuneSchedule()
    held_out = "no validation split" if not schedule.val_ratio else f"{schedule.val_ratio:.0%} held out"
    summary = f"{schedule.epochs} epochs, lr {schedule.lr:g}, {held_out}"
    if schedule.start_check == "on":
        summary += (
            "; a start check on held-out folds of the labels first picks the start "
            "(and, with one labelled photo, the epochs)"
        )
    return summary


def batch_for(cfg, photos: int):
    """`cfg` with its batch no larger than the `photos` it trains on (a schedule's batch of 2 and
    a single labelled photo: a batch of 1), unless there are none (the preflight then says so)."""
    return cfg.with_updates(batch_size=photos) if 0 < photos < cfg.batch_size else cfg


def parent_identity(path: str | Path) -> dict:
    """{'path', 'run_id', 'weights_sha256', 'meta'} of a checkpoint (CheckpointError if unusable)."""
    from seg_core.models.checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    meta = payload["meta"]
    sha = meta.get("weights_sha256")
    if sha is None:  # written before checksums existed: compute it, the record must carry one
        from seg_core.models.checkpoint import weights_digest

        sha = weights_digest(payload["state_dict"])
    return {
        "path": str(Path(path).resolve()),
        "run_id": str(meta.get("run_id") or ""),
        "weights_sha256": sha,
        "meta": meta,
    }


def finetune_config(parent: str | Path, data: str | Path, **overrides) -> TrainConfig:
    """A fine-tuning run's settings: the parent's model and working resolution, the short schedule.

    Raises:
        CheckpointError: the parent cannot be loaded.
        ValueError: an override is not a training setting or has a bad value.
    """
    identity = parent_identity(parent)
    meta = identity["meta"]
    base = {f.name: getattr(FineTuneSchedule(), f.name) for f in fields(FineTuneSchedule)}
    values = {
        **base,
        "data": str(Path(data).resolve()),
        "arch": meta["arch"],
        "encoder": meta["encoder"],
        "unet_base_width": int(meta.get("unet_base_width", 64)),
        "weights": "none",  # replaced by the parent's weights anyway: skip loading ImageNet first
        "resolution": int(meta["resolution"]),
        "init_from": identity["path"],
        "parent_run_id": identity["run_id"],
        "parent_weights_sha256": identity["weights_sha256"],
        **overrides,
    }
    values["starter"] = resolve_starter(values["starter"])  # the schedule's, or the override
    return TrainConfig.from_dict(values)


def resolve_starter(text: str | Path) -> str:
    """A further start as a run records it: `real-ground` names the shipped real-ground starter
    (`paths.REAL_GROUND_STARTER`), `auto` stays (the start check resolves it by the number of
    labelled photos: `starter_path`), `none` is empty, anything else is a path, checked by loading it.

    Raises:
        CheckpointError: the file cannot be loaded (one sentence naming it).
    """
    from seg_core.core import paths
    from seg_core.models.checkpoint import load_checkpoint

    if str(text) in (STARTER_NONE, ""):
        return ""
    if str(text) == STARTER_AUTO:
        return STARTER_AUTO
    path = paths.REAL_GROUND_STARTER if str(text) == STARTER_REAL_GROUND else Path(text)
    load_checkpoint(path)  # a starter that cannot load is a sentence now, not a skipped start later
    return str(path)


def starter_path(starter: str, photos: int, log: Callable[[str], None]) -> str:
    """The further start's checkpoint for a check on `photos` labelled photos: `auto` is the shipped
    real-ground starter with STARTER_AUTO_PHOTOS photo(s) and none otherwise (the log says so);
    anything else is already a path, or empty."""
    if starter != STARTER_AUTO:
        return starter
    from seg_core.core import paths

    if photos == STARTER_AUTO_PHOTOS:
        return str(paths.REAL_GROUND_STARTER)
    log(
        f"start check: the real-ground starter is tried by default only with {count(STARTER_AUTO_PHOTOS, 'labelled photo')} "
        f"({photos} here, where it was measured to pick worse starts); --starter real-ground tries it anyway"
    )
    return ""


def init_from_parent(
    model: torch.nn.Module,
    cfg: TrainConfig,
    resume: bool,
    log: Callable[[str], None],
    scheme: LabelScheme,
    checkpoint_dir: Path | None = None,
    *,
    pairs: Sequence[Pair],
) -> TrainConfig:
    """Load the parent's weights into `model` (unless resuming, where last.pt has newer ones) and
    return `cfg` with the parent's run id, checksum and label scheme filled in. A no-op without
    `init_from`. A parent of another label scheme than the dataset's (`scheme`) gets a new head
    (`seg_core.training.heads`) when `cfg.new_head` asks for one. With `start_check` "on", the
    start check runs first and may load ImageNet weights instead; the returned `cfg` then records
    the outcome and the chosen epochs (a resume reads them back from `checkpoint_dir`'s last.pt).
    `pairs` are the photos the run trains on (its label set): the check learns from those alone.

    Raises:
        ValueError: the parent is unusable, changed since the run was set up, of another model,
            or of another scheme without a new head.
    """
    if resume and cfg.start_check == "on" and checkpoint_dir is not None:
        cfg = _checked_settings(cfg, checkpoint_dir)
    if not cfg.init_from or (resume and cfg.parent_weights_sha256):
        return cfg  # resuming: last.pt has newer weights and the lineage is recorded already
    identity = parent_identity(cfg.init_from)
    if cfg.parent_weights_sha256 and cfg.parent_weights_sha256 != identity["weights_sha256"]:
        raise ValueError(
            f"{cfg.init_from}: the parent checkpoint changed since this fine-tuning run was set up "
            f"(weights {identity['weights_sha256'][:12]}, expected {cfg.parent_weights_sha256[:12]})"
        )
    meta = identity["meta"]
    if (meta["arch"], meta["encoder"]) != (cfg.arch, cfg.encoder):
        raise ValueError(
            f"{cfg.init_from}: is a {meta['arch']}/{meta['encoder']} model; this run builds "
            f"{cfg.arch}/{cfg.encoder} (fine-tuning keeps the parent's architecture)"
        )
    from seg_core.models.checkpoint import scheme_of
    from seg_core.training import heads

    parent_scheme = scheme_of(meta, cfg.init_from)
    plan = heads.head_plan(parent_scheme, scheme, cfg.new_head, cfg.init_from)
    cfg = cfg.with_updates(
        parent_run_id=identity["run_id"],
        parent_weights_sha256=identity["weights_sha256"],
        parent_scheme=parent_scheme.name,
    )
    if resume:
        return cfg
    from seg_core.models.checkpoint import load_checkpoint

    state = load_checkpoint(cfg.init_from)["state_dict"]
    try:
        heads.load_parent_weights(model, state, plan, log)
    except ValueError as exc:
        raise ValueError(f"{cfg.init_from}: {exc}") from None
    if cfg.start_check == "on" and has_not_codes(cfg.data, scheme):
        log(
            "start check: skipped on partial labels (its plain loss would read 'not CLASS' mask values "
            "as classes); the run starts from the parent"
        )
        cfg = cfg.with_updates(start_check="off")
    if cfg.start_check == "on":
        from seg_core.training.start_check import run_start_check

        # the parent as this model holds it: with a new head, the head is already re-initialised
        parent = {k: v.clone() for k, v in model.state_dict().items()}
        cfg = run_start_check(model, cfg, parent, log, scheme, pairs)
        if cfg.start_check == "imagenet":
            return cfg
        if cfg.start_check == "starter":
            log(f"fine-tuning from the further start {cfg.starter} (the start check chose it)")
            return cfg
    log(
        f"fine-tuning from {cfg.init_from} (run {cfg.parent_run_id or 'unknown'}, "
        f"weights {cfg.parent_weights_sha256[:12]})"
    )
    return cfg


def _checked_settings(cfg: TrainConfig, checkpoint_dir: Path) -> TrainConfig:
    """A resumed run keeps what its start check chose (saved in last.pt's config)."""
    last = Path(checkpoint_dir) / "last.pt"
    if not last.exists():
        return cfg
    from seg_core.models.checkpoint import load_checkpoint

    saved = load_checkpoint(last)["meta"].get("config") or {}
    keys = ("start_check", "epochs", "lr", "warmup_epochs", "starter")
    return cfg.with_updates(**{k: saved[k] for k in keys if k in saved})


def has_not_codes(data: str | Path, scheme: LabelScheme) -> bool:
    """Whether the dataset's partial labels say "not CLASS" anywhere (`seg_core.datasets.partial`)."""
    from seg_core.datasets.partial import read_partial_labels

    labels = read_partial_labels(data, scheme)
    return bool(labels and labels.not_codes)
