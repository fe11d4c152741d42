"""Shared page helpers: work that should finish once started holds a rerun until it is done."""

from __future__ import annotations

import pytest

from ui import common


class RerunException(BaseException):
    """Stands in for Streamlit's: raised at an element update when the browser asked for a rerun."""


class StopException(BaseException):
    pass


class Bar:
    def __init__(self, raises: type[BaseException] | None, at: int):
        self.raises, self.at, self.updates = raises, at, 0

    def progress(self, fraction, text=None):
        self.updates += 1
        if self.raises is not None and self.updates == self.at:
            raise self.raises()

    def empty(self):
        pass


def test_a_rerun_asked_for_mid_way_waits_until_every_item_is_done(monkeypatch):
    bar = Bar(RerunException, at=2)
    monkeypatch.setattr(common.st, "progress", lambda *a, **k: bar)
    done = []
    with pytest.raises(RerunException), common.FinishFirst("working") as progress:
        for item in range(5):
            done.append(item)
            progress((item + 1) / 5, f"{item + 1} of 5")
    assert done == [0, 1, 2, 3, 4] and bar.updates == 2  # no update after the request: it is held


def test_a_stop_still_stops_and_quiet_work_ends_quietly(monkeypatch):
    bar = Bar(StopException, at=1)
    monkeypatch.setattr(common.st, "progress", lambda *a, **k: bar)
    with pytest.raises(StopException), common.FinishFirst("working") as progress:
        progress(0.5, "half")
        raise AssertionError("not reached: Stop ends the work")
    monkeypatch.setattr(common.st, "progress", lambda *a, **k: Bar(None, at=0))
    with common.FinishFirst("working") as progress:
        progress(1.0, "done")


def test_a_rerun_asked_for_as_the_bar_appears_still_lets_the_work_finish(monkeypatch):
    """A click elsewhere can arrive before the first update: the bar's own creation raises it."""

    def raises_at_creation(*args, **kwargs):
        raise RerunException()

    monkeypatch.setattr(common.st, "progress", raises_at_creation)
    done = []
    with pytest.raises(RerunException), common.FinishFirst("working") as progress:
        for item in range(3):
            done.append(item)
            progress((item + 1) / 3, f"{item + 1} of 3")
    assert done == [0, 1, 2]
