"""The durable store: one object; async code calls its methods through :meth:`Store.run`.

Every method is one transaction. Writes on SQLite start with ``BEGIN IMMEDIATE``; ``update`` additionally
locks the incident row on PostgreSQL (``SELECT ... FOR UPDATE``), so a read-decide-write from two replicas,
or from a reaction and a slash command at once, runs one after the other and neither update is lost.

Loading an incident reads its items and its whole timeline, which grows with every event; the bot loads
an incident twice per reaction. So the store keeps the last committed state of each incident it has seen,
tagged with its version: a load reads the version alone and rebuilds the state only when it changed (every
save bumps it, whoever saves). A state is remembered only after its transaction committed (statecache.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, exists, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from sev1bot.core.effects import Effect, PostRef
from sev1bot.core.state import IncidentState, IncidentStatus
from sev1bot.core.times import Clock, utcnow
from sev1bot.playbook.schema import Playbook
from sev1bot.store import leases, migrate, once, outbox
from sev1bot.store import posts as post_map
from sev1bot.store.engine import (
    DEFAULT_URL,
    WRITE,
    describe,
    driver_errors,
    is_memory,
    make_engine,
    parse_url,
    sqlite_path,
)
from sev1bot.store.errors import (
    ChannelIdTaken,
    ChannelNameTaken,
    Fenced,
    IncidentExists,
    IncidentNotFound,
    IncidentUnreadable,
    StoreReadOnly,
)
from sev1bot.store.incidents import insert_incident, load_incidents, save_changes
from sev1bot.store.leases import Fence
from sev1bot.store.outbox import Batch, Delivered
from sev1bot.store.statecache import StateCache
from sev1bot.store.tables import incidents, timers
from sev1bot.store.tables import leases as lease_rows

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

# Statements made once (see store/incidents.py).
_VERSION = select(incidents.c.version).where(incidents.c.id == bindparam("b_id"))
_LOCK_VERSION = _VERSION.with_for_update()  # holds the row (PostgreSQL) until the transaction ends
_CHANNEL = select(incidents.c.channel_id).where(incidents.c.id == bindparam("b_id"))
# Writes nothing, but a database that refuses writes refuses it: SQLite takes its write lock for any UPDATE,
# PostgreSQL checks a read-only transaction and the UPDATE privilege before looking for rows.
_WRITE_PROBE = update(lease_rows).where(lease_rows.c.name.is_(None)).values(fence=lease_rows.c.fence)


class Outcome(Protocol):
    """What a step of :meth:`Store.apply` returns, e.g. ``sev1bot.core.decide.Decision``."""

    @property
    def state(self) -> IncidentState: ...

    @property
    def effects(self) -> Sequence[Effect]: ...


D = TypeVar("D", bound=Outcome)


class Store:
    def __init__(
        self, url: str | URL = DEFAULT_URL, *, busy_timeout: float = 30.0, clock: Clock = utcnow
    ) -> None:
        self.clock = clock  # stamps new incidents, outbox rows, claims and seen requests
        parsed = parse_url(url)
        self.url = parsed.render_as_string(hide_password=True)  # safe to log
        self.where = describe(parsed)  # "database file /abs/path.db" or "database <url>", for messages
        self._path = sqlite_path(parsed)
        self.backend = parsed.get_backend_name()
        self._engine = make_engine(parsed, busy_timeout=busy_timeout)
        # An in-memory SQLite database is one shared connection: let one thread use it at a time.
        self._serial: AbstractContextManager[Any] = threading.RLock() if is_memory(parsed) else nullcontext()
        # SQLite has one writer at a time. Its busy handler makes a waiting writer sleep and retry, with
        # sleeps growing to 100 ms, so a few threads writing at once cost whole seconds of latency under
        # load; queueing this process's writers on a lock costs nothing. Other processes still wait on
        # the busy timeout. PostgreSQL locks rows, not the database: no lock needed.
        self._writers: AbstractContextManager[Any] = (
            threading.Lock() if self.backend == "sqlite" and not is_memory(parsed) else nullcontext()
        )
        self.inline = self.backend == "sqlite"  # see run()
        self._playbooks: dict[str, Playbook] = {}
        self._states = StateCache()  # id -> last committed (state, version)
        self._read_only: str | None = None  # see write_problem
        self._unreadable: set[int] = set()  # outbox entries this version cannot read: logged once, skipped
        self._unreadable_incidents: set[str] = set()  # whose playbook snapshot cannot be read: logged once
        self._memory = is_memory(parsed)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call one of this store's methods from the event loop: ``await store.run(store.load, id)``.

        SQLite runs it right here. Its calls are short and never wait on a network, and handing each to a
        thread cost far more than the call: while the loop is busy, a worker thread waits up to the
        interpreter's switch interval (5 ms) every time it takes the GIL back, and a transaction takes it
        back after every statement. Under load that made each transaction tens of milliseconds and the
        bot fell seconds behind (docs/performance.md). PostgreSQL runs in a thread: its server can stall
        or be unreachable, and the loop must keep serving meanwhile.
        """
        if self.inline:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    def migrate(self) -> None:
        """Bring the schema up to the newest revision (safe to call from several processes at once), then
        find out whether the database takes writes (:attr:`write_problem`).

        Errors are raised, not logged: the caller (start-up) reports them."""
        with self._serial, driver_errors(self.where, self._path, quiet=True):
            migrate.upgrade(self._engine, where=self.where)
        self.check_writable()

    @property
    def write_problem(self) -> str | None:
        """Why the database refuses writes (read-only), as found by the last write; None while writes work.

        Every write updates it, so with the leader lease renewed every few seconds it is never stale for
        long; :meth:`check_writable` finds out at once."""
        return self._read_only

    def check_writable(self) -> str | None:
        """Try a write that changes nothing and return (and remember) why it was refused, or None."""
        try:
            with self._tx(write=True) as conn:
                conn.execute(_WRITE_PROBE)
        except StoreReadOnly as exc:
            return str(exc)
        return None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- incidents -------------------------------------------------------------------------------------

    def create_incident(
        self, state: IncidentState, playbook: Playbook, effects: Sequence[Effect] = ()
    ) -> None:
        """Store a new incident with a snapshot of its playbook (version 1), and its first effects."""
        try:
            with self._tx(write=True) as conn:
                now = self.clock()
                insert_incident(conn, state, playbook, now)
                outbox.enqueue(conn, state.id, effects, now)
        except sa_exc.IntegrityError as exc:
            message = str(exc.orig)
            if "channel_name" in message:
                raise ChannelNameTaken(state.channel_name) from None
            if "incidents.id" in message or "pk_incidents" in message:
                raise IncidentExists(state.id) from None
            raise
        self._remember(state, 1)
        log.info(
            "incident %s stored (channel %s, playbook %s)", state.id, state.channel_name, state.playbook_id
        )

    def channel_name_taken(self, name: str) -> bool:
        with self._tx() as conn:
            return bool(conn.execute(select(exists().where(incidents.c.channel_name == name))).scalar())

    def load(self, incident_id: str) -> IncidentState | None:
        with self._tx() as conn:
            cached = self._states.get(incident_id)
            if cached is not None and conn.execute(_VERSION, {"b_id": incident_id}).scalar() == cached[1]:
                return cached[0]
            found = load_incidents(conn, [incident_id])
        if not found:
            return None
        self._remember(*found[0])  # committed: it was read (the transaction only reads)
        return found[0][0]

    def load_playbook(self, incident_id: str) -> Playbook:
        """The playbook as it was when the incident started."""
        cached = self._playbooks.get(incident_id)
        if cached is not None:
            return cached
        with self._tx() as conn:
            return self._playbook(conn, incident_id)

    @overload
    def update(self, incident_id: str, fn: Callable[[IncidentState], IncidentState]) -> IncidentState: ...

    @overload
    def update(
        self, incident_id: str, fn: Callable[[IncidentState], tuple[IncidentState, T]]
    ) -> tuple[IncidentState, T]: ...

    def update(self, incident_id: str, fn: Callable[[IncidentState], Any]) -> Any:
        """Load with a lock, apply ``fn``, save: one transaction. ``fn`` returns the new state, or a tuple
        whose first element is the new state (e.g. ``decide``'s ``(state, effects)``); that value is
        returned. If ``fn`` raises, nothing is written. Raise IncidentNotFound for an unknown id."""
        with self._tx(write=True) as conn:
            state, version = self._locked(conn, incident_id)
            result = fn(state)
            new = result if isinstance(result, IncidentState) else result[0]
            version = self._write(conn, state, new, version)
        self._remember(new, version)
        return result

    def apply(self, incident_id: str, step: Callable[[IncidentState, Playbook], D]) -> D:
        """Like :meth:`update`, for a step that also gets the playbook snapshot and returns a decision
        (``.state``, ``.effects``): the new state and its effects (into the outbox) commit together."""
        with self._tx(write=True) as conn:
            state, version = self._locked(conn, incident_id)
            decision = step(state, self._playbook(conn, incident_id))
            version = self._write(conn, state, decision.state, version)
            outbox.enqueue(conn, incident_id, decision.effects, self.clock())
        self._remember(decision.state, version)
        return decision

    def active_incidents(self) -> list[IncidentState]:
        """Active incidents in order of start."""
        with self._tx() as conn:
            found = load_incidents(conn, where=incidents.c.status == IncidentStatus.ACTIVE.value)
        for state, version in found:
            self._remember(state, version)
        return [state for state, _ in found]

    def active_with_posts(self) -> list[tuple[IncidentState, Playbook, str | None, dict[PostRef, str]]]:
        """Every active incident with its playbook snapshot, channel id and post ids, in one transaction:
        what reconciliation needs, without three thread hops per incident."""
        with self._tx() as conn:
            found = load_incidents(conn, where=incidents.c.status == IncidentStatus.ACTIVE.value)
            ids = [state.id for state, _ in found]
            query = select(incidents.c.id, incidents.c.channel_id).where(incidents.c.id.in_(ids))
            channels: dict[str, str | None] = {row.id: row.channel_id for row in conn.execute(query)}
            refs = post_map.posts_of_many(conn, ids)
            playbooks = {i: playbook for i in ids if (playbook := self._readable_playbook(conn, i))}
        for state, version in found:
            self._remember(state, version)
        return [
            (state, playbooks[state.id], channels.get(state.id), refs[state.id])
            for state, _ in found
            if state.id in playbooks  # one whose snapshot cannot be read is left out (and was logged)
        ]

    def active_channels_with_sent(self, prefix: str) -> list[tuple[str, str, set[str]]]:
        """Every active incident that has its channel: (incident id, channel id, the keys claimed for it that
        start with ``prefix``), in one transaction: who has been welcomed, for instance."""
        with self._tx() as conn:
            query = (
                select(incidents.c.id, incidents.c.channel_id)
                .where(incidents.c.status == IncidentStatus.ACTIVE.value, incidents.c.channel_id.is_not(None))
                .order_by(incidents.c.started_at, incidents.c.id)
            )
            channels = [(row.id, row.channel_id) for row in conn.execute(query)]
            claimed = once.keys_with_prefix(conn, [incident_id for incident_id, _ in channels], prefix)
        return [(incident_id, channel_id, claimed[incident_id]) for incident_id, channel_id in channels]

    def incident_by_channel_id(self, channel_id: str) -> IncidentState | None:
        with self._tx() as conn:
            found = load_incidents(conn, where=incidents.c.channel_id == channel_id)
        return found[0][0] if found else None

    def set_channel_id(self, incident_id: str, channel_id: str) -> None:
        """Bind the Mattermost channel the incident runs in (ChannelIdTaken if another incident has it)."""
        try:
            with self._tx(write=True) as conn:
                done = conn.execute(
                    update(incidents).where(incidents.c.id == incident_id).values(channel_id=channel_id)
                )
                if done.rowcount != 1:
                    raise IncidentNotFound(incident_id)
        except sa_exc.IntegrityError:
            raise ChannelIdTaken(channel_id) from None

    def channel_id_of(self, incident_id: str) -> str | None:
        with self._tx() as conn:
            row = conn.execute(select(incidents.c.channel_id).where(incidents.c.id == incident_id)).first()
        if row is None:
            raise IncidentNotFound(incident_id)
        channel_id: str | None = row.channel_id
        return channel_id

    def channel_ids(self, incident_ids: Sequence[str]) -> dict[str, str | None]:
        """The channel id of each incident, None while it has no channel (not created yet)."""
        query = select(incidents.c.id, incidents.c.channel_id).where(incidents.c.id.in_(list(incident_ids)))
        with self._tx() as conn:
            return {row.id: row.channel_id for row in conn.execute(query)}

    def pending_timers(self) -> list[tuple[str, str, datetime]]:
        """Every stored timer, soonest first: what the scheduler re-arms after a restart.

        Resolved incidents are included: their business-day deadline reminders are still pending.
        """
        with self._tx() as conn:
            rows = conn.execute(select(timers).order_by(timers.c.due_at, timers.c.incident_id, timers.c.key))
            return [(row.incident_id, row.key, row.due_at) for row in rows]

    # -- posts -----------------------------------------------------------------------------------------

    def post_route(self, post_id: str) -> tuple[str, PostRef, Playbook] | None:
        """For a post of ours: its incident, ref and playbook snapshot, in one transaction (a reaction needs
        all three, and they never change). None for any other post, and for one of an incident whose
        snapshot cannot be read (logged when first found)."""
        with self._tx() as conn:
            found = post_map.ref_for_post(conn, post_id)
            if found is None:
                return None
            incident_id, ref = found
            playbook = self._readable_playbook(conn, incident_id)
            return None if playbook is None else (incident_id, ref, playbook)

    # -- outbox ----------------------------------------------------------------------------------------

    def outbox_batch(
        self, incident_id: str, limit: int = 50, known: Batch | None = None, fence: Fence | None = None
    ) -> Batch:
        """The incident's undelivered effects, oldest first (at most ``limit``), with its channel and the post
        ids of the refs the effects name, read in one transaction. ``known`` is what the caller already knows
        of them (a channel id and post ids, which never change once set): only the rest is read.

        With ``fence`` (the leader's), raise Fenced instead if it is stale: checked in the same transaction
        as the read, so a deposed leader gets no batch to deliver, at the cost of one more statement."""
        with self._tx() as conn:
            self._check_fence(conn, fence)
            entries = outbox.pending(conn, incident_id, limit, self._unreadable)
            if not entries:
                return Batch([], None, {})
            channel_id = known.channel_id if known is not None else None
            if channel_id is None:
                channel_id = conn.execute(_CHANNEL, {"b_id": incident_id}).scalar()
            have = known.posts if known is not None else {}
            wanted = {ref for ref in outbox.refs_of(entries) if ref not in have}
            found = post_map.posts_for(conn, incident_id, wanted)
            return Batch(entries, channel_id, {**have, **found})

    def delivered(self, done: Sequence[Delivered], fence: Fence | None = None) -> str | None:
        """Write down what delivered effects produced and forget them, in one transaction, in order.

        With ``fence``, also return why it is stale (None while it is not): what was delivered is written
        down all the same, and a long delivery pass learns that it must stop without a query of its own."""
        with self._tx(write=True) as conn:
            post_map.record_posts(conn, [(d.incident_id, *d.post) for d in done if d.post is not None])
            for item in done:
                if item.sent is not None:
                    once.complete(conn, item.incident_id, *item.sent)
            outbox.done_many(conn, [entry_id for item in done for entry_id in item.entry_ids])
            return None if fence is None else leases.stale(conn, fence, self.clock())

    def outbox_incidents(self) -> list[str]:
        with self._tx() as conn:
            return outbox.incidents_with_pending(conn)

    # -- sent once / seen requests ---------------------------------------------------------------------

    def claim(self, incident_id: str, key: str, now: datetime | None = None) -> bool:
        """Reserve the right to send ``key`` once: True for exactly one caller, ever (until ``release``)."""
        try:
            with self._tx(write=True) as conn:
                return once.claim(conn, incident_id, key, now or self.clock())
        except sa_exc.IntegrityError:  # the foreign key: no such incident
            raise IncidentNotFound(incident_id) from None

    def release(self, incident_id: str, key: str) -> bool:
        with self._tx(write=True) as conn:
            return once.release(conn, incident_id, key)

    def seen_request(self, request_id: str, now: datetime | None = None) -> bool:
        """True if ``request_id`` was recorded before; records it otherwise."""
        with self._tx(write=True) as conn:
            return once.seen_request(conn, request_id, now or self.clock())

    def prune_requests(self, before: datetime) -> int:
        with self._tx(write=True) as conn:
            return once.prune_requests(conn, before)

    # -- leases ----------------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl: timedelta, now: datetime) -> int | None:
        with self._tx(write=True) as conn:
            return leases.acquire(conn, name, holder, ttl, now)

    def release_lease(self, name: str, holder: str) -> bool:
        with self._tx(write=True) as conn:
            return leases.release(conn, name, holder)

    def check_fence(self, name: str, fence: int) -> bool:
        with self._tx() as conn:
            return leases.check_fence(conn, name, fence)

    # -- plumbing --------------------------------------------------------------------------------------

    def _check_fence(self, conn: Connection, fence: Fence | None) -> None:
        if fence is not None and (why := leases.stale(conn, fence, self.clock())) is not None:
            raise Fenced(why)

    def _locked(self, conn: Connection, incident_id: str) -> tuple[IncidentState, int]:
        """Load the incident, holding its row lock (PostgreSQL) until the transaction ends."""
        cached = self._states.get(incident_id)
        if cached is not None:
            version = conn.execute(_LOCK_VERSION, {"b_id": incident_id}).scalar()
            if version is None:
                raise IncidentNotFound(incident_id)
            if version == cached[1]:
                return cached
        found = load_incidents(conn, [incident_id], lock=True)
        if not found:
            raise IncidentNotFound(incident_id)
        return found[0]

    def _write(self, conn: Connection, old: IncidentState, new: object, version: int) -> int:
        """Save ``new`` over ``old`` (loaded at ``version``) if it differs; the version it is stored at."""
        if not isinstance(new, IncidentState) or new.id != old.id:
            raise ValueError(f"incident {old.id!r}: the update must return this incident's new state")
        if new is old or new == old:
            return version
        with self._save_errors(new):
            return save_changes(conn, old, new, version)  # ``old`` is what is stored at ``version``

    def _remember(self, state: IncidentState, version: int) -> None:
        self._states.remember(state, version)

    def _playbook(self, conn: Connection, incident_id: str) -> Playbook:
        """The snapshot, parsed once per incident (it never changes). IncidentUnreadable if this version
        cannot read it: logged once, as an error, the first time."""
        cached = self._playbooks.get(incident_id)
        if cached is None:
            query = select(incidents.c.playbook_json).where(incidents.c.id == incident_id)
            text = conn.execute(query).scalar()
            if text is None:
                raise IncidentNotFound(incident_id)
            try:
                parsed = Playbook.model_validate_json(text)
            except ValidationError as exc:
                problem = IncidentUnreadable(incident_id, _first_problem(exc))
                if incident_id not in self._unreadable_incidents:
                    self._unreadable_incidents.add(incident_id)
                    log.error("%s", problem)
                raise problem from None
            if len(self._playbooks) >= 256:
                self._playbooks.clear()
            cached = self._playbooks[incident_id] = parsed
        return cached

    def _readable_playbook(self, conn: Connection, incident_id: str) -> Playbook | None:
        try:
            return self._playbook(conn, incident_id)
        except IncidentUnreadable:
            return None

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        writers = self._writers if write else nullcontext()
        if write and self._read_only is not None and not self._memory:
            # A connection keeps what it was opened with: SQLite opens a file it may not write read-only
            # for good, PostgreSQL applies a role's default_transaction_read_only at login. While writes
            # are refused, each write opens fresh connections, so the first one after a fix goes through.
            self._engine.dispose()
        try:
            with self._serial, writers, driver_errors(self.where, self._path), self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE: True})
                with conn.begin():
                    yield conn
        except StoreReadOnly as exc:
            if write:
                self._refused(str(exc))
            raise
        if write and self._read_only is not None:
            log.info("%s takes writes again", self.where)
            self._read_only = None

    def _refused(self, why: str) -> None:
        if self._read_only is None:  # once per episode: the lease is retried every few seconds
            log.warning("%s; nothing can be saved until it is writable", why)
        self._read_only = why

    @contextmanager
    def _save_errors(self, state: IncidentState) -> Iterator[None]:
        try:
            yield
        except sa_exc.IntegrityError as exc:
            if "channel_name" in str(exc.orig):
                raise ChannelNameTaken(state.channel_name) from None
            raise


def _first_problem(error: ValidationError) -> str:
    """'field.path: message' for the first problem, without the (possibly long) stored value."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the snapshot"
    more = error.error_count() - 1
    return f"{where}: {first['msg']}" + (f", and {more} more problem{'s' * (more > 1)}" if more else "")
