"""Small helpers for the numbers: percentiles, medians, CPU use, and a description of the machine."""

from __future__ import annotations

import math
import os
import platform
import resource
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); ``inf`` entries (no answer) count as the slowest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> float | None:
    """Seconds as milliseconds rounded to 0.1; None for 'never' (inf) so the JSON stays valid."""
    if math.isinf(seconds) or math.isnan(seconds):
        return None
    return round(seconds * 1000, 1)


def latency_summary(latencies: Sequence[float]) -> dict[str, Any]:
    answered = [x for x in latencies if not math.isinf(x)]
    return {
        "samples": len(latencies),
        "unanswered": len(latencies) - len(answered),
        "p50_ms": ms(percentile(latencies, 50)),
        "p95_ms": ms(percentile(latencies, 95)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies)) if latencies else None,
        "mean_ms": ms(statistics.fmean(answered)) if answered else None,
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Share of a core used by this process and by the bot (``other_cpu``) between start and ``read()``."""

    def __init__(self, other_cpu: Callable[[], float]) -> None:
        self._pid_cpu = other_cpu
        self.wall0 = time.perf_counter()
        self.self0 = self_cpu_seconds()
        self.other0 = self._pid_cpu()

    def read(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall0
        return {
            "bot_cpu_pct": round(100 * (self._pid_cpu() - self.other0) / wall, 1),
            "sandbox_and_load_cpu_pct": round(100 * (self_cpu_seconds() - self.self0) / wall, 1),
        }


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    mem_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for package in ("aiohttp", "httpx", "SQLAlchemy", "pydantic", "mattermostautodriver"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }
