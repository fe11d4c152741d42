"""Evaluate: score a model on a labelled dataset the way the competition did, see which classes
it gets wrong and with what, and look at the photos it gets most wrong."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.evaluation.evaluate import evaluate_checkpoint
from seg_core.labelling.provenance import OWN_TRUTH_TOLERANCE
from seg_core.services import catalog
from seg_core.views import gallery
from ui.charts import confusion_heatmap
from ui.common import checkpoint_summary, friendly_errors, legend_html, load_predictor
from ui.pickers import model_picker

WORST_SHOWN = 6  # re-predicted at display time: a few seconds even for 12-megapixel photos
STRIP_SIDE = 360  # px per panel: three panels fill half of a wide page
RESULTS_KEPT = 4  # evaluations remembered per session (each holds a 25x25 matrix and 6 strips)
SPLITS = {
    "auto": "Auto",
    "val": "Validation split",
    "all": "All pairs",
}
SPLIT_HELP = (
    "**Auto**: the model's own validation split when this is the dataset it was trained on (its "
    "training photos would flatter it), otherwise every pair. **Validation split**: always the "
    "held-out pairs, chosen with the model's training seed and ratio. **All pairs**: every usable pair."
)

st.title("Evaluate")
st.caption(
    "Score a model on a labelled dataset the way the competition scored it, see which classes it "
    "confuses, and look at the photos it gets most wrong."
)

models = catalog.list_models()
datasets = catalog.list_datasets()
if not models:
    st.info("No model to evaluate yet: train one first (each run's best checkpoint appears here).")
    st.page_link("app_pages/train.py", label="Open Train", icon="🏋️")
    st.stop()
if not datasets:
    st.info(f"No labelled dataset yet: put one under `{paths.data_root()}` (see **Data**).")
    st.page_link("app_pages/data.py", label="Open Data", icon="🗂️")
    st.stop()

datasets_by_name = {d.name: d for d in datasets}
left, right = st.columns(2)
with left:
    model = model_picker(models)
    summary = checkpoint_summary(model.path)  # cached: loading + hashing 19 MB on every rerun is not
    if "error" in summary:
        st.warning(summary["error"])
    else:
        trained_on = Path(summary["data"]).name if summary.get("data") else "unknown data"
        st.caption(
            f"{summary['arch']} / {summary['encoder']} at {summary['resolution']} px · trained on `{trained_on}`"
        )
with right:
    dataset = datasets_by_name[
        st.selectbox(
            "Labelled dataset",
            list(datasets_by_name),
            format_func=lambda n: f"{n}  ·  {count(datasets_by_name[n].images, 'image')}",
        )
    ]
options, run = st.columns([4, 1], vertical_alignment="bottom")
with options:
    split_col, tta_col, own_col = st.columns([2, 1.2, 1.6])
    split = split_col.radio(
        "Photos to score", list(SPLITS), format_func=SPLITS.get, horizontal=True, help=SPLIT_HELP
    )
    tta = tta_col.toggle(
        "Test-time augmentation",
        help="Average each prediction over 8 flips and rotations: about 8x slower, usually a little more accurate.",
    )
    include_own = own_col.toggle(
        "Include its own pre-labels",
        help=f"Masks of which more than {OWN_TRUTH_TOLERANCE:.0%} is this model's own pre-label that nobody "
        "changed or confirmed (or accepted in review) are left out: scored on them, a model agrees with "
        "itself. Switch on to score them anyway.",
    )
clicked = run.button("Evaluate", type="primary", width="stretch")

try:
    key = (str(model.path), model.path.stat().st_mtime_ns, dataset.name, split, tta, include_own)
except OSError:  # the checkpoint vanished between listing and now (a run was deleted)
    st.error(f"{model.path}: the checkpoint is gone; pick another model.")
    st.stop()
results: dict = st.session_state.setdefault("evaluations", {})

if clicked:
    with friendly_errors("Evaluating the model"):
        predictor = load_predictor(model.path)
        bar = st.progress(0.0, text="Segmenting photos…")
        result = evaluate_checkpoint(
            predictor,
            dataset.path,
            split,
            tta,
            progress=lambda done, total: bar.progress(done / total, f"Segmented {done} of {total} photos"),
            checkpoint=str(model.path),
            include_own_prelabels=include_own,
        )
        worst = result.images[:WORST_SHOWN]
        strips = []
        for i, score in enumerate(worst, start=1):
            bar.progress(i / len(worst), f"Drawing the photos it gets most wrong ({i} of {len(worst)})")
            predicted = predictor.predict(score.image, tta=tta)
            strips.append(
                (
                    score,
                    gallery.comparison_strip(score.image, score.mask, predicted, result.scheme, STRIP_SIDE),
                )
            )
        bar.empty()
        results[key] = {"result": result, "strips": strips}
        while len(results) > RESULTS_KEPT:
            results.pop(next(iter(results)))

if key not in results:
    st.info(
        "Pick a model and a dataset, then press **Evaluate**. A few hundred photos take minutes on a CPU."
    )
    st.stop()

result, strips = results[key]["result"], results[key]["strips"]
st.divider()
if result.split == "val":
    scope = "the model's validation split" + (": it was trained on this dataset" if split == "auto" else "")
else:
    scope = "all usable pairs"
st.caption(
    f"{count(len(result.images), 'photo')} of `{dataset.name}` ({scope})"
    f"{' with test-time augmentation' if tta else ''}, scored in {result.seconds:.1f} s."
)
for sentence in result.truth_notes():  # before the scores they qualify
    st.warning(sentence[:1].upper() + sentence[1:] + ".")
dice_col, miou_col, acc_col, n_col, own_metric = st.columns(5)
dice_col.metric("Kaggle Dice", f"{result.kaggle_dice:.3f}", help="the competition's score of record")
miou_col.metric(
    "mIoU", f"{result.scores.miou:.3f}", help="mean over classes of IoU, from pixels pooled over all photos"
)
acc_col.metric(
    "Pixel accuracy", f"{result.scores.pixel_accuracy:.1%}", help="share of all pixels labelled right"
)
n_col.metric("Photos scored", len(result.images))
own_metric.metric(
    "Truth that is its own guess",
    f"{result.own_truth_share:.1%}",
    help="Share of the true pixels scored that are this model's own pre-label, unchanged and unconfirmed "
    "by a person: on those the model is compared with itself.",
)
st.caption(
    "**Kaggle Dice** is the mean Dice over every (photo, class) pair, 25 per photo; a class absent "
    "from both the truth and the prediction counts as 1, so rare classes weigh as much as common ones."
)

st.markdown(
    "**Scores per class** present in the truth or the prediction, worst IoU first (click a header to sort)"
)
st.dataframe(
    gallery.class_score_rows(result.matrix, result.scheme),
    hide_index=True,
    column_order=["colour", "class", "iou", "dice", "precision", "recall", "truth_share", "support"],
    column_config={
        "colour": st.column_config.ImageColumn("", width=28),
        "class": st.column_config.TextColumn("Class", width="medium"),
        "iou": st.column_config.ProgressColumn("IoU", min_value=0.0, max_value=1.0, format="%.2f"),
        "dice": st.column_config.NumberColumn("Dice", format="%.2f"),
        "precision": st.column_config.NumberColumn(
            "Precision", format="%.2f", help="of the pixels predicted as this class, the share that are"
        ),
        "recall": st.column_config.NumberColumn(
            "Recall", format="%.2f", help="of this class's true pixels, the share found"
        ),
        "truth_share": st.column_config.NumberColumn(
            "Share of pixels", format="percent", help="of all true pixels"
        ),
        "support": st.column_config.NumberColumn("True pixels", format="compact"),
    },
    placeholder="–",  # undefined, e.g. the precision of a class never predicted
)
data = gallery.confusion_for_present(result.matrix, result.scheme)
heatmap = confusion_heatmap(
    data["values"],
    data["labels"],
    title="Which class is taken for which: each row is a true class, split by prediction",
)
heatmap.update_layout(height=max(420, 24 * len(data["labels"]) + 260))  # room for 25 rotated labels
st.plotly_chart(heatmap, key="confusion")

st.subheader("Photos it gets most wrong")
st.caption("Worst Kaggle Dice first. Each picture: the photo | the true mask | the model's mask.")
present = set(gallery.present_classes(result.matrix))
st.html(  # a compact multi-column legend of the classes in these results
    "<div style='display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));font-size:.9em'>"
    f"{legend_html([e for e in result.scheme.legend_entries() if e['id'] in present])}</div>"
)

for row in range(0, len(strips), 2):
    for column, (score, strip) in zip(st.columns(2), strips[row : row + 2], strict=False):
        column.image(
            strip,
            caption=f"{score.stem} · Kaggle Dice {score.kaggle_dice:.3f} · pixel accuracy {score.pixel_accuracy:.1%}",
            width="stretch",
        )
with st.expander(f"Every photo's score ({len(result.images)}, worst first)"):
    st.dataframe(
        result.to_dict()["per_image"],
        hide_index=True,
        placeholder="–",
        column_config={
            "image": "Photo",
            "kaggle_dice": st.column_config.NumberColumn("Kaggle Dice", format="%.3f"),
            "pixel_accuracy": st.column_config.NumberColumn("Pixel accuracy", format="percent"),
        },
    )

stem = f"evaluation_{model.run_id or 'demo'}_{dataset.name}_{result.split}{'_tta' if tta else ''}"
per_class = result.scores.per_class(result.scheme.names)
downloads = st.columns(3)
downloads[0].download_button(
    "Per-photo scores (CSV)",
    gallery.rows_csv(result.to_dict()["per_image"]),
    f"{stem}_per_photo.csv",
    "text/csv",
    on_click="ignore",
)
downloads[1].download_button(
    "Per-class scores (CSV)",
    gallery.rows_csv(per_class),
    f"{stem}_per_class.csv",
    "text/csv",
    on_click="ignore",
)
downloads[2].download_button(
    "Full result (JSON)",
    json.dumps(result.to_dict(), indent=2),
    f"{stem}.json",
    "application/json",
    on_click="ignore",
)
