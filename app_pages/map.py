"""Map: where the photos were taken and what the orthomosaic shows, coloured by flooded share.

Works offline: layers are drawn on a plain background in metres with a grid as the scale; a
base-map tile URL can be set for machines with internet.
"""

import streamlit as st

from seg_core.services import catalog
from seg_core.views import geomap
from ui import map_view, mosaic_view
from ui.common import friendly_errors, legend_html, load_predictor, percent
from ui.pickers import model_picker
from ui.situation_report import map_report_button

st.title("Map")
st.caption(
    "Georeferenced orthomosaics (GeoTIFF) and GPS-tagged drone photos on a map, coloured by **flooded "
    "share**; click a photo or a mosaic to see its overlay. Downloads: the class GeoTIFF (input's CRS and "
    "grid), class polygons as GeoJSON and GeoPackage (WGS84, with area in m²), and the flight's CSV."
)


def _save_uploads(uploads) -> tuple:
    """(map folder, its input files) for uploaded files."""
    folder = geomap.new_map_folder(uploads[0].name)
    inputs = folder / "inputs"
    inputs.mkdir()
    files = []
    for upload in uploads:
        path = inputs / upload.name
        path.write_bytes(upload.getvalue())
        files.append(path)
    return folder, files


def _demo_inputs() -> tuple:
    """(map folder, its input files) for the built-in demo: a small orthomosaic and three photos."""
    with st.spinner("Drawing a demo orthomosaic and three GPS-tagged photos…"):
        folder = geomap.new_map_folder("demo")
        return folder, geomap.write_demo_inputs(folder / "inputs")


def _run(folder, files, model_path, gsd, flight_height) -> None:
    from seg_core.gis.flight import FlightSettings
    from seg_core.gis.geojob import map_inputs

    bar = st.progress(0.0, text="Starting…")
    stopped = {"now": False}

    def progress_for(name):
        return mosaic_view.window_progress(bar, name, stopped)

    predictor = load_predictor(model_path)
    flight = FlightSettings(gsd_cm=gsd, flight_height_m=flight_height)
    outputs = map_inputs(
        predictor,
        files,
        folder,
        flight,
        progress_for=progress_for,
        should_stop=lambda: stopped["now"],
        model_name=model_path.name,
    )
    bar.empty()
    for sentence in outputs.failures:
        st.error(sentence)
    for notice in outputs.notices:
        st.info(notice)
    if outputs.mosaics or outputs.photos:
        st.session_state["map_folder"] = str(folder)
        if outputs.stopped:
            st.warning("Stopped: the part that was done is kept and shown below (the rest is nodata).")


models = catalog.list_models()
with st.expander("Make a map", expanded=not geomap.list_map_folders()):
    if not models:
        st.warning("There is no model yet: train one on the **Train** page first.")
    else:
        model = model_picker(models)
        uploads = st.file_uploader(
            f"GeoTIFF orthomosaics (3 or 4 bands, 8 or 16 bit, up to {geomap.MAX_UPLOAD_MB} MB; larger ones with "
            "`python -m seg_core map`) or GPS-tagged drone photos",
            type=list(geomap.UPLOAD_TYPES),
            accept_multiple_files=True,
            key="map_upload",
        )
        gsd_col, height_col = st.columns(2)
        gsd = gsd_col.number_input(
            "Photo GSD (cm/px)",
            min_value=0.1,
            max_value=500.0,
            value=None,
            placeholder="from XMP",
            help="Wins over the photos' own metadata. Orthomosaics always use their geotransform.",
        )
        flight_height = height_col.number_input(
            "Flying height above ground (m)",
            min_value=1.0,
            max_value=2000.0,
            value=None,
            placeholder="from XMP",
            help="For photos without XMP RelativeAltitude. EXIF GPS altitude is above sea level and is never used.",
        )
        make, demo = st.columns([1, 2], vertical_alignment="center")
        if make.button("Make the map", type="primary", disabled=not uploads, width="stretch"):
            with friendly_errors("Making the map"):
                _run(*_save_uploads(uploads), model.path, gsd, flight_height)
        if demo.button(
            "Make a demo map",
            icon=":material/travel_explore:",
            help="A 240 m x 120 m synthetic orthomosaic and three GPS-tagged photos over west Houston, "
            "mapped with the chosen model (what `python -m seg_core geo-demo` writes, smaller).",
        ):
            with friendly_errors("Making the demo map"):
                _run(*_demo_inputs(), model.path, None, None)

folders = geomap.list_map_folders()
if not folders:
    st.info(
        "No maps yet. Upload a GeoTIFF orthomosaic or GPS-tagged photos above, or press **Make a demo map** "
        "to see one made from synthetic data."
    )
    st.stop()

names = [str(f) for f in folders]
current = st.session_state.get("map_folder")
folder = st.selectbox(
    "Map",
    names,
    index=names.index(current) if current in names else 0,
    format_func=lambda p: p.rsplit("/", 1)[-1],
)
with st.expander("Base map (needs internet)"):
    tile_url = st.text_input(
        "Tile URL",
        value="",
        placeholder="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        help="Empty: a plain background with a metre grid, which works offline.",
    )

with friendly_errors("Reading the map"):
    view = geomap.read_map(folder)
    event = st.plotly_chart(
        map_view.map_figure(view, tile_url.strip() or None),
        on_select="rerun",
        selection_mode="points",
        key="map_chart",
    )
    selection = (event or {}).get("selection") or {}  # a dict (attribute access is Streamlit's extra)
    points = selection.get("points") or []
    if points:
        custom = points[0].get("customdata")
        layer = view.layers[int(custom[0] if isinstance(custom, list) else custom)]
        st.subheader(layer.name)
        st.caption(f"Flooded {percent(layer.flooded_share)}")
        picture, legend = st.columns([4, 1.3])
        if layer.kind == "photo":
            overlay = geomap.photo_overlay_path(view.folder, layer.name)
            if overlay:
                picture.image(str(overlay), caption="overlay of the predicted classes")
        else:
            picture.image(geomap.mosaic_preview(view.folder, layer.properties), caption="downsampled overlay")
        with legend:
            st.markdown("**Legend** · share")
            st.html(legend_html(geomap.layer_legend(view, layer)))
        if layer.kind == "mosaic":
            st.dataframe(geomap.mosaic_details(layer), hide_index=True, placeholder="–")
            for notice in layer.properties.get("notices") or []:
                st.info(notice)
    else:
        st.caption("Click a photo or a mosaic to see its overlay.")
    columns = st.columns(min(4, max(1, len(view.downloads))))
    for index, path in enumerate(view.downloads):
        columns[index % len(columns)].download_button(
            path.name, data=path.read_bytes(), file_name=path.name, key=f"map_dl_{path.name}"
        )
    map_report_button(view.folder, tile_url)
