"""Segment: pick a model, upload drone photos (or use the samples), look at the class map, download it."""

import streamlit as st

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.services import analysis, catalog, geoupload
from seg_core.services.analysis import MAX_BATCH_PHOTOS, PhotoAnalysis, PhotoFailure, PhotoInput
from ui import mosaic_view, segment_view
from ui.auth import current_caller
from ui.batch_jobs import background_batch
from ui.common import friendly_errors, load_predictor, percent
from ui.pickers import model_picker, pick_by_id
from ui.situation_report import segment_report_button

SAMPLE_GSD_KEY = "segment_gsd_from_samples"  # the GSD box holds the samples' GSD, not the analyst's
UPLOADS_KEY = "segment_files"  # the uploads as (name, bytes): a page change empties the uploader

st.title("Segment photos")
st.caption(
    "Upload drone photos and get a per-pixel map of roofs, roads, vehicles, pools, trees, water, "
    "**flooded ground**, boats and the other Harvey classes, with flood exposure figures and downloads. "
    "GeoTIFF orthomosaics are segmented window by window into georeferenced maps."
)

models = catalog.list_models()
if not models:
    st.warning(
        "There is no model yet. Train one on the **Train** page (a few minutes on the demo dataset, which "
        "**Home** generates in seconds), or rebuild the shipped demo model with "
        f"`scripts/train_demo_model.sh`, which writes `{paths.DEMO_CHECKPOINT}`."
    )
    st.stop()


def _upload_key() -> str:
    return f"segment_upload_{st.session_state.get('segment_upload_round', 0)}"


def _use_samples() -> None:
    st.session_state["segment_samples"] = True
    st.session_state[UPLOADS_KEY] = []
    # A new uploader key empties the uploader, whose files would otherwise take precedence.
    st.session_state["segment_upload_round"] = st.session_state.get("segment_upload_round", 0) + 1
    if st.session_state.get("segment_gsd") is None:  # their own GSD, so areas come out in m²
        st.session_state["segment_gsd"] = catalog.SAMPLE_GSD_CM
        st.session_state[SAMPLE_GSD_KEY] = True


def _remember_uploads() -> None:
    """Files added or removed replace the remembered uploads. An uploader that became empty is
    no sign: coming back from another page empties it too (Streamlit drops a page's widgets when
    it is left), so only "Clear them" forgets the photos."""
    files = st.session_state.get(_upload_key()) or []
    if files:
        st.session_state[UPLOADS_KEY] = [(f.name, f.getvalue()) for f in files]
        st.session_state["segment_samples"] = False
        if st.session_state.pop(SAMPLE_GSD_KEY, False):  # the samples' GSD is not the analyst's photos'
            st.session_state["segment_gsd"] = None


def _forget_uploads() -> None:
    st.session_state[UPLOADS_KEY] = []
    st.session_state["segment_upload_round"] = st.session_state.get("segment_upload_round", 0) + 1


