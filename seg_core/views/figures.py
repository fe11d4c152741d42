"""What the Segment page shows about segmented photos: headline figures (st.metric), the per-class
table, the batch summary and one line about a model. Plain data, no streamlit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seg_core.analytics import statistics
from seg_core.analytics.familiarity import FAR_OUTSIDE
from seg_core.analytics.uncertainty import UNCERTAIN_BELOW
from seg_core.schemes.classes import OBJECT_CLASS_IDS
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


def _area(stats: statistics.ImageStats, name: str) -> str | None:
    return None if stats.area_m2 is None else f"{stats.area_m2[name]:,.0f} m²"


def key_figures(stats: statistics.ImageStats) -> list[KeyFigure]:
    """Flooded share, roofs exposed, flooded road corridor and the main object counts."""
    flood = stats.flood
    roofs_share = f"{flood.roofs_exposed / flood.roofs_total:.0%} of roofs" if flood.roofs_total else None
    road = "no road" if flood.road_flooded_share is None else f"{flood.road_flooded_share:.1%}"
    figures = [
        KeyFigure(
            "Flooded",
            f"{flood.flooded_share:.1%}",
            _area(stats, "Flooded"),
            "Share of the photo classed Flooded: flood water over normally dry ground. Ponds, "
            "bayous and pools are not counted (they are Water Body / Swimming Pool).",
        ),
        KeyFigure(
            "Roofs exposed",
            f"{flood.roofs_exposed} of {flood.roofs_total}",
            roofs_share,
            f"Roofs with flood water within {FLOOD_DISTANCE_M:g} m of them.",
        ),
        KeyFigure(
            "Roads flooded",
            road,
            None,
            f"Flood water within {FLOOD_DISTANCE_M:g} m of visible road, as a share of that water "
            "plus the visible road: flooded road is labelled Flooded, so it is the best evidence "
            "of a submerged street.",
        ),
    ]
    for name, label in COUNTED.items():
        figures.append(
            KeyFigure(
                label,
                str(stats.object_counts[name]),
                None,
                f"Separate {name.lower()} objects of at least {stats.min_object_px} px "
                "(smaller specks are ignored).",
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


def class_table(stats: statistics.ImageStats) -> list[dict]:
    """Per class present, largest first: class, share (0..1), area_m2 (with a gsd), objects
    (connected objects, for countable classes only)."""
    rows = []
    for row in legend_rows(stats):
        entry = {"class": row["name"], "share": row["share"]}
        if stats.area_m2 is not None:
            entry["area_m2"] = stats.area_m2[row["name"]]
        if row["id"] in OBJECT_CLASS_IDS:  # surfaces have no count: the cell stays empty
            entry["objects"] = stats.object_counts.get(row["name"])
        rows.append(entry)
    return rows


def batch_table(analyses: Sequence[PhotoAnalysis]) -> list[dict]:
    """One compact row per photo for the batch summary (the full columns are in the CSV)."""
    rows = []
    for a in analyses:
        s = a.stats
        row = {
            "photo": a.name,
            "size": f"{a.original_size[0]}×{a.original_size[1]}",
            "flooded": s.flood.flooded_share,
            "roofs exposed": f"{s.flood.roofs_exposed} of {s.flood.roofs_total}",
            "road corridor flooded": s.flood.road_flooded_share,
        }
        if s.area_m2 is not None:
            row["flooded m²"] = s.area_m2["Flooded"]
        row.update({label.lower(): s.object_counts[name] for name, label in COUNTED.items()})
        if s.familiarity is not None:
            row["familiarity"] = FAMILIARITY_LABELS.get(s.familiarity["status"], s.familiarity["status"])
        row["seconds"] = a.seconds.get("total")
        rows.append(row)
    return rows


def batch_figures(analyses: Sequence[PhotoAnalysis]) -> list[KeyFigure]:
    """Totals over the batch, from statistics.batch_summary."""
    summary = statistics.batch_summary([a.stats for a in analyses])
    exposed = summary["roofs_exposed_share"]
    return [
        KeyFigure("Photos", str(summary["images"])),
        KeyFigure(
            "Flooded",
            f"{summary['flooded_share']:.1%}",
            None if summary["area_m2"] is None else f"{summary['area_m2']['Flooded']:,.0f} m²",
        ),
        KeyFigure(
            "Roofs exposed",
            f"{summary['roofs_exposed']} of {summary['roofs_total']}",
            None if exposed is None else f"{exposed:.0%} of roofs",
        ),
        *[KeyFigure(label, str(summary["object_counts"][n])) for n, label in COUNTED.items()],
    ]


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
    dice = (summary.get("metrics") or {}).get("val_dice")
    if dice is not None:
        parts.append(f"val Dice {dice:.3f}")
    return " · ".join(parts)
