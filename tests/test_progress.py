"""Progress with ETA, written once (seg_core/core/progress.py): the arithmetic, a resumed run's
clock, and the text the app's bars show."""

from __future__ import annotations

import pytest

from seg_core.core.progress import EtaClock, eta_seconds, eta_updates, format_eta


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_eta_is_the_rate_so_far_times_what_is_left():
    assert eta_seconds(10.0, 2, 10) == pytest.approx(40.0)
    assert eta_seconds(10.0, 0, 10) is None  # nothing done: no rate yet
    assert eta_seconds(10.0, 12, 10) == 0.0  # more done than planned is never negative
    assert format_eta(65) == "1m05s" and format_eta(3700) == "1h01m" and format_eta(9.6) == "10s"


def test_a_resumed_runs_earlier_steps_take_none_of_the_clocks_time():
    now = FakeClock()
    clock = EtaClock(start_done=50, now=now)
    now.t += 20.0
    assert clock.seconds(60, 100) == pytest.approx(80.0)  # 10 steps in 20 s, 40 to go
    assert clock.seconds(50, 100) is None


def test_eta_updates_show_the_fraction_and_the_time_left():
    now = FakeClock()
    shown = []
    update = eta_updates(
        lambda fraction, text: shown.append((fraction, text)), "ortho.tif", "window", EtaClock(now=now)
    )
    update(0, 4)
    now.t += 30.0
    update(1, 4)
    assert shown == [
        (0.0, "ortho.tif: window 0 of 4, about 0s left"),
        (0.25, "ortho.tif: window 1 of 4, about 1m30s left"),
    ]
