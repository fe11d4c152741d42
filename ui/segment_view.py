"""Drawing one segmented photo and a batch summary on the Segment page (widgets only)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from seg_core.analytics import report, statistics
from seg_core.services import analysis
from seg_core.services.analysis import PhotoAnalysis
from seg_core.views import downloads, figures
from ui.common import checkpoint_summary, colour_bar_html, legend_html, metrics_grid, show_note

LEGEND_MIN_SHARE = 0.001  # rarer classes would all read "0.0%"; the per-class table lists them


def model_description(path: Path) -> str:
    """One line about a checkpoint (its summary is cached per file version)."""
    return figures.describe_model(checkpoint_summary(path))


def photo_view(result: PhotoAnalysis) -> None:
    """Controls, photo | overlay | legend, key figures, class table and downloads of one photo."""
    present = [row["name"] for row in result.legend]
    opacity_col, classes_col, edges_col, view_col = st.columns([2, 4.0, 2.0, 2], vertical_alignment="bottom")
    opacity = opacity_col.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="segment_opacity")
    shown = classes_col.multiselect(
        "Classes to colour",
        present,
        default=present,
        key=f"segment_classes_{result.name}",
        help="Remove a class to see the photo under it; the statistics always cover every class.",
    )
    boundaries = edges_col.toggle("Boundaries", key="segment_boundaries", help="Outline every class region.")
    view = view_col.radio(
        "View",
        ["Side by side", "Overlay only"],
        horizontal=True,
        key="segment_view",
        label_visibility="collapsed",
    )
    layer = st.radio(
        "Overlay",
        ["Classes", "Uncertainty"],
        horizontal=True,
        key="segment_layer",
        disabled=result.uncertainty is None,
        help="Uncertainty: dark where the model is sure, bright yellow where it hesitates "
        "between classes (1 - top class probability, full colour at 0.5).",
    )
    ids = analysis.class_ids(shown, result.scheme)
    # Above the pictures: the figures below them and the pictures themselves may not be reliable.
    show_note(figures.familiarity_note(result.stats.familiarity), label_link=True)

    width, height = result.original_size
    overlay = analysis.render_overlay(result, opacity, ids, boundaries)
    if view == "Side by side":
        photo_col, overlay_col, legend_col = st.columns([5, 5, 2.6])
        photo_col.image(result.photo, caption=f"Photo · {width}×{height} px", width="stretch")
    else:
        overlay_col, legend_col = st.columns([10, 2.6])
    doubt = analysis.render_uncertainty(result, opacity) if layer == "Uncertainty" else None
    if doubt is not None:
        overlay_col.image(doubt, caption="Uncertainty (dark: sure · yellow: unsure)", width="stretch")
    else:
        overlay_col.image(overlay, caption="Predicted classes", width="stretch")
    with legend_col:
        if doubt is not None:  # the overlay shows uncertainty, not classes: its scale, not the legend
            stops = figures.uncertainty_colour_stops()
            st.markdown("**Uncertainty** · 1 − top class probability")
            st.html(colour_bar_html([c for _, c in stops], f"{stops[-1][0]:.2f} or more: unsure", "0: sure"))
            st.caption("Switch the overlay to Classes for the class legend.")
    if doubt is None:
        _class_legend(legend_col, result)
    metrics_grid(figures.key_figures(result.stats, result.scheme) + figures.uncertainty_figures(result.stats))
    if result.stats.gsd_cm is None:
        st.caption("Enter the ground sampling distance above to get areas in square metres.")
    _table_and_downloads(result, opacity, ids, boundaries)


def _class_legend(column, result: PhotoAnalysis) -> None:
    with column:
        st.markdown("**Legend** · share of the photo")
        visible = [row for row in result.legend if row["share"] >= LEGEND_MIN_SHARE]
        st.markdown(legend_html(visible), unsafe_allow_html=True)
        if len(visible) < len(result.legend):
            rest = len(result.legend) - len(visible)
            st.caption(
                f"and {rest} more class{'es' if rest > 1 else ''} under {LEGEND_MIN_SHARE:.1%} each "
                "(see the table below)"
            )


def _table_and_downloads(result: PhotoAnalysis, opacity: float, ids, boundaries: bool) -> None:
    table_col, files_col = st.columns([3, 2])
    with table_col:
        st.markdown("**Per class**")
        st.dataframe(
            figures.class_table(result.stats, result.scheme),
            hide_index=True,
            width="stretch",
            column_config={
                "class": st.column_config.TextColumn("Class"),
                "share": st.column_config.ProgressColumn(
                    "Share of photo", format="percent", min_value=0.0, max_value=1.0
                ),
                "area_m2": st.column_config.NumberColumn("Area (m²)", format="%.1f"),
                "objects": st.column_config.NumberColumn(
                    "Objects", help="separate objects of a countable class (surfaces have none)"
                ),
            },
            placeholder="",
        )
    with files_col:
        st.markdown("**Downloads** (full resolution)")
        for file in downloads.download_files(result, opacity, ids, boundaries):
            st.download_button(
                file.label,
                file.build,
                file_name=file.file_name,
                mime=file.mime,
                on_click="ignore",
                width="stretch",
                key=f"segment_dl_{file.file_name}",
            )
        st.caption(
            f"The mask PNG stores class ids 0–{result.scheme.num_classes - 1} ({result.scheme.name}) as "
            "pixel values with the legend colours as its palette; the overlay is drawn as shown here."
        )
        for notice in result.notices:
            st.info(notice)
        seconds = result.seconds
        st.caption(f"Segmented in {seconds.get('total', 0):.1f} s (model {seconds.get('forward', 0):.1f} s).")


def batch_view(results: list[PhotoAnalysis], opacity: float) -> None:
    """Totals, one row per photo and the batch downloads."""
    familiarity = statistics.batch_summary([r.stats for r in results]).get("familiarity")
    if familiarity and familiarity["status"] == "unfamiliar":
        show_note(figures.familiarity_note(familiarity), label_link=True)
    metrics_grid(figures.batch_figures(results))
    st.dataframe(
        figures.batch_table(results),
        hide_index=True,
        placeholder="–",
        width="stretch",
        column_config={
            "photo": st.column_config.TextColumn("Photo"),
            "size": st.column_config.TextColumn("Size (px)"),
            "flooded": st.column_config.ProgressColumn(
                "Flooded", format="percent", min_value=0.0, max_value=1.0
            ),
            "roofs exposed": st.column_config.TextColumn("Roofs exposed"),
            "road corridor flooded": st.column_config.NumberColumn("Roads flooded", format="percent"),
            "flooded m²": st.column_config.NumberColumn("Flooded (m²)", format="%.0f"),
            "vehicles": st.column_config.NumberColumn("Vehicles"),
            "boats": st.column_config.NumberColumn("Boats"),
            "familiarity": st.column_config.TextColumn(
                "Familiarity", help="Not seen: treat the figures as unreliable"
            ),
            "pools": st.column_config.NumberColumn("Pools"),
            "seconds": st.column_config.NumberColumn("Seconds", format="%.1f"),
        },
    )
    zip_col, csv_col, _ = st.columns([1, 1, 2])
    zip_col.download_button(
        "Download everything (ZIP)",
        lambda: downloads.batch_downloads(results, opacity),
        file_name="stormseg_batch.zip",
        mime="application/zip",
        on_click="ignore",
        type="primary",
        width="stretch",
        key="segment_dl_zip",
        help="Masks and overlays at full resolution, statistics CSV and JSON, and the legend.",
    )
    csv_col.download_button(
        "Statistics CSV (all photos)",
        lambda: report.stats_csv([r.stats for r in results]).encode(),
        file_name="stormseg_stats.csv",
        mime="text/csv",
        on_click="ignore",
        width="stretch",
        key="segment_dl_batch_csv",
    )
