"""A fine-tune's segmentation head across label schemes.

A parent model whose label scheme is the dataset's keeps its whole network, head included. One of
another scheme (a Harvey model fine-tuned on RescueNet masks) keeps its encoder and decoder and
gets a new head with one output per class of the dataset's scheme, each started from the parent's
head rows of the classes a mapping names (their mean; `seg_core.schemes.mapping`), or fresh. The
run asks for it with `new_head` (`--new-head`):

    ""                 keep the parent's head: the schemes must be the same
    "roles"            each class starts from the parent's classes of the same name, else role
    "fresh"            a new head, every class from scratch
    "<mapping>.json"   the classes a mapping file names

Without it a scheme mismatch is refused with one sentence, before the run exists.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from seg_core.schemes.mapping import BY_ROLES, ClassMapping, mapping_by_roles, read_mapping
from seg_core.schemes.scheme import LabelScheme

FRESH = "fresh"
# Every network `create_model` builds keeps its last 1x1 classifier under this prefix (smp models
# and the classic U-Net alike; `seg_core.models` documents the key layout).
HEAD_PREFIX = "model.segmentation_head."


def head_plan(
    parent: LabelScheme, scheme: LabelScheme, new_head: str, parent_path: str
) -> ClassMapping | None:
    """How the run's head starts: None to keep the parent's, else the mapping of a new one.

    Args:
        parent: the parent checkpoint's label scheme.
        scheme: the dataset's.
        new_head: the run's `new_head` setting (see the module docstring).
        parent_path: for messages.

    Raises:
        ValueError: the schemes differ and no new head was asked for; a mapping file that does
            not fit the two schemes (`SchemeError`, one sentence per problem).
    """
    if not new_head:
        if parent != scheme:
            raise ValueError(
                f"{parent_path}: predicts {parent.describe()} but the dataset's masks are "
                f"{scheme.describe()}; fine-tuning across schemes needs a new head: --new-head "
                f"{BY_ROLES} (each class starts from the parent's classes of the same role), "
                f"--new-head MAPPING.json, or --new-head {FRESH}"
            )
        return None
    if new_head == FRESH:
        return ClassMapping(parent, scheme, ((),) * scheme.num_classes, FRESH)
    if new_head == BY_ROLES:
        return mapping_by_roles(parent, scheme)
    if not new_head.lower().endswith(".json"):
        raise ValueError(
            f"--new-head {new_head!r} is not one of {BY_ROLES}, {FRESH} or a mapping file (.json)"
        )
    return read_mapping(new_head, parent, scheme)


def check_parent(init_from: str, new_head: str, scheme: LabelScheme) -> None:
    """Refuse, before a run exists, a parent whose label scheme is not the dataset's when no new
    head is asked for (and a mapping file that does not fit); a no-op without a parent.

    Raises:
        ValueError: one sentence (`head_plan`); CheckpointError for an unusable parent.
    """
    if not init_from:
        return
    from seg_core.models.checkpoint import load_checkpoint, scheme_of

    meta = load_checkpoint(init_from)["meta"]
    head_plan(scheme_of(meta, init_from), scheme, new_head, init_from)


def load_parent_weights(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    mapping: ClassMapping | None,
    log: Callable[[str], None],
) -> None:
    """Load a parent's weights into `model`: all of them (`mapping` None), or the encoder and
    decoder with a new head whose rows start from the parent's as `mapping` says.

    Raises:
        ValueError: the weights do not fit the model (another architecture, or a head of
            another shape than a 1x1 classifier over the same features).
    """
    if mapping is not None:
        state = _with_new_head(model.state_dict(), state, mapping)
        log(f"new head: {mapping.describe()}")
    try:  # checkpoints hold the model's own state_dict, so the keys match exactly
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"its weights do not fit this model ({str(exc).splitlines()[0][:160]})") from None


def _with_new_head(
    own: dict[str, torch.Tensor], parent: dict[str, torch.Tensor], mapping: ClassMapping
) -> dict[str, torch.Tensor]:
    """The parent's weights with the model's own (freshly initialised) head, whose rows for
    mapped classes are the mean of the parent's rows of their source classes."""
    merged = {k: v for k, v in parent.items() if not k.startswith(HEAD_PREFIX)}
    for key, fresh in own.items():
        if not key.startswith(HEAD_PREFIX):
            continue
        source = parent.get(key)
        if source is None or source.shape[1:] != fresh.shape[1:]:
            raise ValueError(
                f"its head {key} has shape {None if source is None else tuple(source.shape)}, which "
                f"cannot start a head of shape {tuple(fresh.shape)}"
            )
        head = fresh.clone()
        for target, sources in enumerate(mapping.sources):
            if sources:
                head[target] = source[list(sources)].float().mean(0).to(head.dtype)
        merged[key] = head
    return merged
