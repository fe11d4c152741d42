"""What the Segment page shows about segmented photos: headline figures (st.metric), the per-class
table, the batch summary and one line about a model. Plain data, no streamlit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seg_core.analytics import statistics
from seg_core.analytics.exposure import flood_water_ids, role_objects, role_total
from seg_core.analytics.familiarity import FAR_OUTSIDE
from seg_core.analytics.uncertainty import UNCERTAIN_BELOW
from seg_core.runs.metric_names import VAL_DICE
from seg_core.schemes.scheme import BUILDING, FLOODED, ROAD, LabelScheme
from seg_core.services.analysis import (
    COUNTED,
    FLOOD_DISTANCE_M,
    UNCERTAINTY_FULL_SCALE,
    PhotoAnalysis,
    legend_rows,
)

FAMILIARITY_LABELS = {
    "familiar": "Familiar",
    "unusual": "Unusual",
    "unfamiliar": "Not seen",
    "unavailable": "No reference",
}


@dataclass(frozen=True)
class KeyFigure:
    """One headline number: st.metric(label, value, detail, help=help)."""

    label: str
    value: str
    detail: str | None = None  # a second, smaller line (an area in m², a share)
    help: str = ""


def _m2(area: float | None) -> str | None:
    return None if area is None else f"{area:,.0f} m²"


def _flood_words(scheme: LabelScheme) -> str:
    return " / ".join(scheme.names[i] for i in flood_water_ids(scheme))


def key_figures(stats: statistics.ImageStats, scheme: LabelScheme) -> list[KeyFigure]:
    """Flooded share, roofs exposed, flooded road corridor, buildings by damage and the main object
    counts, each where the photo's label scheme has the roles it needs (`stats.notes` says which
    are left out)."""
    flood = stats.flood
    figures = []
    if flood.flooded_share is not None:
        water = _flood_words(scheme)
        figures.append(
            KeyFigure(
                "Flooded",
                f"{flood.flooded_share:.1%}",
                _m2(role_total(stats.area_m2, scheme, flood_water_ids(scheme))),
                f"Share of the photo classed {water}: flood water over normally dry ground. Ponds, "
                "bayous and pools are not counted (they have classes of their own).",
            )
        )
    if flood.roofs_exposed is not None:
        roofs_share = f"{flood.roofs_exposed / flood.roofs_total:.0%} of roofs" if flood.roofs_total else None
        figures.append(
            KeyFigure(
                "Roofs exposed",
                f"{flood.roofs_exposed} of {flood.roofs_total}",
                roofs_share,
                ("Roofs labelled flooded, or with" if scheme.ids(BUILDING, flooded=True) else "Roofs with")
                + f" flood water within {FLOOD_DISTANCE_M:g} m of them.",
            )
        )
    if scheme.has_role(ROAD) and scheme.ids(flooded=True):
        road = "no road" if flood.road_flooded_share is None else f"{flood.road_flooded_share:.1%}"
        how = (
            f"flood water within {FLOOD_DISTANCE_M:g} m of visible road, as a share of that water plus "
            f"the visible road: flooded road is labelled {_flood_words(scheme)}, so it is the best "
            "evidence of a submerged street"
            if scheme.has_role(FLOODED)
            else "road pixels labelled flooded, as a share of all road pixels"
        )
        figures.append(KeyFigure("Roads flooded", road, None, how[0].upper() + how[1:] + "."))
    for level, count in (stats.buildings_by_damage or {}).items():
        figures.append(KeyFigure(level, str(count), None, f"Buildings graded {level} (FEMA's scale)."))
    for role, label in COUNTED.items():
        count = role_objects(stats.object_counts, scheme, role)
        if count is not None:
            kinds = " / ".join(scheme.names[i].lower() for i in scheme.ids(role, counted=True))
            figures.append(
                KeyFigure(
                    label,
                    str(count),
                    None,
                    f"Separate {kinds} objects of at least {stats.min_object_px} px (smaller specks are ignored).",
                )
            )
    return figures


def uncertainty_figures(stats: statistics.ImageStats) -> list[KeyFigure]:
    """The photo's uncertainty and how familiar it looks to the model; empty when not measured."""
    if stats.uncertainty is None or stats.familiarity is None:
        return []
    u, f = stats.uncertainty, stats.familiarity
    distance = f.get("distance")
    return [
        KeyFigure(
            "Uncertain pixels",
            f"{u['uncertain_share']:.1%}",
            f"mean uncertainty {u['mean']:.2f}",
            f"Pixels whose most likely class has under {UNCERTAIN_BELOW:.0%} probability; mean of "
            "1 - top class probability over the photo.",
        ),
        KeyFigure(
            "Familiarity",
            FAMILIARITY_LABELS.get(f["status"], f["status"]),
            None if distance is None else f"{distance:.1f} spreads above usual",
            "How far the photo's uncertainty lies above what the model showed on the photos its "
            f"reference was measured on (over {FAR_OUTSIDE:g} spreads: the figures are unreliable).",
        ),
    ]


