"""What the Segment page shows about an uploaded orthomosaic (`services.geoupload`): headline
figures, the per-class table and where each GSD came from (its familiarity note is
`figures.familiarity_note`, as for a photo). Plain data."""

from __future__ import annotations

from seg_core.analytics.exposure import flood_water_ids, role_total
from seg_core.gis.geojob import summary_scheme
from seg_core.services.geoupload import FAMILIARITY_WINDOWS, MosaicAnalysis
from seg_core.views.figures import FAMILIARITY_LABELS, KeyFigure


def key_figures(result: MosaicAnalysis) -> list[KeyFigure]:
    """Flooded share and area, the area mapped, and the model's uncertainty on sampled windows."""
    summary = result.summary
    scheme = summary_scheme(summary)
    areas = summary.get("area_m2", {})
    mapped = sum(areas.values())
    share = summary.get("flooded_share")
    water = flood_water_ids(scheme)
    figures = []
    if water:  # a scheme that marks no flood water gets no flood figure (never a guessed class)
        names = " / ".join(scheme.names[i] for i in water)
        figures.append(
            KeyFigure(
                "Flooded",
                "n/a" if share is None else f"{share:.1%}",
                f"{role_total(areas, scheme, water):,.0f} m²",
                f"Share of the mosaic's valid pixels classed {names}; area from the raster's own GSD.",
            )
        )
    figures += [
        KeyFigure(
            "Area mapped",
            f"{mapped / 10_000:,.2f} ha",
            f"{result.size[0]}×{result.size[1]} px",
            "Ground covered by valid pixels (nodata and alpha-masked pixels are left out).",
        ),
        KeyFigure(
            "Windows",
            f"{summary['windows_done']} of {summary['windows']}",
            f"{summary['seconds']:.0f} s",
            "Windows segmented at the model's working GSD; each is read with a margin so they "
            "meet without seams.",
        ),
    ]
    if result.familiarity is not None:
        uncertainty, familiarity = result.familiarity
        distance = familiarity.get("distance")
        figures.append(
            KeyFigure(
                "Familiarity",
                FAMILIARITY_LABELS.get(familiarity["status"], familiarity["status"]),
                None if distance is None else f"{distance:.1f} spreads above usual",
                f"From {FAMILIARITY_WINDOWS} sample windows at the working GSD: mean uncertainty "
                f"{uncertainty['mean']:.2f}, {uncertainty['uncertain_share']:.1%} uncertain pixels, "
                "against the photos its uncertainty reference was measured on.",
            )
        )
    return figures


def class_table(result: MosaicAnalysis) -> list[dict]:
    """Per class present, largest first: class, share of the valid pixels, area in m²."""
    areas = result.summary.get("area_m2", {})
    scheme = summary_scheme(result.summary)
    total = sum(areas.values()) or 1.0
    rows = [
        {"class": name, "color": scheme.hex_color(scheme.class_id(name)), "share": m2 / total, "area_m2": m2}
        for name, m2 in areas.items()
        if m2 > 0
    ]
    return sorted(rows, key=lambda r: -r["area_m2"])


def is_data_loss(notice: str) -> bool:
    """Whether a mosaic notice means part of the map is missing (a corrupt tile, a Stop)."""
    return "could not be decoded" in notice or "the rest of the map is nodata" in notice


def gsd_lines(result: MosaicAnalysis) -> list[str]:
    """Where each GSD came from: the raster's own and the model's working GSD."""
    return [f"Raster: {result.summary['raster_gsd']}", f"Model: {result.summary['model_gsd']}"]
