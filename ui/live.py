"""The view of one training run: status, progress with ETA, curves, validation preview, log tail.

`live_run_view` re-renders itself every 2 s while the run is queued or running (a fragment: the
rest of the page is left alone) and hands over to the static `run_view` once the run ends, so a
finished run costs nothing. Metric rows are read incrementally: each tick asks the registry only
for rows newer than the last one seen and folds them into a `MetricHistory` in session state.
"""

from __future__ import annotations

import time

import streamlit as st

from seg_core.runs import metric_names
from seg_core.runs.registry import ACTIVE_STATUSES, RunRecord, RunRegistry
from seg_core.services import runs as run_actions
from seg_core.views import monitor
from ui.auth import current_actor, current_caller, may, run_owner
from ui.charts import curves
from ui.common import friendly_errors

LOG_LINES = 12
_ENDED_KEY = "live_run_ended"
BADGE_ICONS = {
    "queued": ":material/hourglass_empty:",
    "running": ":material/directions_run:",
    "completed": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
}
_QUALITY = {
    metric_names.VAL_DICE.key: "val Dice (Kaggle)",
    metric_names.VAL_MIOU.key: "val mIoU",
    metric_names.VAL_PIXEL_ACCURACY.key: "val pixel accuracy",
}
_LOSSES = {metric_names.TRAIN_LOSS.key: "train loss", metric_names.VAL_LOSS.key: "val loss"}


def metric_history(run_id: str, registry: RunRegistry) -> monitor.MetricHistory:
    """This session's history of the run, topped up with the rows logged since the last call."""
    key = f"metric_history:{run_id}"
    history = st.session_state.get(key)
    if not isinstance(history, monitor.MetricHistory):
        history = st.session_state[key] = monitor.MetricHistory()
    history.add(registry.metrics(run_id, after_id=history.last_id))
    return history


@st.fragment(run_every=2)
def live_run_view(run_id: str) -> None:
    """The run, refreshed every 2 s; once it has ended, reruns the page (which then shows the
    static `run_view`, so the ticking stops)."""
    registry = RunRegistry()
    with friendly_errors("Refreshing the run view"):
        registry.reconcile()  # a crashed trainer shows as interrupted, not running forever
        run = _get(registry, run_id)
        if run is None:
            return
        if run.status not in ACTIVE_STATUSES:
            # The page picks what to show next (the next queued run may have started); say how
            # this one ended so a Stop or a crash is not lost from view.
            st.session_state[_ENDED_KEY] = (run.id, run.name, monitor.status_summary(run))
            st.rerun(scope="app")
        _render(run, registry)


def ended_notice(current_id: str | None) -> None:
    """Once: how the run this session was watching ended, if the page now shows another one."""
    ended = st.session_state.pop(_ENDED_KEY, None)
    if ended and ended[0] != current_id:
        _, name, summary = ended
        _status_message(summary, prefix=f"**{name}**: ")


def run_view(run_id: str) -> None:
    """The run as it is now, drawn once (for finished runs)."""
    registry = RunRegistry()
    with friendly_errors("Showing the run"):
        run = _get(registry, run_id)
        if run is not None:
            _render(run, registry)


def _get(registry: RunRegistry, run_id: str) -> RunRecord | None:
    try:
        return registry.get(run_id)
    except ValueError:
        st.info(f"Run {run_id} no longer exists (it was deleted).")
        return None


def _render(run: RunRecord, registry: RunRegistry) -> None:
    history = metric_history(run.id, registry)
    position = None
    if run.status == "queued":
        position = monitor.queue_positions(registry.list(("queued",))).get(run.id)
    summary = monitor.status_summary(run, queue_position=position)

    head, action = st.columns([5, 1], vertical_alignment="center")
    with head:
        st.markdown(f"#### {run.name}")
        st.badge(summary.label, icon=BADGE_ICONS[summary.status], color=summary.color)
    with action:
        _stop_button(run, registry)
    st.caption(
        f"Run `{run.id}` · {monitor.model_label(run.config)} · {run.config.get('optimizer')} "
        f"lr {run.config.get('lr')} · augmentation {run.config.get('augment')} · "
        f"dataset `{_dataset_name(run.config)}`"
    )
    _status_message(summary)
    _progress(run, history)
    _tiles(run, history)
    _charts(run, history)
    _preview_and_log(run, registry, history)


def _dataset_name(config: dict) -> str:
    data = str(config.get("data") or "?")
    return data.rstrip("/").rsplit("/", 1)[-1]


def _status_message(summary: monitor.StatusSummary, prefix: str = "") -> None:
    show = {"failed": st.error, "stopped": st.warning, "interrupted": st.warning, "completed": st.success}
    show.get(summary.status, st.info)(prefix + summary.sentence)


def _progress(run: RunRecord, history: monitor.MetricHistory) -> None:
    epochs = int(run.config.get("epochs", 0) or 0)
    if run.status == "queued":
        st.progress(0.0, text="Waiting for its turn…")
    elif run.status == "running":
        progress = history.progress
        st.progress(progress.fraction if progress else 0.0, text=monitor.progress_text(progress, epochs))
    elif run.status != "completed" and epochs:
        st.progress(
            min(1.0, (run.epochs_done or 0) / epochs), text=f"{run.epochs_done or 0} of {epochs} epochs"
        )


