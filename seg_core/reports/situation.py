"""What a situation report says, as data: its figures (each printed once in the PDF and stored in
the GeoPackage's `situation` table), its worst buildings, and its method and caveats in words.

    report = SituationReport(assessment, ReportContext(title="Pine Creek, 2 Sept", model=model, scheme=scheme))
    report.figures()      # [{"section", "name", "value", "unit"}, ...]
    report.worst()        # the most damaged buildings, worst first

Every number the PDF prints comes from `figures()` or from a building's exported properties, in the
formatting of `format_figure` and `format_share`, so a test can check it against the files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from seg_core.analytics.familiarity import batch_familiarity
from seg_core.analytics.statistics import FLOOD_DISTANCE_M
from seg_core.analytics.uncertainty import UNCERTAIN_BELOW
from seg_core.buildings.footprints import DEFAULT_FOOTPRINTS
from seg_core.buildings.grading import DAMAGE_CLASSES
from seg_core.buildings.records import BuildingRecord, ModelIdentity, damage_counts, grades_damage
from seg_core.buildings.sources import Assessment
from seg_core.reports.tiles import TileBackground
from seg_core.schemes.scheme import DAMAGE_LEVELS, LabelScheme

WORST_SHOWN = 8  # buildings with thumbnails: one page
BUILDINGS = "Buildings"
GROUND = "Ground"
IMAGERY = "Imagery"


@dataclass(frozen=True)
class ReportContext:
    """What the report is about, beyond the buildings.

    Attributes:
        title: the report's title (e.g. the event and the place).
        model: which model made the masks.
        scheme: the label scheme the masks use.
        created: when the report was made (UTC).
        area: the place, in words; empty: described from the imagery.
        tiles: an XYZ tile source drawn under a georeferenced map; None: plain background.
    """

    title: str
    model: ModelIdentity
    scheme: LabelScheme
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    area: str = ""
    tiles: TileBackground | None = None


def format_figure(value: float | None, unit: str) -> str:
    """How the report prints a figure: counts as integers, areas with one decimal, unknown as n/a."""
    if value is None:
        return "n/a"
    return f"{value:.0f}" if unit == "count" else f"{value:.1f}"


def format_share(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f}%"


@dataclass
class SituationReport:
    assessment: Assessment
    context: ReportContext

    @property
    def records(self) -> list[BuildingRecord]:
        return self.assessment.records

    @property
    def grades_damage(self) -> bool:
        return grades_damage(self.records)

    def figures(self) -> list[dict]:
        """Every figure of the summary tables: {"section", "name", "value", "unit"}."""
        rows = []

        def add(section: str, name: str, value, unit: str) -> None:
            if value is not None and unit != "count":
                value = round(float(value), 1)
            rows.append({"section": section, "name": name, "value": value, "unit": unit})

        counts = damage_counts(self.records)
        add(BUILDINGS, "Buildings assessed", len(self.records), "count")
        for level in DAMAGE_LEVELS:
            add(BUILDINGS, level, counts[level], "count")
        if counts["Not graded"]:
            add(BUILDINGS, "Not graded", counts["Not graded"], "count")
        flood_known = [r for r in self.records if r.grade.flooded is not None]
        add(
            BUILDINGS,
            "Flooded",
            sum(bool(r.grade.flooded) for r in flood_known) if flood_known else None,
            "count",
        )
        add(BUILDINGS, "Cut by a photo or tile edge", sum(r.at_edge for r in self.records), "count")
        scene = self.assessment.scene
        add(GROUND, "Imaged area", scene.imaged_m2, "m2")
        add(GROUND, "Flooded ground", scene.flooded_ground_m2, "m2")
        add(GROUND, "Road, visible", scene.road_m2, "m2")
        add(GROUND, "Road, flooded", scene.flooded_road_m2, "m2")
        add(GROUND, "Road, blocked", scene.blocked_road_m2, "m2")
        add(GROUND, "Vehicles", scene.vehicles, "count")
        add(GROUND, "Boats", scene.boats, "count")
        photos = [i for i in self.assessment.imagery if i["kind"] == "photo"]
        add(IMAGERY, "Photos", len(photos), "count")
        add(IMAGERY, "Orthomosaics", len(self.assessment.imagery) - len(photos), "count")
        add(IMAGERY, "Photos placed on the map", sum("footprint_wgs84" in i for i in photos), "count")
        unfamiliar = [f for f in self.assessment.familiarity if f.get("status") == "unfamiliar"]
        add(IMAGERY, "Unfamiliar photos", len(unfamiliar), "count")
        return rows

    def worst(self, count: int = WORST_SHOWN) -> list[BuildingRecord]:
        """The most damaged buildings (level, share, flooded, area), worst first."""
        graded = [r for r in self.records if r.grade.damage_level not in (None, "No damage")]
        return sorted(graded, key=lambda r: r.severity, reverse=True)[:count]

    def familiarity_verdict(self) -> str:
        """The batch's familiarity verdict in words (`batch_familiarity`)."""
        if not self.assessment.familiarity:
            return "not checked (no confidence map for this imagery)"
        verdict = batch_familiarity(self.assessment.familiarity)
        return f"{verdict['status']}: {verdict['message']}"

    def area_text(self) -> str:
        if self.context.area:
            return self.context.area
        placed = [r for r in self.records if r.latitude is not None]
        if not placed:
            return "not georeferenced (pixel coordinates)"
        lats = [r.latitude for r in placed]
        lons = [r.longitude for r in placed]
        return f"{min(lats):.5f} to {max(lats):.5f} N, {min(lons):.5f} to {max(lons):.5f} E (WGS84)"

    def method(self) -> list[str]:
        """The method, one paragraph per step."""
        scheme = self.context.scheme
        footprints = DEFAULT_FOOTPRINTS
        grading = (
            "Damage level: the median of the footprint's pixels on FEMA's scale (No damage, Affected, "
            "Minor, Major, Destroyed): the most severe level such that at least half of the footprint "
            "is at that level or worse; the share is that half or more."
            if self.grades_damage
            else "Damage level from flood status (the scheme has no damage classes): FEMA grades flood "
            "damage by the water line inside a structure, which a nadir photo cannot see; water at the "
            "walls fits Affected, the lowest grade for water reaching a structure. A flooded building is "
            "Affected, a dry one No damage (from flooding; wind damage is not assessed)."
        )
        return [
            f"Masks: model {self.context.model.model_id} (weights {self.context.model.weights_sha256[:12] or 'n/a'}), "
            f"label scheme {scheme.name}. Assessment type: Remote Sensing.",
            f"Buildings: the scheme's building classes, touching roofs split where their footprint narrows "
            f"by at least {footprints.split_depth_m:g} m (distance transform and watershed), fragments under "
            f"{footprints.min_area_m2:g} m2 dropped, outlines simplified and squared where right-angled.",
            grading,
            f"Flooded: flooded ground within {FLOOD_DISTANCE_M:g} m of the footprint, or a flooded building "
            "class over at least half of it.",
            f"Confidence: mean top-class probability over the footprint; uncertain share: pixels whose top "
            f"probability is under {UNCERTAIN_BELOW:g}.",
        ]

    def caveats(self) -> list[str]:
        """What a reader must know before acting on the figures."""
        caveats = [
            "Nadir imagery shows roofs: damage to walls and interiors, and flood depth inside buildings, are "
            "not seen. Field validation is needed before assistance decisions.",
        ]
        records = self.records
        measured = [r for r in records if r.grade.uncertain_share is not None]
        if measured:
            pixels = sum(r.area_m2 or 1.0 for r in measured)
            share = sum((r.area_m2 or 1.0) * r.grade.uncertain_share for r in measured) / pixels
            caveats.append(f"Uncertain share of all footprints: {format_share(share)} (area-weighted).")
        unfamiliar = [f for f in self.assessment.familiarity if f.get("status") == "unfamiliar"]
        if unfamiliar:
            names = ", ".join(f.get("name", "?") for f in unfamiliar[:5])
            caveats.append(
                f"{len(unfamiliar)} photo(s) look unlike the model's training photos ({names}): treat their grades as unreliable."
            )
        if self.context.model.trained_on:
            caveats.append(f"The model was trained on {self.context.model.trained_on}.")
        if any(r.grade.damage_basis != DAMAGE_CLASSES for r in records) and records:
            caveats.append(
                "Damage levels from flood status are a floor: Minor, Major or Destroyed need a field visit."
            )
        return caveats + self.assessment.notices
