"""Migrations: the head revision builds exactly the tables in ``tables.py`` and upgrades keep data."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from sev1bot.store import NewerSchema, NotMigrated, Store
from sev1bot.store import migrate as migrations
from sev1bot.store.engine import make_engine
from sev1bot.store.tables import metadata
from store_peek import version
from store_samples import T0, incident, playbook


def test_revisions_form_one_line_ending_at_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert script.get_heads() == [migrations.head_revision()]
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert chain[-1] == "0001" and chain[0] == migrations.head_revision()


def test_head_matches_the_metadata(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrations.upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
            assert migrations.current_revision(conn) == migrations.head_revision()
            names = set(inspect(conn).get_table_names())
        assert names == {table.name for table in metadata.sorted_tables} | {"alembic_version"}
    finally:
        engine.dispose()


def test_unmigrated_database_says_so(db_url: str) -> None:
    with Store(db_url) as store, pytest.raises(NotMigrated, match=r"run Store\.migrate\(\)"):
        store.load("inc-1")


def test_upgrade_keeps_existing_data(db_url: str) -> None:
    """Data written under the first revision is still there, and usable, after upgrading to head."""
    engine = make_engine(db_url)
    try:
        migrations.upgrade(engine, "0001")
        with engine.begin() as conn:
            assert not inspect(conn).has_table("leases")
            conn.execute(
                text(
                    "INSERT INTO incidents (id, playbook_id, playbook_json, channel_name, customer, summary,"
                    " owner, reporter, status, started_at, escalations_sent, version, created_at)"
                    " VALUES ('old-1', 'sev1', :pb, 'sev1-old', 'Acme', 'Old one', 'alice', 'bob', 'active',"
                    " :t0, 1, 4, :t0)"
                ),
                {"pb": playbook().model_dump_json(), "t0": _stored(db_url, T0)},
            )
            conn.execute(
                text(
                    'INSERT INTO items (incident_id, key, status, "by", at)'
                    " VALUES ('old-1', '1.1', 'done', 'alice', :at)"
                ),
                {"at": _stored(db_url, T0 + timedelta(minutes=3))},
            )
            conn.execute(
                text(
                    "INSERT INTO sent (incident_id, key, sent_at, post_id)"
                    " VALUES ('old-1', 'escalation:1', :t, 'p1')"
                ),
                {"t": _stored(db_url, T0)},
            )
    finally:
        engine.dispose()

    with Store(db_url) as store:
        store.migrate()
        state = store.load("old-1")
        assert state is not None
        assert (state.summary, state.escalations_sent, version(store, "old-1")) == ("Old one", 1, 4)
        assert state.started_at == T0 and state.items["1.1"].at == T0 + timedelta(minutes=3)
        assert store.load_playbook("old-1") == playbook()
        assert not store.claim("old-1", "escalation:1")
        assert store.acquire_lease("leader", "a", timedelta(seconds=5), T0) == 1  # the new table works
        assert state.outage_started_at is None and state.customer_replies == () and state.etas == ()
        store.migrate()  # idempotent
        assert store.load("old-1") == state


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrations.upgrade(engine)
        migrations.downgrade(engine, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            assert migrations.current_revision(conn) is None
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    with Store(db_url) as store:
        store.create_incident(incident(), playbook())
        assert store.load("inc-1") == incident()


def test_replicas_migrating_at_once_all_succeed(db_url: str) -> None:
    """Replicas starting together all call migrate() on a new database: one migrates, the rest wait."""
    stores = [Store(db_url, busy_timeout=20) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(store: Store) -> None:
        barrier.wait()
        try:
            store.migrate()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert errors == []
        stores[0].create_incident(incident(), playbook())
        assert stores[1].load("inc-1") == incident()
    finally:
        for store in stores:
            store.close()


def _stored(db_url: str, value: datetime) -> object:
    """A datetime as raw SQL must pass it: naive UTC text for SQLite, aware for PostgreSQL."""
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ") if db_url.startswith("sqlite") else value


def test_a_database_a_newer_sev1bot_migrated_is_refused_with_its_revision_and_left_as_it_is(
    db_url: str,
) -> None:
    with Store(db_url) as store:
        store.migrate()
        store.create_incident(incident(), playbook())
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    finally:
        engine.dispose()
    with Store(db_url) as store:
        with pytest.raises(NewerSchema) as caught:
            store.migrate()
        assert str(caught.value) == (
            f"{store.where} is at schema revision '0099', which this sev1bot does not know (its newest is "
            f"'{migrations.head_revision()}'): a newer sev1bot migrated it. Run that version, or restore a "
            "backup from before the upgrade."
        )
        with store._tx() as conn:
            assert migrations.current_revision(conn) == "0099"
        assert store.load("inc-1") == incident()  # nothing was touched
