"""Connections and who receives which event: the server's web hub, minus the sockets.

A ``Connection`` outlives its socket. Events keep queueing for a dropped connection (up to the send-queue
size) until it is resumed or expires; every event written gets the next ``seq`` and is kept in a dead
queue (128 by default) so that a client resuming with ``sequence_number`` gets what it missed.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.events import Event
from sev1bot.sandbox.ids import new_id
from sev1bot.sandbox.state import State

log = logging.getLogger(__name__)


@dataclass
class Outgoing:
    """A queued frame: an event (numbered when written), a reply, or a replayed event (already numbered)."""

    kind: str  # "event", "reply", "replay", or "off_contract" (a test's hostile frame: ``text`` or ``data``)
    event: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    broadcast: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass
class Connection:
    user_id: str
    config: SandboxConfig
    id: str = field(default_factory=new_id)
    sequence: int = 0
    reuse_count: int = 0
    pending: deque[Outgoing] = field(default_factory=deque)
    dead: deque[tuple[int, str]] = field(default_factory=deque)
    inactive_since: float | None = None
    off_contract: set[str] = field(default_factory=set)  # frames sent off the protocol on purpose
    wake: Callable[[], None] = lambda: None  # set by the socket that currently serves this connection
    drop: Callable[[], None] = lambda: None  # aborts that socket

    def enqueue(self, item: Outgoing) -> None:
        self.pending.append(item)
        self.wake()

    def next_frame(self) -> str | None:
        """Number and serialize the next queued frame, remembering events for replay."""
        if not self.pending:
            return None
        item = self.pending.popleft()
        if item.kind == "reply":
            return item.text
        if item.kind == "replay":
            self.sequence += 1
            return item.text
        if item.kind == "off_contract" and item.text:
            self.off_contract.add(item.text)
            return item.text  # not an event: no seq, nothing to replay
        if item.kind == "off_contract":
            body = {**item.data, "seq": self.sequence}  # numbered, so that a client reads on
        else:
            body = {"event": item.event, "data": item.data, "broadcast": item.broadcast, "seq": self.sequence}
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if item.kind == "off_contract":
            self.off_contract.add(text)
        self.dead.append((self.sequence, text))
        while len(self.dead) > self.config.dead_queue_size:
            self.dead.popleft()
        self.sequence += 1
        return text

    def resume_from(self, sequence: int) -> bool:
        """Prepare replay from ``sequence`` (``PopulateWebConnConfig`` + write pump). False: start over."""
        self.sequence = sequence
        if sequence == 0:
            return True
        seqs = [seq for seq, _ in self.dead]
        if sequence in seqs:
            replay = [Outgoing("replay", text=text) for seq, text in self.dead if seq >= sequence]
            self.pending.extendleft(reversed(replay))
            return True
        return not seqs or seqs[-1] == sequence - 1  # nothing lost: the client saw everything written


class Hub:
    def __init__(self, state: State, config: SandboxConfig) -> None:
        self.state = state
        self.config = config
        self.connections: dict[str, Connection] = {}
        self.check_frame: Callable[[str], None] | None = None  # the contract checker, when tests turn it on

    def register(self, connection: Connection) -> None:
        self.connections[connection.id] = connection

    def take_inactive(self, user_id: str, connection_id: str) -> Connection | None:
        """A dropped connection of this user that may be resumed (``RemoveInactiveByConnectionID``)."""
        self._expire()
        found = self.connections.get(connection_id)
        if found is None or found.user_id != user_id or found.inactive_since is None:
            return None
        found.reuse_count += 1
        found.inactive_since = None
        return found

    def rename(self, connection: Connection, new_connection_id: str) -> None:
        self.connections.pop(connection.id, None)
        connection.id = new_connection_id
        self.connections[new_connection_id] = connection

    def forget(self, connection: Connection) -> None:
        if self.connections.get(connection.id) is connection:
            del self.connections[connection.id]

    def publish(self, event: Event) -> None:
        self._expire()
        broadcast = event.broadcast.to_json()
        for connection in list(self.connections.values()):
            if not self.should_send(connection, event):
                continue
            if len(connection.pending) >= self.config.send_queue_size:
                log.warning(
                    "websocket send queue full for user %s; dropping the connection", connection.user_id
                )
                self.forget(connection)
                connection.drop()
                continue
            item = Outgoing("event", event.event, event.data_for(connection.user_id), broadcast)
            connection.enqueue(item)

    def should_send(self, connection: Connection, event: Event) -> bool:
        """``WebConn.ShouldSendEvent``: authenticated, then connection, then user, then channel or team
        membership. A deactivated user's sessions are revoked: their sockets stay open but get nothing."""
        user = self.state.users.get(connection.user_id)
        if user is None or user.delete_at:
            return False
        b = event.broadcast
        if b.connection_id:
            return connection.id == b.connection_id
        if b.omit_connection_id and connection.id == b.omit_connection_id:
            return False
        if b.user_id:
            return connection.user_id == b.user_id
        if b.omit_users and connection.user_id in b.omit_users:
            return False
        if b.channel_id:
            return self.state.channel_member(b.channel_id, connection.user_id) is not None
        if b.team_id:
            return self.state.team_member(b.team_id, connection.user_id) is not None
        return True

    def send_off_contract(self, user_id: str, frame: str | dict[str, Any]) -> int:
        """Queue ``frame`` on each live connection of ``user_id``, off the protocol on purpose: a str goes out
        as it is, a dict (an envelope without ``seq``) numbered like an event. The contract checker lets
        these pass. Returns how many connections it was queued on."""
        live = [c for c in self.connections.values() if c.user_id == user_id and c.inactive_since is None]
        for connection in live:
            if isinstance(frame, str):
                connection.enqueue(Outgoing("off_contract", text=frame))
            else:
                connection.enqueue(Outgoing("off_contract", data=frame))
        return len(live)

    def drop_all(self) -> int:
        """Cut every live socket without a close frame; connections stay resumable."""
        live = [c for c in self.connections.values() if c.inactive_since is None]
        for connection in live:
            connection.drop()
        return len(live)

    def restart(self) -> None:
        """A server restart: sockets cut, connection ids and replay buffers gone."""
        self.drop_all()
        self.connections.clear()

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.config.inactive_connection_ttl
        for connection in list(self.connections.values()):
            if connection.inactive_since is not None and connection.inactive_since < cutoff:
                self.forget(connection)
