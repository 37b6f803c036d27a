"""``IncidentQueues``: arrival order per incident, incidents side by side, a bound that makes ``put`` wait."""

from __future__ import annotations

import asyncio

import pytest

from sev1bot.service.incident_queues import IncidentQueues
from testkit import eventually


class Recorder:
    """A handler that records each batch and, while ``gate`` is clear, holds on to it."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, incident_id: str, batch: list[int]) -> None:
        self.batches.append((incident_id, batch))
        await self.gate.wait()


async def test_each_incident_gets_its_items_in_arrival_order_in_batches() -> None:
    handler = Recorder()
    handler.gate.clear()
    queues = IncidentQueues(handler, bound=100, what="test")
    await queues.put("a", [1])
    await eventually(lambda: handler.batches == [("a", [1])])  # the worker holds batch [1]
    await queues.put("a", [2, 3])
    await queues.put("b", [10])
    await queues.put("a", [4])
    await eventually(lambda: ("b", [10]) in handler.batches)  # another incident is not held up by "a"
    handler.gate.set()
    await queues.idle()
    assert [batch for incident, batch in handler.batches if incident == "a"] == [[1], [2, 3, 4]]
    assert queues.waiting == 0


async def test_put_waits_while_the_bound_is_reached_and_goes_on_once_a_worker_takes_some() -> None:
    handler = Recorder()
    handler.gate.clear()
    queues = IncidentQueues(handler, bound=3, what="test")
    await queues.put("a", [1])
    await eventually(lambda: len(handler.batches) == 1)  # taken: nothing waits now
    await queues.put("a", [2, 3, 4])  # a's worker is busy with [1]: three waiting, the bound
    assert queues.waiting == 3
    blocked = asyncio.create_task(queues.put("c", [5]))
    for _ in range(10):  # every chance to get through (it must not)
        await asyncio.sleep(0)
    assert not blocked.done()
    assert ("c", [5]) not in handler.batches
    handler.gate.set()  # workers take their batches: room again
    await asyncio.wait_for(blocked, timeout=5)
    await queues.idle()
    assert sorted(item for _, batch in handler.batches for item in batch) == [1, 2, 3, 4, 5]


async def test_a_failing_batch_does_not_strand_the_ones_behind_it(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[list[int]] = []
    release = asyncio.Event()

    async def handler(incident_id: str, batch: list[int]) -> None:
        seen.append(batch)
        if batch == [1]:
            await release.wait()
            raise RuntimeError("boom")

    queues = IncidentQueues(handler, bound=10, what="test")
    await queues.put("a", [1])
    await eventually(lambda: seen == [[1]])
    await queues.put("a", [2])
    release.set()
    await queues.idle()
    assert seen == [[1], [2]]
    assert "a batch of incident a failed" in caplog.text
