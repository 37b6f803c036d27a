"""The retry pace of a failing incident: waits that double up to a cap, per incident, reset by a success.

The end-to-end test (tests/e2e/test_channel_squatting.py) counts the attempts the server sees; this pins the
schedule itself with a clock the test moves.
"""

from __future__ import annotations

from sev1bot.service.pacing import Pacing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_waits_double_up_to_the_cap_for_each_incident_alone() -> None:
    clock = Clock()
    pacing = Pacing(first=0.5, cap=60.0, clock=clock)
    assert pacing.due("a")
    waits = [pacing.failed("a") for _ in range(10)]
    assert waits == [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 32.0)] + [
        (n, 60.0) for n in (8, 9, 10)
    ]
    assert not pacing.due("a") and pacing.due("b")  # another incident is not held back
    clock.now += 59.9
    assert not pacing.due("a")
    clock.now += 0.1
    assert pacing.due("a")
    pacing.failed("a")
    assert not pacing.due("a")
    pacing.succeeded("a")
    assert pacing.due("a") and pacing.failed("a") == (1, 0.5)  # a success starts the pace over


def test_a_failure_that_lasts_for_days_stays_at_the_cap() -> None:
    pacing = Pacing(first=0.5, cap=60.0, clock=Clock())
    for _ in range(5000):  # ~3.5 days at one a minute: no overflow
        failures, wait = pacing.failed("a")
    assert (failures, wait) == (5000, 60.0)
