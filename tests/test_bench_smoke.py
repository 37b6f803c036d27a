"""The benchmark still runs: its incident-start scenario once, with the real bot as a subprocess.

Not a performance test (no timing is asserted beyond sanity): it keeps ``python -m bench`` from rotting as
the code it drives changes. The full bench is ``python -m bench``; see docs/performance.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ lives beside src/, not inside the package
    sys.path.insert(0, str(ROOT))

from bench import report, start  # noqa: E402
from bench.stats import machine  # noqa: E402
from bench.world import open_world  # noqa: E402

pytestmark = pytest.mark.e2e

KEYS = {
    "runs",
    "posts",
    "bot_s",
    "bot_calls",
    "bot_calls_by_route",
    "floor_s",
    "floor_calls",
    "adapter_floor_s",
    "inprocess_floor_s",
    "ratio",
}


@pytest.mark.timeout(60)
async def test_the_incident_start_scenario_produces_its_figures(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        await world.start_bot()
        figures = await start.incident_start(world, runs=1)
    assert set(figures) >= KEYS, KEYS - set(figures)
    assert figures["posts"] == 49  # the shipped playbook: board, 8 stage roots, 40 items
    assert figures["floor_calls"] == 52  # channel, members, 49 posts, pin
    assert figures["bot_calls"] >= figures["floor_calls"]
    # The checklist's 49 posts, then a welcome DM to alice and to each of the four people the playbook
    # invites: those come after the last checklist post, so the count may or may not have caught them.
    assert 49 <= figures["bot_calls_by_route"]["POST /api/v4/posts"] <= 49 + 5
    assert 0 < figures["floor_s"] < 30 and 0 < figures["bot_s"] < 30
    assert figures["ratio"] == pytest.approx(figures["bot_s"] / figures["floor_s"], rel=0.05)
    results = {"machine": machine(), "scenarios": {"incident_start": figures}}
    json.dumps(results)  # what the bench writes must be JSON
    table = report.table(results)
    assert "bot / floor" in table and "cores" in table
