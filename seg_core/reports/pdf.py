"""The situation report as a PDF: matplotlib (vector maps and tables, embedded TrueType fonts so
the text stays selectable and searchable), georeferenced on its map page where the buildings are.

    pdf_bytes = render_report(SituationReport(assessment, context))

Pages: 1 the map (title, area, date, imagery and model; footprints coloured by damage level or
flood status with legend, scale bar and north arrow); 2 the summary tables (buildings per level,
flooded buildings, ground figures, imagery, model); 3 the most damaged buildings with thumbnails
and coordinates; 4 method and caveats. Why matplotlib: of the libraries that draw a print map
offline (matplotlib, reportlab, GDAL's PDF writer) it is the only one that draws vector
footprints, legends, scale bars, tables and photos in one document; GDAL's writer makes single map
pages without text layout, reportlab would need a second library for the map.
"""

from __future__ import annotations

import io
import textwrap

from seg_core.buildings.records import BuildingRecord
from seg_core.reports.geopdf import georeference_page
from seg_core.reports.mapplot import draw_georeferenced, draw_photo, uses_damage_colours
from seg_core.reports.situation import (
    BUILDINGS,
    GROUND,
    IMAGERY,
    SituationReport,
    format_figure,
    format_share,
)

A4_PORTRAIT = (8.27, 11.69)  # inches
POINTS_PER_INCH = 72
PAGES = 4
MAP_BOX = (0.06, 0.1, 0.88, 0.64)  # left, bottom, width, height as a fraction of the page
PHOTO_PANELS = 4  # photos without georeference drawn on the map page, at most
UNIT_TEXT = {"count": "", "m2": "m²"}


def _page(number: int, title: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_PORTRAIT)
    figure.text(0.06, 0.955, title, fontsize=15, fontweight="bold", va="top")
    figure.text(
        0.94,
        0.025,
        f"StormSeg situation report · page {number} of {PAGES}",
        fontsize=7,
        ha="right",
        color="#555555",
    )
    return figure


def _header_lines(report: SituationReport) -> list[str]:
    context, imagery = report.context, report.assessment.imagery
    photos = sum(1 for i in imagery if i["kind"] == "photo")
    gsds = sorted({i["gsd"] for i in imagery})
    model = context.model
    return [
        f"Area: {report.area_text()}",
        f"Date: {context.created:%Y-%m-%d %H:%M} UTC (report)",
        f"Imagery: {photos} photo(s), {len(imagery) - photos} orthomosaic(s); GSD {'; '.join(gsds[:2])}"
        + (f" (+{len(gsds) - 2} more)" if len(gsds) > 2 else ""),
        f"Model: {model.model_id} (weights sha256 {model.weights_sha256[:12] or 'n/a'}), scheme {context.scheme.name}",
        f"Familiarity: {report.familiarity_verdict()}",
    ]


def _map_page(report: SituationReport):
    figure = _page(1, report.context.title)
    for row, line in enumerate(_header_lines(report)):
        figure.text(0.06, 0.915 - row * 0.022, textwrap.shorten(line, 125), fontsize=8.5, va="top")
    records = report.records
    by_damage = uses_damage_colours(records)
    placed = [r for r in records if r.polygon_wgs84 is not None]
    frames = [i["footprint_wgs84"] for i in report.assessment.imagery if "footprint_wgs84" in i]
    if placed or frames:
        ax = figure.add_axes(MAP_BOX)
        frame = draw_georeferenced(ax, placed, frames, by_damage, report.context.tiles)
        figure.text(
            0.06, 0.085, f"Map: UTM (WGS84), {len(placed)} georeferenced building(s).", fontsize=7, va="top"
        )
        return figure, (ax, frame), frame.background_note
    photos = [i for i in report.assessment.imagery if i["kind"] == "photo"][:PHOTO_PANELS]
    if not photos:
        figure.text(0.5, 0.45, "No imagery to map.", ha="center", fontsize=11)
        return figure, None, _unplaced_tiles_note(report)
    columns = 1 if len(photos) == 1 else 2
    rows = (len(photos) + columns - 1) // columns
    left, bottom, width, height = MAP_BOX
    for index, image in enumerate(photos):
        col, row = index % columns, index // columns
        ax = figure.add_axes(
            (
                left + col * width / columns,
                bottom + (rows - 1 - row) * height / rows,
                width / columns * 0.96,
                height / rows * 0.92,
            )
        )
        draw_photo(ax, [r for r in records if r.source == image["name"]], image, by_damage)
    if records:
        from seg_core.reports.mapplot import draw_legend

        draw_legend(figure.axes[-1], records, by_damage)
    shown = len(photos)
    total = sum(1 for i in report.assessment.imagery if i["kind"] == "photo")
    figure.text(
        0.06,
        0.085,
        "Not georeferenced: each photo in its own pixel coordinates, orientation unknown (no north arrow)"
        + (f"; first {shown} of {total} photos shown." if total > shown else "."),
        fontsize=7,
        va="top",
    )
    return figure, None, _unplaced_tiles_note(report)


def _unplaced_tiles_note(report: SituationReport) -> str:
    if report.context.tiles is None:
        return ""
    return "The map's tile background was not drawn (the imagery is not georeferenced): plain background instead."


