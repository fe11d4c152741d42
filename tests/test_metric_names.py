"""Metric names are declared once (seg_core/runs/metric_names.py): every row a run writes is one
of them, the summary a checkpoint carries uses their summary keys, and the live view finds them."""

from __future__ import annotations

import pytest
from test_train import start_run, tiny_config

from seg_core.models.checkpoint import load_checkpoint
from seg_core.runs import metric_names
from seg_core.views import monitor

DECLARED = [value for value in vars(metric_names).values() if isinstance(value, metric_names.Metric)]


def test_each_metric_has_one_key_and_one_summary_name():
    keys = [m.key for m in DECLARED]
    summaries = [m.summary for m in DECLARED if m.summary]
    assert len(keys) == len(set(keys)) and len(summaries) == len(set(summaries))
    assert metric_names.VAL_DICE.row(7, 2, 0.5) == (7, 2, "val", "dice", 0.5)
    assert monitor.STEP_NAMES == ("loss_step", "progress", "eta_s")


@pytest.mark.slow  # a 2-epoch run: seconds on a quiet machine, a minute on a loaded one
def test_a_run_writes_only_declared_metrics_and_the_views_read_them(tiny_dataset):
    registry, run, status = start_run(tiny_config(tiny_dataset, epochs=2))
    assert status == "completed"
    rows = registry.metrics(run.id)
    written = {(r.split, r.name) for r in rows}
    assert written == {(m.split, m.name) for m in DECLARED}  # every one written, nothing else
    history = monitor.MetricHistory().add(rows)
    dice = history.epoch_series()[metric_names.VAL_DICE.key][1]
    assert len(dice) == 2 and max(dice) == pytest.approx(registry.get(run.id).best_metric)
    assert history.progress.fraction == 1.0 and history.step_series()[0]
    saved = load_checkpoint(run.checkpoint_dir / "last.pt")["meta"]["metrics"]
    assert set(saved) == {m.summary for m in DECLARED if m.summary}
