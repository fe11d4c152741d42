"""GeoTIFF orthomosaics uploaded on the Segment page: run them (cached per session) and draw each
one's downsampled overlay, figures and full-resolution downloads (widgets only)."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from pathlib import Path

import streamlit as st

from seg_core.core.progress import eta_updates
from seg_core.services import geoupload
from seg_core.services.geoupload import MosaicAnalysis
from seg_core.views import mosaic_figures
from seg_core.views.figures import familiarity_note
from ui.auth import current_caller
from ui.common import legend_html, load_predictor, metrics_grid, show_note

MIME = {
    ".tif": "image/tiff",
    ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3",
    ".csv": "text/csv",
}


def split_uploads(
    files: Sequence[tuple[str, bytes]],
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(orthomosaics, photos); the sorting (a GDAL open) is remembered per name and size."""
    sorted_before: MutableMapping = st.session_state.setdefault("segment_is_mosaic", {})
    mosaics, photos = [], []
    for name, data in files:
        key = (name, len(data))
        if key not in sorted_before:
            sorted_before[key] = geoupload.is_orthomosaic(name, data)
        (mosaics if sorted_before[key] else photos).append((name, data))
    return mosaics, photos


def window_progress(bar, name: str, stopped: dict):
    """A (done, total) callback drawing `name`'s windows with ETA on `bar`; the Stop button (or
    leaving the page) raises inside the bar's update: that sets stopped["now"], so the windows
    done are kept."""

    def show(fraction: float, text: str) -> None:
        try:
            bar.progress(fraction, text=text)
        except BaseException:  # noqa: BLE001 - Stop (or leaving the page): keep the windows done
            stopped["now"] = True

    return eta_updates(show, name, "window")


def _progress_bar(name: str, stopped: dict):
    bar = st.progress(0.0, text=f"{name}: starting…")
    return bar, window_progress(bar, name, stopped)


def run_mosaics(
    mosaics: Sequence[tuple[str, bytes]], model_path: Path, model_key: str
) -> list[MosaicAnalysis]:
    """Segment the mosaics not done yet in this session; refusals are shown with st.error."""
    cache: MutableMapping = st.session_state.setdefault("segment_mosaics", {})
    keys = {(name, len(data), model_key): (name, data) for name, data in mosaics}
    for stale in [k for k in cache if k not in keys]:
        del cache[stale]
    for key, (name, data) in keys.items():
        if key in cache:
            continue
        stopped = {"now": False}
        bar, update = _progress_bar(name, stopped)
        try:
            cache[key] = geoupload.analyse_mosaic(
                load_predictor(model_path),
                name,
                data,
                progress=update,
                should_stop=lambda flags=stopped: flags["now"],
                caller=current_caller(),
                model_name=model_path.name,
            )
        except ValueError as exc:  # MosaicError, CheckpointError: one sentence naming the file
            cache[key] = str(exc)
        bar.empty()
    done = []
    for key in keys:
        if isinstance(cache[key], str):
            st.error(cache[key])
        else:
            done.append(cache[key])
    return done


def mosaic_view(result: MosaicAnalysis) -> None:
    """Downsampled overlay | legend, key figures, class areas, downloads and the Map page link."""
    width, height = result.size
    image_col, legend_col = st.columns([10, 2.6])
    image_col.image(
        result.preview,
        width="stretch",
        caption=f"{result.name} · {width}×{height} px, shown downsampled with its predicted classes",
    )
    rows = mosaic_figures.class_table(result)
    with legend_col:
        st.markdown("**Legend** · share of the mosaic")
        st.markdown(
            legend_html([{"color": r["color"], "name": r["class"], "share": r["share"]} for r in rows]),
            unsafe_allow_html=True,
        )
    show_note(familiarity_note(None if result.familiarity is None else result.familiarity[1]))
    metrics_grid(mosaic_figures.key_figures(result))
    if result.summary.get("stopped"):
        st.warning("Stopped: the windows done are kept; the rest of the class map is nodata.")
    table_col, files_col = st.columns([3, 2])
    with table_col:
        st.markdown("**Per class** (areas from the raster's own GSD)")
        st.dataframe(
            [{k: r[k] for k in ("class", "share", "area_m2")} for r in rows],
            hide_index=True,
            placeholder="–",
            width="stretch",
            column_config={
                "class": st.column_config.TextColumn("Class"),
                "share": st.column_config.ProgressColumn(
                    "Share of mosaic", format="percent", min_value=0.0, max_value=1.0
                ),
                "area_m2": st.column_config.NumberColumn("Area (m²)", format="%.1f"),
            },
        )
        st.caption(" · ".join(mosaic_figures.gsd_lines(result)))
    with files_col:
        st.markdown("**Downloads** (full resolution, georeferenced)")
        for path in result.downloads():
            st.download_button(
                path.name,
                path.read_bytes,
                file_name=path.name,
                mime=MIME.get(path.suffix),
                on_click="ignore",
                width="stretch",
                key=f"segment_dl_{path.name}",
            )
        st.caption(
            "Class GeoTIFF: the input's CRS and grid, class ids 0–24 with the legend as its colour "
            "table, 255 = nodata. GeoJSON and GeoPackage: class polygons in WGS84 with area in m²."
        )
        for notice in result.notices:  # a window that could not be decoded is map data lost
            (st.error if mosaic_figures.is_data_loss(notice) else st.info)(notice)
        st.session_state["map_folder"] = str(result.folder)
        st.page_link("app_pages/map.py", label="See it on the Map page", icon=":material/map:")
