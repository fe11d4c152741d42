"""Data: check a labelled dataset before training — what is usable, what is wrong file by file,
which classes it holds, and what the photos and masks look like."""

from __future__ import annotations

import streamlit as st

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.datasets.discovery import LAYOUTS, ValidationReport, validate_dataset
from seg_core.services import catalog
from seg_core.views import gallery
from ui.auth import current_actor, current_caller, may
from ui.charts import class_distribution
from ui.common import friendly_errors, legend_html

LAYOUT_WORDS = {"harvey": "train_images/ + train_masks/", "generic": "images/ + masks/"}
PER_PAGE = 9  # a 3 x 3 grid: big enough to judge a mask, few enough to decode in about a second
THUMB_SIDE = 420  # px, long side: sharp in a third of a wide page
REPORTS_KEPT = 3  # validation reports remembered per session (each holds a list of pairs)


def _folder_stamp(info: catalog.DatasetInfo) -> tuple:
    """Modification times of the dataset's folders: adding, removing or renaming a file changes them."""
    folders = [info.path, *(info.path / name for name in LAYOUTS[info.layout] if name)]
    return tuple(f.stat().st_mtime_ns if f.is_dir() else 0 for f in folders)


def _validated(info: catalog.DatasetInfo, force: bool) -> ValidationReport | None:
    """The validation report, recomputed only when the folders changed or on request."""
    key = (str(info.path), _folder_stamp(info))
    reports: dict = st.session_state.setdefault("data_reports", {})
    if force or key not in reports:
        bar = st.progress(0.0, text="Checking image/mask pairs…")
        with friendly_errors(f"Checking {info.name}"):
            report = validate_dataset(
                info.path,
                progress=lambda done, total: bar.progress(done / total, f"Checked {done} of {total} pairs"),
            )
            reports[key] = report
            while len(reports) > REPORTS_KEPT:
                reports.pop(next(iter(reports)))
        bar.empty()
    return reports.get(key)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Drawing thumbnails…")
def _thumbnails(pairs: tuple, scheme, stamp: tuple, opacity: float) -> list[gallery.Thumb]:
    """One gallery page; `stamp` only keys the cache so a changed dataset is redrawn."""
    return gallery.thumbnail_overlays(
        list(pairs), scheme, max_side=THUMB_SIDE, opacity=opacity, count=len(pairs)
    )


DELETE_KEY = "data_delete_target"  # the dataset whose confirmation is open (survives reruns)


