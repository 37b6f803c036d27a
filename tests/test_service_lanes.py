"""Lanes: in order per key, side by side across keys, bounded, and never stuck behind a failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from sev1bot.service.lanes import Lanes


def recorder(
    log: list[str], name: str, gate: asyncio.Event | None = None, delay: float = 0.0
) -> Callable[[], Awaitable[None]]:
    async def work() -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(delay)
        log.append(f"end {name}")

    return work


async def test_work_of_one_key_runs_in_order_one_at_a_time() -> None:
    lanes, log = Lanes(), list[str]()
    for n in range(5):
        await lanes.submit("post-a", recorder(log, f"a{n}", delay=0.01 * (5 - n)))
    await lanes.idle()
    assert log == [f"{edge} a{n}" for n in range(5) for edge in ("start", "end")]


async def test_different_keys_run_side_by_side() -> None:
    lanes, log = Lanes(), list[str]()
    gate = asyncio.Event()
    await lanes.submit("post-a", recorder(log, "a", gate))
    await lanes.submit("post-b", recorder(log, "b"))
    await asyncio.sleep(0.05)
    assert log == ["start a", "start b", "end b"]  # b did not wait for a
    gate.set()
    await lanes.idle()
    assert log[-1] == "end a"


async def test_at_most_limit_run_at_once() -> None:
    lanes = Lanes(limit=3)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    for n in range(12):
        await lanes.submit(f"post-{n}", work)
    await lanes.idle()
    assert peak == 3


async def test_submit_waits_once_max_pending_is_queued() -> None:
    lanes = Lanes(max_pending=2)
    gate = asyncio.Event()
    log: list[str] = []
    await lanes.submit("a", recorder(log, "a", gate))
    await lanes.submit("b", recorder(log, "b", gate))
    third = asyncio.create_task(lanes.submit("c", recorder(log, "c")))
    await asyncio.sleep(0.05)
    assert not third.done() and lanes.pending == 2
    gate.set()
    await asyncio.wait_for(third, 1)
    await lanes.idle()
    assert "end c" in log


async def test_a_failure_is_logged_and_the_lane_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    lanes, log = Lanes(), list[str]()

    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="sev1bot.service.lanes"):
        await lanes.submit("post-a", broken)
        await lanes.submit("post-a", recorder(log, "after"))
        await lanes.idle()
    assert log == ["start after", "end after"]
    assert "work for post-a failed" in caplog.text and "boom" in caplog.text


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Lanes(limit=0)