def familiarity_note(familiarity: dict | None) -> tuple[str, str] | None:
    """(level, sentence) to show above a photo's or a mosaic's figures from its familiarity
    verdict: "error" when far outside the model's experience, "warning" when unusual, "info"
    when the check is unavailable, else None. The sentence starts with a capital."""
    if familiarity is None:
        return None
    level = {"unfamiliar": "error", "unusual": "warning", "unavailable": "info"}.get(familiarity["status"])
    message = familiarity["message"]
    return None if level is None else (level, message[:1].upper() + message[1:])


def uncertainty_colour_stops(steps: int = 6) -> list[tuple[float, str]]:
    """(uncertainty, '#rrggbb') along the uncertainty overlay's colour scale (`render_uncertainty`),
    for its colour bar: 0 (sure) to UNCERTAINTY_FULL_SCALE and above."""
    import cv2

    levels = np.linspace(0, 255, steps).round().astype(np.uint8)[None]
    colours = cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)[0, :, ::-1]  # BGR -> RGB
    return [
        (float(level) / 255 * UNCERTAINTY_FULL_SCALE, "#" + "".join(f"{int(c):02x}" for c in colour))
        for level, colour in zip(levels[0], colours, strict=True)
    ]


def class_table(stats: statistics.ImageStats, scheme: LabelScheme) -> list[dict]:
    """Per class present, largest first: class, share (0..1), area_m2 (with a gsd), objects
    (connected objects for the classes the scheme counts, None for surfaces)."""
    rows = []
    for row in legend_rows(stats, scheme):
        entry = {"class": row["name"], "share": row["share"]}
        if stats.area_m2 is not None:
            entry["area_m2"] = stats.area_m2[row["name"]]
        entry["objects"] = stats.object_counts.get(row["name"]) if scheme.classes[row["id"]].counted else None
        rows.append(entry)
    return rows


def batch_table(analyses: Sequence[PhotoAnalysis]) -> list[dict]:
    """One compact row per photo for the batch summary (the full columns are in the CSV)."""
    rows = []
    for a in analyses:
        s, scheme = a.stats, a.scheme
        row = {"photo": a.name, "size": f"{a.original_size[0]}×{a.original_size[1]}"}
        if s.flood.flooded_share is not None:
            row["flooded"] = s.flood.flooded_share
        if s.flood.roofs_exposed is not None:
            row["roofs exposed"] = f"{s.flood.roofs_exposed} of {s.flood.roofs_total}"
            row["road corridor flooded"] = s.flood.road_flooded_share
        if s.area_m2 is not None and flood_water_ids(scheme):
            row["flooded m²"] = role_total(s.area_m2, scheme, flood_water_ids(scheme))
        row.update({level.lower(): n for level, n in (s.buildings_by_damage or {}).items()})
        for role, label in COUNTED.items():
            count = role_objects(s.object_counts, scheme, role)
            if count is not None:
                row[label.lower()] = count
        if s.familiarity is not None:
            row["familiarity"] = FAMILIARITY_LABELS.get(s.familiarity["status"], s.familiarity["status"])
        row["seconds"] = a.seconds.get("total")
        rows.append(row)
    return rows


def batch_figures(analyses: Sequence[PhotoAnalysis]) -> list[KeyFigure]:
    """Totals over the batch (one scheme), from statistics.batch_summary."""
    summary = statistics.batch_summary([a.stats for a in analyses])
    scheme = analyses[0].scheme
    exposed = summary["roofs_exposed_share"]
    figures = [KeyFigure("Photos", str(summary["images"]))]
    if summary["flooded_share"] is not None:
        area = role_total(summary["area_m2"], scheme, flood_water_ids(scheme))
        figures.append(KeyFigure("Flooded", f"{summary['flooded_share']:.1%}", _m2(area)))
    if summary["roofs_exposed"] is not None:
        figures.append(
            KeyFigure(
                "Roofs exposed",
                f"{summary['roofs_exposed']} of {summary['roofs_total']}",
                None if exposed is None else f"{exposed:.0%} of roofs",
            )
        )
    figures += [KeyFigure(level, str(n)) for level, n in (summary["buildings_by_damage"] or {}).items()]
    for role, label in COUNTED.items():
        count = role_objects(summary["object_counts"], scheme, role)
        if count is not None:
            figures.append(KeyFigure(label, str(count)))
    return figures


def describe_model(summary: dict) -> str:
    """One line about a checkpoint from catalog.checkpoint_summary: architecture, working
    resolution, training data, epochs and validation score."""
    if "error" in summary:
        return f"This checkpoint cannot be read: {summary['error']}"
    arch = "classic U-Net" if summary["arch"] == "unet" else f"{summary['arch']} / {summary['encoder']}"
    parts = [arch, f"photos processed at {summary['resolution']} px (long side)"]
    if summary.get("data"):
        parts.append(f"trained on {Path(str(summary['data'])).name}")
    if summary.get("epoch") is not None:
        parts.append(f"{summary['epoch']} epochs")
    dice = (summary.get("metrics") or {}).get(VAL_DICE.summary)
    if dice is not None:
        parts.append(f"val Dice {dice:.3f}")
    return " · ".join(parts)
