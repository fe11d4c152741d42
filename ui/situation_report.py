"""The "Situation report" download on Segment (a batch of photos) and Map (a map folder): one click
builds the PDF (`seg_core.services.situation`) while the page stays usable."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from seg_core.services import situation
from ui.common import load_predictor

log = logging.getLogger(__name__)
HELP = (
    "A PDF for responders: a map of the buildings coloured by FEMA damage level (or flood status), "
    "buildings per level, flooded buildings, roads, vehicles and boats, the most damaged buildings "
    "with thumbnails and coordinates, and the method and caveats. The building files (GeoPackage, "
    "shapefile, file geodatabase) come from `python -m seg_core buildings`."
)


def _logged(build):
    """The PDF, or the error logged (the download runs outside the page script, which cannot show it)."""

    def run() -> bytes:
        try:
            return build()
        except Exception:
            log.exception("situation report failed")
            raise

    return run


def segment_report_button(results: list, model_path: Path) -> None:
    """Download the situation report of the Segment page's analysed photos."""

    def build() -> bytes:
        predictor = load_predictor(model_path)
        return situation.segment_batch_report(results, predictor, model_path.name)

    st.download_button(
        "Situation report (PDF)",
        data=_logged(build),
        file_name="situation_report.pdf",
        mime="application/pdf",
        help=HELP,
        key="segment_situation_report",
    )


TILES_HELP = (
    "Optional: an XYZ tile URL template drawn under the report's map, e.g. "
    "https://tile.example/{z}/{x}/{y}.png, or a local tile folder file:///data/tiles/{z}/{x}/{y}.png "
    "(works offline). Empty: the base map's Tile URL, if set. Unreachable or not georeferenced: a "
    "plain background, and the report says why among its caveats."
)


def map_report_button(folder: Path, base_tiles: str | None = None) -> None:
    """Download the situation report of the map folder on show, over the report's tile URL (else
    the base map's, `base_tiles`), if any."""
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    template = left.text_input(
        "Report map tiles (optional)",
        key="map_report_tiles",
        placeholder="https://tile.example/{z}/{x}/{y}.png",
        help=TILES_HELP,
    )
    tiles = situation.tile_background(template or base_tiles)
    right.download_button(
        "Situation report (PDF)",
        data=_logged(lambda: situation.map_folder_report(folder, tiles=tiles)),
        file_name=f"situation_report_{Path(folder).name}.pdf",
        mime="application/pdf",
        help=HELP,
        key="map_situation_report",
    )