with st.container(border=True):
    model_col, gsd_col, tta_col = st.columns([3.0, 1.6, 1.9])
    model_path = model_picker(models, container=model_col).path
    try:
        modified_ns = model_path.stat().st_mtime_ns  # part of the cache key: a retrained model re-runs
    except OSError:
        st.error(f"The model file {model_path} has just disappeared (was its run deleted?); pick another.")
        st.stop()
    model_col.caption(segment_view.model_description(model_path))
    gsd = gsd_col.number_input(
        "Ground sampling distance (cm/px)",
        min_value=0.1,
        max_value=500.0,
        value=None,
        step=0.5,
        placeholder="optional",
        key="segment_gsd",
        persist_state="session",  # kept when the analyst visits another page
        help="Ground size of one pixel, for areas in m²: about 3.0 for the Harvey drone photos, "
        f"{catalog.SAMPLE_GSD_CM:g} for the sample photos (filled in when you use them). Leave empty if unknown.",
    )
    tta = tta_col.toggle(
        "Test-time augmentation",
        key="segment_tta",
        persist_state="session",
        help="Averages 8 rotated/flipped passes: slightly cleaner masks, about 8× slower.",
    )
    tta_col.caption("on: 8 passes, about 8× slower" if tta else "off: fastest")

    upload_col, sample_col = st.columns([4.8, 1.6], vertical_alignment="center")
    uploads = upload_col.file_uploader(
        "Drone photos (JPEG, PNG or TIFF, up to 4592×3072 px) or GeoTIFF orthomosaics",
        type=list(analysis.UPLOAD_TYPES),
        accept_multiple_files=True,
        key=_upload_key(),
        on_change=_remember_uploads,
        help=f"A GeoTIFF with a CRS (3 or 4 bands, 8 or 16 bit) is segmented as an orthomosaic, window by "
        f"window at the model's working GSD, up to {geoupload.MAX_GEOTIFF_MB} MB and "
        f"{geoupload.MAX_GEOTIFF_PIXELS / 1e6:.0f} megapixels; larger ones with `python -m seg_core map`.",
    )
    samples = catalog.sample_photos()
    sample_col.button(
        "Use the sample photos",
        on_click=_use_samples,
        disabled=not samples,
        width="stretch",
        help=f"{len(samples)} synthetic flood scenes shipped in samples/ ({catalog.SAMPLE_GSD_CM:g} cm/px).",
    )
    remembered = st.session_state.get(UPLOADS_KEY) or []
    if remembered:  # also after a visit to another page, whose return empties the uploader
        names = ", ".join(name for name, _ in remembered[:4]) + (" …" if len(remembered) > 4 else "")
        note_col, clear_col = st.columns([4.8, 1.6], vertical_alignment="center")
        note_col.caption(f"Segmenting the {count(len(remembered), 'file')} you uploaded: {names}")
        clear_col.button("Clear them", on_click=_forget_uploads, width="stretch")

background_batch(model_path, gsd, tta)

if remembered:
    mosaics, photo_files = mosaic_view.split_uploads(remembered)
    if mosaics:
        with friendly_errors("Segmenting the orthomosaic"):
            for mosaic in mosaic_view.run_mosaics(mosaics, model_path, f"{model_path}:{modified_ns}"):
                with st.container(border=True):
                    st.subheader(mosaic.name)
                    mosaic_view.mosaic_view(mosaic)
        if not photo_files:
            st.stop()
    photos = [PhotoInput(name, data) for name, data in photo_files]
elif st.session_state.get("segment_samples") and samples:
    photos = analysis.inputs_from_paths(samples)
else:
    st.info("Upload one or more photos, or click **Use the sample photos** to try it straight away.")
    st.stop()

if len(photos) > MAX_BATCH_PHOTOS:
    st.warning(
        f"{len(photos)} photos were given; the first {MAX_BATCH_PHOTOS} are segmented. "
        "Split bigger sets into batches (or use `python -m seg_core predict`)."
    )
    photos = photos[:MAX_BATCH_PHOTOS]

bar = st.empty()
results = None
with friendly_errors("Segmenting the photos"):
    results = analysis.run_batch(
        photos,
        st.session_state.setdefault("segment_results", {}),
        lambda: load_predictor(model_path),
        f"{model_path}:{modified_ns}",
        gsd,
        tta,
        progress=lambda fraction, text: bar.progress(fraction, text=text),
        caller=current_caller(),
    )
bar.empty()
if results is None:
    st.stop()

for failure in (r for r in results if isinstance(r, PhotoFailure)):
    st.warning(f"Skipped {failure.message}", icon="⚠️")
done = [r for r in results if isinstance(r, PhotoAnalysis)]
if not done:
    st.stop()

with friendly_errors("Showing the results"):
    if len(done) == 1:
        segment_view.photo_view(done[0])
    else:
        photo_tab, batch_tab = st.tabs([f"One photo at a time ({len(done)})", "Batch summary"])
        with photo_tab:
            by_name = {r.name: r for r in done}  # a batch holds each file once (analysis.run_batch)
            pick = pick_by_id(
                "Photo",
                list(by_name),
                lambda n: f"{n} · flooded {percent(by_name[n].stats.flood.flooded_share)}",
                "segment_photo",
            )
            segment_view.photo_view(by_name[pick])
        with batch_tab:
            segment_view.batch_view(done, st.session_state.get("segment_opacity", 0.5))
    segment_report_button(done, model_path)