@st.dialog("Delete dataset?", on_dismiss=lambda: st.session_state.pop(DELETE_KEY, None))
def confirm_delete(name: str) -> None:
    st.markdown(f"Delete the dataset **{name}** with every photo and mask in it? This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button("Delete for good", type="primary", width="stretch"):
        st.session_state.pop(DELETE_KEY, None)
        with friendly_errors(f"Deleting {name}"):
            folder = catalog.delete_dataset(name, caller=current_caller())
            st.session_state["data_notice"] = f"Deleted the dataset {name} ({folder})."
            st.rerun()
    if no.button("Keep it", width="stretch"):
        st.session_state.pop(DELETE_KEY, None)
        st.rerun()


st.title("Data")
st.caption(
    "Check a labelled dataset before training on it: which image/mask pairs are usable, what is "
    "wrong with the rest, which classes it holds and what the masks look like."
)

if notice := st.session_state.pop("data_notice", None):
    st.success(notice)
datasets = catalog.list_datasets()
if not datasets:
    st.info(
        f"No dataset yet. Put a dataset folder under **`{paths.data_root()}`**: either the Harvey "
        "layout (`train_images/` + `train_masks/`, optional `test_images/`) or `images/` + `masks/`. "
        "Masks are single-channel PNGs of class ids 0..24 with the same file name as their photo."
    )
    st.page_link("app_pages/home.py", label="Or generate a synthetic demo dataset on Home", icon="🌀")
    st.stop()

by_name = {d.name: d for d in datasets}
pick, recheck = st.columns([4, 1], vertical_alignment="bottom")
name = pick.selectbox(
    "Dataset",
    list(by_name),
    format_func=lambda n: f"{n}  ·  {LAYOUT_WORDS[by_name[n].layout]}, {count(by_name[n].images, 'image')}",
    help=f"Folders under {paths.data_root()}",
)
force = recheck.button("Check again", help="Re-read every file (e.g. after replacing files in place)")
if may(current_actor(), "dataset.delete") and recheck.button(
    "Delete dataset…", help="Asks for confirmation first."
):
    st.session_state[DELETE_KEY] = name
if st.session_state.get(DELETE_KEY) == name:
    confirm_delete(name)
info = by_name[name]
report = _validated(info, force)
if report is None:
    st.stop()

images, masks, usable, test = st.columns(4)
images.metric("Images", report.n_images)
masks.metric("Masks", report.n_masks)
usable.metric(
    "Usable pairs",
    len(report.pairs),
    help="an image and its mask, both readable, same size, ids of the dataset's label scheme",
)
test.metric("Test images", len(report.test_images), help="test_images/: photos without masks (Harvey layout)")
st.caption(
    f"`{report.root}` · {report.scheme_note or 'label scheme unknown'} · checked in {max(report.seconds, 0.1):.1f} s"
)

# --- labelling state and problems ------------------------------------------------------------------
counts = gallery.problem_counts(report)
awaiting = gallery.awaiting_label(report)
if not report.pairs and not awaiting:
    st.error(
        "No usable image/mask pairs: nothing here can be trained or evaluated on. See the problems below."
    )
elif not report.pairs:
    st.info(
        f"No photo is labelled yet: {count(awaiting, 'photo')} await{'s' if awaiting == 1 else ''} a label."
    )
elif not counts:
    st.success(f"{count(len(report.pairs), 'labelled pair')}, all usable; no problems found.")
else:
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    faults = sum(counts.values())
    st.warning(
        f"{count(len(report.pairs), 'labelled pair')} usable. {count(faults, 'file')} "
        f"{'is' if faults == 1 else 'are'} left out: {summary}. Training and evaluation skip "
        f"{'it' if faults == 1 else 'them'}; fix or remove {'it' if faults == 1 else 'them'} to use "
        f"{'it' if faults == 1 else 'them'}."
    )
if awaiting and report.pairs:
    st.info(
        f"{count(awaiting, 'photo')} {'awaits' if awaiting == 1 else 'await'} a label (no mask yet): training "
        "and evaluation use the labelled pairs until then."
    )
if awaiting:
    st.page_link("app_pages/label.py", label="Label them on the Label page", icon=":material/brush:")
if counts or awaiting:
    st.dataframe(
        gallery.problem_rows(report),
        hide_index=True,
        placeholder="–",
        column_config={
            "problem": st.column_config.TextColumn("Problem", width=210),
            "file": st.column_config.TextColumn("File", width=260),
            "message": st.column_config.TextColumn("What is wrong", width=700),
        },
    )

if not report.pairs:
    st.stop()

# --- classes and sizes ----------------------------------------------------------------------------
chart, sizes = st.columns([3, 1])
with chart:
    st.plotly_chart(
        class_distribution(
            report.class_frequencies(), report.scheme, title="Pixel share per class (all usable masks)"
        ),
        key="class_distribution",
    )
with sizes:
    st.markdown("**Image sizes**")
    st.dataframe(
        [{"size (px)": size, "pairs": n} for size, n in report.image_sizes.items()],
        hide_index=True,
        placeholder="–",
    )
    absent = [
        e["name"]
        for e, share in zip(report.scheme.legend_entries(), report.class_frequencies(), strict=True)
        if share == 0
    ]
    if absent:
        st.caption(f"Classes with no pixels: {', '.join(absent)}.")

# --- gallery --------------------------------------------------------------------------------------
st.subheader("Photos with their masks")
pages = max(1, -(-len(report.pairs) // PER_PAGE))
controls = st.columns([2, 2, 3])
opacity = controls[0].slider(
    "Mask opacity", 0.0, 1.0, 0.5, 0.05, help="0 shows the photo, 1 the class colours only"
)
page = (
    controls[1].number_input(f"Page (of {pages})", 1, pages, 1, help=f"{PER_PAGE} pairs per page")
    if pages > 1
    else 1
)
start = (page - 1) * PER_PAGE
shown = report.pairs[start : start + PER_PAGE]
controls[2].caption(f"Pairs {start + 1}–{start + len(shown)} of {len(report.pairs)}, in file-name order.")

grid, legend = st.columns([4, 1])
with grid, friendly_errors("Drawing thumbnails"):
    thumbs = _thumbnails(tuple(shown), report.scheme, _folder_stamp(info), opacity)
    for row in range(0, len(thumbs), 3):
        for column, thumb in zip(st.columns(3), thumbs[row : row + 3], strict=False):
            if thumb.overlay is None:
                column.warning(thumb.error)
            else:
                column.image(thumb.overlay, caption=thumb.caption, width="stretch")
with legend:
    st.markdown("**Classes**")
    st.html(legend_html(report.scheme.legend_entries()))
