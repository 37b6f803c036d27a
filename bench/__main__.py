"""``python -m bench``: run sev1bot against the sandbox on loopback, print a table and write JSON.

    python -m bench                      # everything, about 4 minutes
    python -m bench --only start,latency # some scenarios
    python -m bench --quick              # small numbers, to check the bench itself works

Scenarios: start (incident start against its floor), latency (reaction -> edit at 1, 10, 50 per second),
throughput (the highest rate held for 30 s with p99 < 1 s), ratelimit (start under the server's default
rate limit), recovery (restart with 200 active incidents) and footprint (peak RSS then). Results go to
bench/results/<time>.json unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import reactions, recovery, report, start
from bench.stats import machine
from bench.world import ROOT, World, open_world

SCENARIOS = ("start", "latency", "throughput", "ratelimit", "recovery", "footprint")
REACTION_INCIDENTS = 20


_T0 = time.perf_counter()


def say(what: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f} s] {what} ...", file=sys.stderr, flush=True)


async def ensure_incidents(world: World, count: int) -> None:
    """Start incidents through the bot (all at once) until ``count`` are active."""
    from sev1bot.store.store import Store

    with Store(world.database_url) as store:
        missing = count - len(store.active_incidents())
    if missing <= 0:
        return
    town = world.sandbox.channel("town-square").id
    done = start.checklists_done(world, missing)
    await asyncio.gather(
        *(world.people.slash("alice", town, f'start "Load {n:02d}" reaction load') for n in range(missing))
    )
    await asyncio.wait_for(done, 120)


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    chosen = set(args.only.split(",")) if args.only else set(SCENARIOS)
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"bench: unknown scenario(s) {', '.join(sorted(unknown))}; choose from {SCENARIOS}")
    quick = args.quick
    results: dict[str, Any] = {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {
            "quick": quick,
            "database": "sqlite (file)" if args.database_url is None else args.database_url.split(":")[0],
            "playbook": "mme-sev1 (shipped, 8 stages, 40 items)",
            "layout": "sandbox, load generator and listener in the bench process; the bot in its own process",
        },
        "scenarios": {},
    }
    out = results["scenarios"]
    async with open_world(workdir, args.database_url, args.log_level, args.profile_bot) as world:
        if args.collapsed_threads:
            world.sandbox.config.collapsed_threads = args.collapsed_threads  # read by the bot at start-up
        results["settings"]["collapsed_threads"] = getattr(world.sandbox.config, "collapsed_threads", None)
        out["startup_empty"] = await world.start_bot()
        if "start" in chosen:
            say("incident start")
            out["incident_start"] = await start.incident_start(world, runs=1 if quick else 5)
        pool: reactions.ItemPool | None = None
        if {"latency", "throughput"} & chosen:
            await ensure_incidents(world, REACTION_INCIDENTS)
            pool = reactions.item_pool(world)
        if "latency" in chosen and pool is not None:
            say("reaction latency")
            out["reaction_latency"] = await reactions.reaction_latency(
                world, pool, seconds=3 if quick else 10
            )
        if "throughput" in chosen and pool is not None:
            say("throughput")
            if quick:
                out["throughput"] = await reactions.throughput(
                    world, pool, probes=(25, 50), probe_seconds=2, confirm_seconds=3
                )
            else:
                out["throughput"] = await reactions.throughput(world, pool)
            out["throughput"]["sandbox_capacity"] = await reactions.sandbox_capacity(
                world, seconds=1 if quick else 3
            )
        if "ratelimit" in chosen:
            say("rate limits")
            out["rate_limit"] = await start.rate_limits(world)
        if {"recovery", "footprint"} & chosen:
            say("recovery")
            total = 40 if quick else 200
            out["recovery"] = await recovery.recovery(world, total=total, missed=5 if quick else 20)
            if "footprint" in chosen:
                say("footprint")
                all_items = recovery.pool_after_recovery(world, pool, out["recovery"]["checked_posts"])
                out["footprint"] = await recovery.footprint(world, all_items, seconds=3 if quick else 10)
            del out["recovery"]["checked_posts"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="small numbers: checks the bench, not the bot")
    parser.add_argument("--out", type=Path, help="JSON file to write (default bench/results/<time>.json)")
    parser.add_argument("--database-url", help="the bot's database (default: a new SQLite file)")
    parser.add_argument("--log-level", default="WARNING", help="the bot's SEV1BOT_LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (bot logs, database)")
    parser.add_argument(
        "--collapsed-threads",
        choices=["always_on", "default_on", "default_off", "disabled"],
        help="the server's CollapsedThreads setting (default: the server's, always_on); with any but "
        "always_on the bot posts one at a time",
    )
    parser.add_argument(
        "--profile-bot",
        type=Path,
        metavar="FILE",
        help="run each bot under yappi (pip install yappi); statistics to FILE.<n>.txt (slows it ~3x)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The sandbox drops websockets whose send queue overflows, as the server does; the stopped bot's
    # resumable connection overflows while the recovery scenario seeds incidents. Not news here.
    logging.getLogger("sev1bot.sandbox.hub").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="sev1bot-bench-"))
    began = time.perf_counter()
    try:
        results = asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    results["bench_seconds"] = round(time.perf_counter() - began, 1)
    out = args.out or ROOT / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
