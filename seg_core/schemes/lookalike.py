"""Do a mask's ids fit its scheme, and which scheme do they look like?

Ids outside a scheme are certain evidence. Ids inside it are not: a RescueNet mask (ids 0..10)
also "fits" Harvey's 0..24, where its trees (9) read as Street Light and its clear roads (7) as
Solar Panels. What gives such a mask away is where its pixels go: under its own scheme a photo
puts most pixels on ground, buildings, roads, water and vegetation, and little on vehicles, boats,
pools and fixtures (chimneys, street lights, windows). Read in the wrong scheme, large regions
land on those small classes. `small_share` measures that; `look_alike` names a built-in scheme
that fits the ids and explains the pixels far better.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from seg_core.schemes.scheme import BOAT, BUILTIN, OTHER, POOL, VEHICLE, LabelScheme

# Roles of things that cover little of an aerial photo.
SMALL_ROLES = (VEHICLE, BOAT, POOL, OTHER)
# Under its own scheme a photo puts a tenth of its labelled pixels on small things at most.
# Chosen on 12 synthetic scenes per scheme (demo generator, seed group 7): read in their own
# scheme, Harvey scenes put 1.4-5.2% there, FloodNet and RescueNet ones 0.5-1.4%; read as Harvey,
# RescueNet masks put 10.8-47% there (trees on Street Light, roads on Solar Panels) and FloodNet
# masks 29-52%. tests/test_lookalike.py checks other seeds; real photos may differ.
SUSPICIOUS_SHARE = 0.10
# Another scheme must explain the pixels at least this many times better to be named instead.
CLEARLY_BETTER = 3.0


def ids_outside(counts: np.ndarray, scheme: LabelScheme) -> list[int]:
    """Ids with pixels that are neither a class of `scheme` nor its ignore index (`counts`: a
    256-bin histogram of mask values)."""
    present = np.flatnonzero(np.asarray(counts)[:256])
    return [int(v) for v in present if v >= scheme.num_classes and v != scheme.ignore_index]


def small_share(counts: np.ndarray, scheme: LabelScheme) -> float:
    """Share of the labelled pixels that `scheme` reads as small things (0 for an empty mask)."""
    counts = np.asarray(counts, dtype=np.int64)[: scheme.num_classes]
    total = int(counts.sum())
    small = [c.id for c in scheme.classes if c.role in SMALL_ROLES]
    return float(counts[small].sum()) / total if total else 0.0


def _top_small(counts: np.ndarray, scheme: LabelScheme, k: int = 2) -> str:
    small = [c for c in scheme.classes if c.role in SMALL_ROLES and counts[c.id]]
    small.sort(key=lambda c: -int(counts[c.id]))
    return ", ".join(c.name for c in small[:k])


def look_alike(
    counts: np.ndarray, scheme: LabelScheme, candidates: Iterable[LabelScheme] | None = None
) -> tuple[list[LabelScheme], str] | None:
    """The built-in schemes these ids look like instead of `scheme` (best first), with the reason in
    words; None when they fit `scheme` plausibly (or fit no other scheme).

    Args:
        counts: 256-bin histogram of the mask's values.
        scheme: the scheme the mask is read in.
        candidates: schemes to compare with (default: the built-ins).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if ids_outside(counts, scheme):
        return None  # certain evidence, reported as such by the caller
    here = small_share(counts, scheme)
    if here < SUSPICIOUS_SHARE:
        return None
    others = [s for s in (candidates or BUILTIN.values()) if s != scheme and not ids_outside(counts, s)]
    better = sorted(
        (s for s in others if small_share(counts, s) * CLEARLY_BETTER <= here),
        key=lambda s: small_share(counts, s),
    )
    if not better:
        return None
    there = ", ".join(f"as {s.name} ids {small_share(counts, s):.0%}" for s in better)
    reason = (
        f"read as {scheme.name} ids, {here:.0%} of its pixels would be small things "
        f"({_top_small(counts, scheme)}); {there}"
    )
    return better, reason


def detect_scheme(
    counts: np.ndarray, candidates: Iterable[LabelScheme] | None = None
) -> tuple[LabelScheme | None, str]:
    """The one built-in scheme a dataset's ids fit best, with the reason in words; None (and why)
    when no scheme fits or two explain the pixels about as well.

    Args:
        counts: 256-bin histogram of every mask's values.
    """
    counts = np.asarray(counts, dtype=np.int64)
    fitting = [s for s in (candidates or BUILTIN.values()) if not ids_outside(counts, s)]
    if not fitting:
        top = int(np.flatnonzero(counts[:256]).max(initial=0))
        return None, f"the masks hold ids up to {top}, more than any built-in scheme has"
    ranked = sorted(fitting, key=lambda s: small_share(counts, s))
    best = ranked[0]
    share = small_share(counts, best)
    shares = ", ".join(f"{s.name} {small_share(counts, s):.0%}" for s in ranked)
    if share >= SUSPICIOUS_SHARE or (
        len(ranked) > 1 and small_share(counts, ranked[1]) < CLEARLY_BETTER * max(share, 0.01)
    ):
        return (
            None,
            f"the ids fit {', '.join(s.name for s in ranked)} about equally (share on small things: {shares})",
        )
    return best, f"the ids fit {best.name} best (share of pixels on small things: {shares})"