def _tiles(run: RunRecord, history: monitor.MetricHistory) -> None:
    series = history.epoch_series()
    dice = series.get(metric_names.VAL_DICE.key, ([], []))[1]
    speed = history.latest(metric_names.IMAGES_PER_S.key)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Epochs done", f"{monitor.epochs_done(run, history)} / {run.config.get('epochs', '?')}")
    c2.metric(
        "Latest val Dice",
        "–" if not dice else f"{dice[-1]:.3f}",
        None if len(dice) < 2 or abs(dice[-1] - dice[-2]) < 5e-4 else f"{dice[-1] - dice[-2]:+.3f}",
        help="Kaggle Dice on the validation split: mean over every (image, class) pair, the study's score.",
    )
    c3.metric(
        "Best val Dice",
        "–" if run.best_metric is None else f"{run.best_metric:.3f}",
        None if run.best_epoch is None else f"epoch {run.best_epoch}",
        delta_color="off",
        delta_arrow="off",
        help="best.pt holds the weights of this epoch.",
    )
    c4.metric("Speed", "–" if speed is None else f"{speed:.1f} img/s", help="training images per second")


def epoch_axis(figure, series: dict) -> None:
    """Whole epochs on the x axis (no 1.5), titled by the chart; legend under the plot."""
    last = max((max(x) for x, _ in series.values() if len(x)), default=1)
    figure.update_xaxes(title=None, dtick=1 if last <= 15 else None)
    figure.update_layout(legend=dict(orientation="h", y=-0.15, yanchor="top", x=0))


def _charts(run: RunRecord, history: monitor.MetricHistory) -> None:
    run_id, validated = run.id, monitor.has_validation(run)
    series = history.epoch_series()
    losses = {label: series[key] for key, label in _LOSSES.items() if key in series}
    quality = {label: series[key] for key, label in _QUALITY.items() if key in series}
    steps = history.step_series()
    left, middle, right = st.columns(3)
    with left:
        if losses:
            figure = curves(losses, "Loss per epoch", y_title="loss")
            epoch_axis(figure, losses)
            st.plotly_chart(figure, key=f"loss-{run_id}")
        else:
            st.caption("Loss per epoch appears after the first epoch.")
    with middle:
        if quality:
            figure = curves(quality, "Validation quality per epoch")
            figure.update_yaxes(range=[0, 1], tickformat=".0%")
            epoch_axis(figure, quality)
            st.plotly_chart(figure, key=f"quality-{run_id}")
        elif not validated:
            st.caption("No validation scores: this run has no validation split (every photo trains).")
        else:
            st.caption("Validation Dice, mIoU and pixel accuracy appear after the first epoch.")
    with right:
        if monitor.one_step_per_epoch(history):
            st.caption("One training step per epoch: the loss per step is the loss per epoch (left).")
        elif steps[0]:
            figure = curves(
                {"training loss": steps}, "Training loss per step", x_title="step", y_title="loss"
            )
            figure.update_layout(showlegend=False)
            st.plotly_chart(figure, key=f"steps-{run_id}")
        else:
            st.caption("The loss of every training step appears once training starts.")


def _preview_and_log(run: RunRecord, registry: RunRegistry, history: monitor.MetricHistory) -> None:
    left, right = st.columns([3, 2])
    with left:
        preview = run.checkpoint_dir / "preview.png"
        if preview.is_file():
            epoch = max(history.epochs.get(metric_names.VAL_DICE.key, {0: 0}))
            st.image(
                str(preview),
                caption=f"Validation photo · ground truth · prediction after epoch {epoch}",
                width="stretch",
            )
        elif not monitor.has_validation(run):
            st.caption("No validation preview: this run has no validation split.")
        else:
            st.caption("The validation preview (photo · truth · prediction) appears after the first epoch.")
    with right:
        lines = registry.logs(run.id, limit=LOG_LINES)
        st.markdown("**Log** (newest first)")
        if lines:
            text = "\n".join(
                f"{time.strftime('%H:%M:%S', time.localtime(line.time))} {line.level:<7} {line.message}"
                for line in reversed(lines)
            )
            st.code(text, language=None, wrap_lines=True)
        else:
            st.caption("No log lines yet.")


def _stop_button(run: RunRecord, registry: RunRegistry) -> None:
    if run.status != "running":
        return
    requested_key = f"stop_requested:{run.id}"
    if st.session_state.get(requested_key):
        st.button("Stopping…", key=f"stop-{run.id}", disabled=True, width="stretch")
        st.caption("Saving last.pt, then stopping.")
        return
    if st.button(
        "Stop",
        key=f"stop-{run.id}",
        icon=":material/stop:",
        width="stretch",
        help="Ends training after the current step; last.pt is saved so Resume (on Runs) continues.",
        disabled=not may(current_actor(), "run.stop", run_owner(registry, run.id)),
    ):
        sent = None
        with friendly_errors("Stopping the run"):
            sent = run_actions.stop(run.id, current_caller())
        if sent:
            st.session_state[requested_key] = True
            st.caption("Stop requested: saving last.pt, then stopping.")
            st.toast(
                f"Stop requested for {run.name}: it saves last.pt and ends within a step.",
                icon=":material/stop:",
            )
        elif sent is False:
            st.warning("The run is not running any more.")
