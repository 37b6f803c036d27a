"""Replies posted alongside each other: one chain per thread, each reply after the one before it.

With threads collapsed, replies show only in their thread, in the order they were made, so replies to
different posts may be made side by side (the stages of a checklist, say); within a thread they must keep
their order, and a reply whose predecessor failed is never posted (it would come out of order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from sev1bot.core import effects as fx


class ReplyChains:
    """Replies being posted alongside each other: one chain per thread, each reply after the one before."""

    def __init__(self) -> None:
        self._tails: dict[fx.PostRef, asyncio.Task[None]] = {}

    def add(self, thread: fx.PostRef, reply: Coroutine[Any, Any, None]) -> None:
        self._tails[thread] = asyncio.ensure_future(_after(self._tails.get(thread), reply))

    async def join(self, *, raise_first: bool = True) -> None:
        """Wait for every reply in flight; then raise the first error, if any (and ``raise_first``)."""
        tails, self._tails = list(self._tails.values()), {}
        outcomes = await asyncio.gather(*tails, return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors and raise_first:
            raise errors[0]


async def _after(previous: asyncio.Task[None] | None, reply: Coroutine[Any, Any, None]) -> None:
    """Run ``reply`` once ``previous`` succeeded; fail with its error (and never post) if it did not."""
    if previous is not None:
        try:
            await previous
        except BaseException:
            reply.close()
            raise
    await reply
