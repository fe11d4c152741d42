"""Runs: every training run in one table; select some to compare their curves and the study's
Table 1, and to resume, stop or delete one."""

import pandas as pd
import streamlit as st

from seg_core.runs.metric_names import TRAIN_LOSS, VAL_DICE, VAL_LOSS
from seg_core.runs.registry import FINAL_STATUSES, RunRecord, RunRegistry
from seg_core.runs.study_table import summary_table
from seg_core.services import catalog, exports
from seg_core.services import runs as run_actions
from seg_core.views import monitor
from ui import review_view
from ui.auth import current_actor, current_caller, may, run_owner, run_owners
from ui.charts import curves
from ui.common import friendly_errors
from ui.live import BADGE_ICONS, epoch_axis, metric_history

TABLE_KEY = "runs_table"
DELETE_KEY = "runs_delete_target"
COMPARED = {
    VAL_DICE.key: ("Validation Dice per epoch", "val Dice"),
    VAL_LOSS.key: ("Validation loss per epoch", "loss"),
    TRAIN_LOSS.key: ("Training loss per epoch", "loss"),
}
COLUMNS = {
    "name": st.column_config.TextColumn("Run", width="medium"),
    "status": st.column_config.TextColumn("Status", width="small"),
    "model": st.column_config.TextColumn("Architecture / encoder"),
    "optimizer": st.column_config.TextColumn("Optimiser", width="small"),
    "augmentation": st.column_config.TextColumn("Augmentation", width="small"),
    "best_val_dice": st.column_config.NumberColumn(
        "Best val Dice", format="%.3f", help="Kaggle Dice on the validation split, best epoch"
    ),
    "epochs": st.column_config.TextColumn("Epochs", width="small", help="epochs done / planned"),
    "started": st.column_config.TextColumn("Started"),
    "duration": st.column_config.TextColumn("Duration", help="wall time of the latest attempt"),
    "parent": st.column_config.TextColumn("Fine-tuned from", help="the run id of the parent model"),
    "children": st.column_config.NumberColumn("Fine-tunes", help="runs fine-tuned from this one"),
    "id": st.column_config.TextColumn("Run id"),
    "started_by": st.column_config.TextColumn("Started by", help="who started it (audit trail)"),
}


def label_of(run: RunRecord) -> str:
    return f"{run.name} ({run.id[-4:]})"  # names repeat; the id's random tail tells runs apart


@st.dialog("Delete run?", on_dismiss=lambda: st.session_state.pop(DELETE_KEY, None))
def confirm_delete(run: RunRecord, registry: RunRegistry) -> None:
    st.markdown(
        f"Delete **{run.name}** (`{run.id}`) with its metrics, log and checkpoints "
        f"(best.pt, last.pt)? This cannot be undone."
    )
    yes, no = st.columns(2)
    if yes.button("Delete for good", type="primary", width="stretch"):
        st.session_state.pop(DELETE_KEY, None)
        try:
            run_actions.delete(run.id, current_caller())
        except ValueError as exc:
            st.session_state["runs_notice"] = ("error", str(exc))
        else:
            st.session_state["runs_notice"] = ("success", f"Deleted run {run.name} ({run.id}).")
        st.rerun()
    if no.button("Keep it", width="stretch"):
        st.session_state.pop(DELETE_KEY, None)
        st.rerun()


