"""The results as a table, each figure beside its target."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str]  # what, value, target, verdict


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def rows(results: dict[str, Any]) -> list[Row]:
    s = results["scenarios"]
    out: list[Row] = []
    if "incident_start" in s:
        r = s["incident_start"]
        out += [
            (
                "start: bot, slash command -> last post",
                f"{r['bot_s']:.3f} s",
                "< 1.5 s",
                _verdict(r["bot_s"] < 1.5),
            ),
            ("start: floor (bare client, same posts)", f"{r['floor_s']:.3f} s", "", ""),
            ("start: floor through the bot's REST adapter", f"{r['adapter_floor_s']:.3f} s", "", ""),
            (
                "start: floor, stages side by side as the bot",
                f"{r['side_by_side_floor_s']:.3f} s"
                + ("" if r.get("threads_collapsed") else " (the bot goes one at a time here)"),
                "",
                "",
            ),
            ("start: bare client inside the sandbox process", f"{r['inprocess_floor_s']:.3f} s", "", ""),
            ("start: bot / floor", f"{r['ratio']:.2f}x", "<= 1.3x", _verdict(r["ratio"] <= 1.3)),
            ("start: API calls, bot / floor", f"{r['bot_calls']} / {r['floor_calls']}", "", ""),
        ]
    if "reaction_latency" in s:
        for key, r in s["reaction_latency"].items():
            if not key.startswith("rate_"):
                continue
            ok = None
            if key == "rate_50":
                ok = r["p99_ms"] is not None and r["p99_ms"] < 100 and r["unanswered"] == 0
            value = f"p50 {r['p50_ms']} / p95 {r['p95_ms']} / p99 {r['p99_ms']} ms"
            out.append(
                (
                    f"reaction -> edit at {key[5:]}/s",
                    value,
                    "p99 < 100 ms at 50/s" if ok is not None else "",
                    _verdict(ok),
                )
            )
    if "throughput" in s:
        r = s["throughput"]
        held = r["confirmations"][-1] if r["confirmations"] else None
        detail = f" (p99 {held['p99_ms']} ms, bot CPU {held['bot_cpu_pct']}%)" if held else ""
        out.append(
            (
                "sustained reactions/s for 30 s, p99 < 1 s",
                f"{r['sustained_per_s']:g}{detail}",
                ">= 300",
                _verdict(r["sustained_per_s"] >= 300),
            )
        )
        cap = r.get("sandbox_capacity")
        if cap:
            value = f"{cap['reaction_toggles_per_s']} toggles/s, {cap['post_edits_per_s']} edits/s"
            out.append(("sandbox alone, flat out (one core)", value, "", ""))
    if "rate_limit" in s:
        for r in s["rate_limit"].values():
            out.append(
                (
                    f"start under rate limit, {r['incidents']} at once",
                    f"{r['seconds']:.2f} s, {r['bot_429s']} x 429 (floor {r['rate_floor_s']} s)",
                    "",
                    "",
                )
            )
    if "recovery" in s:
        r = s["recovery"]
        out += [
            (f"restart with {r['active_incidents']} active: ready", f"{r['ready_s']:.2f} s", "", ""),
            (
                f"restart with {r['active_incidents']} active: caught up",
                f"{r['caught_up_s']:.2f} s",
                "< 5 s",
                _verdict(r["caught_up_s"] < 5),
            ),
            ("restart: API calls until caught up", f"{r['calls']}", "", ""),
        ]
    if "footprint" in s:
        r = s["footprint"]
        out.append(
            (
                "peak RSS of the bot, 200 active",
                f"{r['peak_rss_mb']:.0f} MB",
                "< 150 MB",
                _verdict(r["peak_rss_mb"] < 150),
            )
        )
    return out


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    head = f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, Python {m['python']}"
    body = rows(results)
    widths = [max(len(r[i]) for r in [("what", "value", "target", ""), *body]) for i in range(4)]
    lines = [head, ""]
    for row in [("what", "value", "target", ""), *body]:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)