def _table(ax, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
    ax.axis("off")
    if not rows:
        rows = [["—"] * len(header)]
    table = ax.table(cellText=rows, colLabels=header, colWidths=widths, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if row == 0:
            cell.set_facecolor("#e8e8e8")
            cell.get_text().set_fontweight("bold")


def _figures_page(report: SituationReport):
    figure = _page(2, "Summary")
    figures = report.figures()

    def rows(section: str) -> list[list[str]]:
        return [
            [f["name"], format_figure(f["value"], f["unit"]), UNIT_TEXT.get(f["unit"], f["unit"])]
            for f in figures
            if f["section"] == section
        ]

    basis = "damage classes" if report.grades_damage else "flood status"
    figure.text(0.06, 0.91, f"Buildings (damage level from {basis})", fontsize=10, fontweight="bold")
    _table(
        figure.add_axes((0.06, 0.62, 0.42, 0.28)),
        ["Buildings", "Number", ""],
        rows(BUILDINGS),
        [0.6, 0.25, 0.15],
    )
    figure.text(0.52, 0.91, "Ground", fontsize=10, fontweight="bold")
    _table(
        figure.add_axes((0.52, 0.62, 0.42, 0.28)),
        ["Figure", "Value", "Unit"],
        rows(GROUND),
        [0.55, 0.28, 0.17],
    )
    figure.text(0.06, 0.58, "Imagery", fontsize=10, fontweight="bold")
    _table(
        figure.add_axes((0.06, 0.48, 0.42, 0.09)), ["Imagery", "Number", ""], rows(IMAGERY), [0.6, 0.25, 0.15]
    )
    sources = [
        [
            textwrap.shorten(i["name"], 38),
            textwrap.shorten(i["gsd"], 48),
            textwrap.shorten(i["placement"], 52),
        ]
        for i in report.assessment.imagery[:14]
    ]
    _table(
        figure.add_axes((0.06, 0.12, 0.88, 0.33)),
        ["Photo or mosaic", "GSD (source)", "Placement"],
        sources,
        [0.26, 0.34, 0.40],
    )
    return figure


def _area(area_m2: float | None) -> str:
    """A building's area as its record stores it (two decimals)."""
    return "n/a" if area_m2 is None else f"{area_m2:.2f} m²"


def _location(record: BuildingRecord) -> str:
    properties = record.properties()
    if properties["latitude"] is not None:
        return f"{properties['latitude']:.7f}, {properties['longitude']:.7f}"
    return f"px {properties['centroid_x_px']:.1f}, {properties['centroid_y_px']:.1f}"


def _worst_page(report: SituationReport):
    figure = _page(3, "Most damaged buildings")
    worst = report.worst()
    if not worst:
        figure.text(0.06, 0.88, "No building was graded above No damage.", fontsize=10)
        return figure
    row_height = 0.105
    for index, record in enumerate(worst):
        top = 0.9 - index * row_height
        if record.thumbnail is not None:
            ax = figure.add_axes((0.06, top - row_height + 0.01, 0.12, row_height - 0.015))
            ax.imshow(record.thumbnail)
            ax.axis("off")
        p = record.properties()
        flooded = "n/a" if p["flooded"] is None else ("yes" if p["flooded"] else "no")
        lines = [
            f"{p['building_id']}   {p['damage_level']}   share {format_share(p['damage_share'])}   flooded {flooded}",
            f"area {_area(p['area_m2'])}   location {_location(record)}",
            f"source {textwrap.shorten(p['source'], 60)}   confidence {format_share(p['confidence_mean'])}"
            f"   uncertain {format_share(p['uncertain_share'])}",
        ]
        for line_no, line in enumerate(lines):
            figure.text(
                0.2,
                top - 0.012 - line_no * 0.022,
                line,
                fontsize=8.5,
                va="top",
                fontweight="bold" if line_no == 0 else "normal",
            )
    return figure


def _text_page(report: SituationReport, map_note: str = ""):
    figure = _page(4, "Method and caveats")
    y = 0.91
    caveats = report.caveats() + ([map_note] if map_note else [])
    for heading, paragraphs in (("Method", report.method()), ("Caveats", caveats)):
        figure.text(0.06, y, heading, fontsize=11, fontweight="bold", va="top")
        y -= 0.03
        for paragraph in paragraphs[:24]:
            lines = textwrap.wrap(paragraph, 105)
            for line in lines:
                figure.text(0.06, y, line, fontsize=8.5, va="top")
                y -= 0.018
            y -= 0.008
            if y < 0.06:
                return figure
        y -= 0.02
    return figure


def render_report(report: SituationReport) -> bytes:
    """The report as PDF bytes; its first page is georeferenced when it maps georeferenced buildings."""
    import logging

    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    # The core Helvetica's metrics call its weight "medium": matplotlib logs a warning per text.
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    try:
        return _render(report, matplotlib, PdfPages)
    finally:
        fonts.setLevel(level)


def _render(report: SituationReport, matplotlib, PdfPages) -> bytes:  # noqa: N803 - the class passed in
    buffer = io.BytesIO()
    # The PDF core fonts (Helvetica): selectable, searchable text with nothing to embed; embedding
    # DejaVu (Type 42) cost seconds of font subsetting per report.
    with matplotlib.rc_context({"pdf.use14corefonts": True, "font.family": "sans-serif"}):
        map_figure, placed, map_note = _map_page(report)
        pages = (map_figure, _figures_page(report), _worst_page(report), _text_page(report, map_note))
        with PdfPages(buffer, metadata={"Title": report.context.title, "Creator": "StormSeg"}) as pdf:
            for figure in pages:
                pdf.savefig(figure)
    data = buffer.getvalue()
    if placed is None:
        return data
    ax, frame = placed
    left, bottom, width, height = ax.get_position().bounds
    page_w, page_h = (side * POINTS_PER_INCH for side in A4_PORTRAIT)
    bbox = (left * page_w, bottom * page_h, (left + width) * page_w, (bottom + height) * page_h)
    return georeference_page(data, 0, bbox, frame.crs_wkt, frame.corners_latlon())