def compare(selected: list[RunRecord], registry: RunRegistry) -> None:
    st.subheader("Compare" if len(selected) > 1 else "Curves")
    histories = {label_of(run): metric_history(run.id, registry) for run in selected}
    for column, (key, (title, y_title)) in zip(st.columns(3), COMPARED.items(), strict=True):
        series = monitor.comparison_series(histories, key)
        with column:
            if series:
                figure = curves(series, title, y_title=y_title)
                epoch_axis(figure, series)
                st.plotly_chart(figure, key=f"compare-{key}")
            elif key.startswith("val/") and not any(monitor.has_validation(run) for run in selected):
                st.caption(
                    f"{title}: none, {'this run has' if len(selected) == 1 else 'these runs have'} no "
                    "validation split."
                )
            elif all(run.status in FINAL_STATUSES for run in selected):
                st.caption(f"{title}: nothing was logged.")
            else:
                st.caption(f"{title}: nothing logged yet.")
    table = monitor.study_table(summary_table(registry, [run.id for run in selected]))
    st.markdown("**Comparison table** (the study's Table 1, plus mIoU and wall time)")
    frame = pd.DataFrame(table)
    st.dataframe(
        frame,
        hide_index=True,
        placeholder="–",
        column_config={
            "Val Dice": st.column_config.NumberColumn(
                format="%.4f", help="best epoch's Kaggle Dice on validation"
            ),
            "Val mIoU": st.column_config.NumberColumn(format="%.4f", help="mean IoU at the best-Dice epoch"),
            "Train loss": st.column_config.NumberColumn(
                format="%.4f", help="last epoch's mean training loss"
            ),
            "Val loss": st.column_config.NumberColumn(format="%.4f", help="last epoch's validation loss"),
            "Loss on entire training set": st.column_config.NumberColumn(
                format="%.4f",
                help="the final model scored on every training photo (logged when a run completes)",
            ),
        },
    )
    st.download_button(
        "Download table (CSV)",
        frame.to_csv(index=False).encode(),
        file_name="stormseg_runs.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def actions(selected: list[RunRecord], registry: RunRegistry) -> None:
    st.subheader("Actions")
    run = selected[0]
    if len(selected) > 1:
        ids = [r.id for r in selected]
        labels = {r.id: label_of(r) for r in selected}
        run = selected[
            ids.index(st.selectbox("Act on run", ids, format_func=labels.get, key="runs_action_target"))
        ]
    summary = monitor.status_summary(run)
    st.badge(summary.label, icon=BADGE_ICONS[summary.status], color=summary.color)
    st.caption(summary.sentence)
    family = monitor.lineage_sentence(run, registry.list())
    if family:
        st.markdown(f"**Lineage:** {family}")
    review_view.run_label_set(run.id)  # which labels made this model
    if run.status in ("running", "queued"):
        st.page_link("app_pages/train.py", label="Watch it live on Train", icon=":material/monitoring:")
    has_last = (run.checkpoint_dir / "last.pt").is_file()
    actor, owner = current_actor(), run_owner(registry, run.id)
    resume, halt, delete, _ = st.columns([1, 1, 1, 2])
    if resume.button(
        "Resume",
        icon=":material/play_arrow:",
        width="stretch",
        disabled=run.status in ("running", "queued", "completed")
        or not has_last
        or not may(actor, "run.resume", owner),
        help="Continue from last.pt (saved after every epoch and when stopped).",
    ):
        with friendly_errors("Resuming the run"):
            st.session_state["runs_notice"] = (
                "success",
                run_actions.resume(run.id, current_caller()).message,
            )
            st.rerun()
    if run.status == "queued":
        if halt.button(
            "Remove from queue",
            icon=":material/stop:",
            width="stretch",
            disabled=not may(actor, "run.stop", owner),
        ):
            with friendly_errors("Removing the run from the queue"):
                # Under the dispatch lock: the run may have started since this page was drawn.
                removed = run_actions.cancel_queued(
                    [run.id], "removed from the queue before it started", current_caller()
                )
                st.session_state["runs_notice"] = (
                    ("success", f"Removed {run.name} from the queue.")
                    if removed
                    else (
                        "warning",
                        f"{run.name} has already left the queue (it started or ended); use Stop.",
                    )
                )
                st.rerun()
    elif halt.button(
        "Stop",
        icon=":material/stop:",
        width="stretch",
        disabled=run.status != "running" or not may(actor, "run.stop", owner),
        help="Ends training after the current step; last.pt is saved so it can be resumed.",
    ):
        with friendly_errors("Stopping the run"):
            sent = run_actions.stop(run.id, current_caller())
            st.session_state["runs_notice"] = (
                ("success", f"Stop requested for {run.name}: it saves last.pt and ends within a step.")
                if sent
                else ("warning", f"{run.name} is not running any more.")
            )
            st.rerun()
    if may(actor, "run.delete") and delete.button(
        "Delete…", icon=":material/delete:", width="stretch", help="Asks for confirmation first."
    ):
        st.session_state[DELETE_KEY] = run.id
    if st.session_state.get(DELETE_KEY) == run.id:
        confirm_delete(run, registry)

    best = catalog.model_path_for_run(run.id)
    if best.is_file():
        st.markdown(
            f"**Use this model:** its best.pt (`{best}`), *{run.name}* in the model pickers; these links "
            "open the page with it chosen."
        )
        chosen = {"model": run.id}
        seg, ev, lab, _ = st.columns([1, 1, 1, 2])
        seg.page_link(
            "app_pages/segment.py",
            label="Segment photos",
            icon=":material/satellite_alt:",
            query_params=chosen,
        )
        ev.page_link(
            "app_pages/evaluate.py",
            label="Evaluate on a dataset",
            icon=":material/target:",
            query_params=chosen,
        )
        lab.page_link(
            "app_pages/label.py", label="Pre-label photos", icon=":material/brush:", query_params=chosen
        )
        onnx_download(run)
    else:
        st.caption("No best.pt yet: a model appears after the first finished epoch.")


def onnx_download(run: RunRecord) -> None:
    """Export best.pt to a verified ONNX file once, then offer it (torch-free field install)."""
    exported = exports.current_export(run.id)
    if exported is None:
        if st.button(
            "Export to ONNX",
            icon=":material/file_export:",
            key="runs_export_onnx",
            help="For ONNX Runtime without torch (docs: Field install with ONNX); about a minute.",
        ):
            with friendly_errors("Exporting the model"), st.spinner("Exporting and verifying against torch…"):
                report = exports.export_run(run.id)
                st.session_state["runs_notice"] = (
                    "success",
                    f"Exported {run.name}: argmax agrees with torch "
                    f"on {report.argmax_agreement:.2%} of pixels.",
                )
                st.rerun()
        return
    st.download_button(
        "Download model.onnx",
        exported.read_bytes,
        file_name=f"{run.name or run.id}.onnx",
        mime="application/octet-stream",
        on_click="ignore",
        icon=":material/download:",
        key="runs_download_onnx",
    )


def keep_selection(ids: list[str]) -> None:
    """The table's selection is by row position; when runs are added or deleted, move it so the
    same runs stay selected (before the table is drawn, when its state may still be written)."""
    previous = st.session_state.get("runs_table_ids")
    state = st.session_state.get(TABLE_KEY)
    if previous is not None and previous != ids and state is not None:
        chosen = [previous[i] for i in state["selection"]["rows"] if i < len(previous)]
        st.session_state[TABLE_KEY] = {"selection": {"rows": [ids.index(c) for c in chosen if c in ids]}}
    st.session_state["runs_table_ids"] = ids


st.title("Runs")
registry = RunRegistry()
notice = st.session_state.pop("runs_notice", None)
if notice:
    getattr(st, notice[0])(notice[1])

runs = registry.list()
if not runs:
    st.markdown(
        "No training runs yet. Start one on **Train**: the demo dataset trains a first model in minutes."
    )
    st.page_link("app_pages/train.py", label="Open Train", icon=":material/model_training:")
    st.stop()

intro, refresh = st.columns([5, 1], vertical_alignment="center")
intro.markdown(
    "Every training run, newest first. **Tick rows** to compare their curves and scores and to act on them."
)
refresh.button(
    "Refresh", icon=":material/refresh:", width="stretch", help="Re-read the statuses (running runs change)."
)
keep_selection([run.id for run in runs])
owners = run_owners(registry, [run.id for run in runs])
event = st.dataframe(
    pd.DataFrame(monitor.runs_table(runs)).assign(started_by=[owners.get(run.id) for run in runs]),
    hide_index=True,
    column_config=COLUMNS,
    key=TABLE_KEY,
    placeholder="–",
    on_select="rerun",
    selection_mode="multi-row",
)
selected = [runs[i] for i in event.selection.rows if i < len(runs)]
if not selected:
    st.info("Tick one run to see its curves and actions, or several to compare them side by side.")
else:
    compare(selected, registry)
    actions(selected, registry)
