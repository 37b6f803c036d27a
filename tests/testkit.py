"""What every test module shares: the one "are we in CI" rule, skipping that CI turns into failure, the
record of checks that were off (printed at the end of the run), and the one polling helper.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, NoReturn, TypeVar, overload

import pytest

from sev1bot.sandbox.app import Sandbox

T = TypeVar("T")

#: ``start_sandbox(seed=None, **settings)``: the conftest fixture that starts a contract-checked sandbox.
SandboxStarter = Callable[..., AbstractAsyncContextManager[Sandbox]]

#: Checks that did not run in this session, with why: printed loudly at the end (see conftest.py).
CHECKS_OFF: dict[str, str] = {}


def under_ci() -> bool:
    """CI=true (also 1 or yes, any case): skipping for a missing prerequisite is then a failure."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str, check: str | None = None) -> NoReturn:
    """Skip with ``reason`` (recording ``check`` as off for the run), or fail under CI."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: failing instead of skipping)", pytrace=False)
    if check is not None:
        CHECKS_OFF.setdefault(check, reason)
    pytest.skip(reason)


def checks_off(check: str, reason: str) -> None:
    """Record that ``check`` is off for this run (fails under CI, where nothing may be off)."""
    if under_ci():
        pytest.fail(f"{check} would be off: {reason} (CI=true: failing instead)", pytrace=False)
    CHECKS_OFF.setdefault(check, reason)


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = ..., what: str = ..., every: float = ...
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None], within: float = ..., what: str = ..., every: float = ...
) -> T: ...


async def eventually(
    check: Callable[[], Any], within: float = 10.0, what: str = "condition", every: float = 0.02
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, and return that.

    An AssertionError from ``check`` counts as "not yet". ``within`` is a give-up limit, not a claim about
    speed: keep it generous, so that a loaded machine is never mistaken for a broken bot.
    """
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            result = check()
            last = await result if inspect.isawaitable(result) else result
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            fail(f"timed out after {within}s waiting for {what}; last seen: {last!r}")
        await asyncio.sleep(every)


def fail(message: str) -> NoReturn:
    raise AssertionError(message)
