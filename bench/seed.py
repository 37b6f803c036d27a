"""Put many active incidents in the database and the sandbox at once, as the bot would have left them.

Starting 200 incidents through the bot costs ~11,000 API calls and minutes; the recovery and footprint
scenarios only need them to exist. So each incident is decided by the real core (``start``), its state
and post map written with the store's own table functions in one transaction, and its effects (channel,
members, posts, pin) carried out directly on the sandbox's in-memory model. The result is what the bot's
executor produces, minus the time.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from sqlalchemy import update

from sev1bot.core import effects as fx
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import start
from sev1bot.core.events import Started
from sev1bot.core.naming import channel_name
from sev1bot.playbook.schema import Playbook
from sev1bot.sandbox.app import Sandbox
from sev1bot.service.welcomes import WELCOME_PREFIX
from sev1bot.store import once
from sev1bot.store.engine import make_engine
from sev1bot.store.incidents import insert_incident
from sev1bot.store.posts import record_posts
from sev1bot.store.tables import incidents


async def seed_incidents(
    sandbox: Sandbox,
    database_url: str,
    playbook: Playbook,
    count: int,
    *,
    actor: str = "alice",
    label: str = "Seeded",
) -> list[str]:
    """Create ``count`` active incidents started by ``actor``; returns their ids.

    Pauses after each incident so the sandbox can send its websocket events: a burst of thousands would
    overflow a listener's send queue, and the sandbox drops such a connection, as the server does.
    """
    bot = sandbox.bot
    calendar = BusinessCalendar()
    engine = make_engine(database_url)
    created: list[str] = []
    try:
        with engine.begin() as conn:
            for n in range(count):
                now = datetime.now(UTC)
                customer = f"{label} {n:03d} {secrets.token_hex(2)}"
                incident_id = secrets.token_hex(6)
                event = Started(incident_id, actor, customer, channel_name(now, customer), "seeded")
                decision = start(event, playbook, now, calendar)
                insert_incident(conn, decision.state, playbook, now)
                channel_id = ""
                post_ids: dict[fx.PostRef, str] = {}
                for effect in decision.effects:
                    match effect:
                        case fx.CreateChannel(name, display_name, header, purpose):
                            body = {
                                "team_id": sandbox.team.id,
                                "name": name,
                                "display_name": display_name,
                                "header": header[:1024],
                                "purpose": purpose[:250],
                                "type": "P",
                            }
                            channel_id = sandbox.channels.create_channel(bot, body).id
                            conn.execute(
                                update(incidents)
                                .where(incidents.c.id == incident_id)
                                .values(channel_id=channel_id)
                            )
                        case fx.Invite(usernames):
                            ids = [sandbox.users[u].id for u in usernames if u in sandbox.users]
                            sandbox.channels.add_members(bot, channel_id, ids)
                            for username in usernames:  # welcomed, as the running bot would have done
                                once.claim(conn, incident_id, f"{WELCOME_PREFIX}{username}", now)
                        case fx.Post(message, ref, thread, pin):
                            root_id = post_ids[thread] if thread is not None else ""
                            body = {"channel_id": channel_id, "message": message, "root_id": root_id}
                            post = sandbox.posts.create_post(bot, body, set_online=False)
                            if ref is not None:
                                post_ids[ref] = post.id
                                record_posts(conn, [(incident_id, ref, post.id)])
                            if pin:
                                sandbox.posts.set_pinned(bot, post.id, True)
                        case _:
                            pass  # timers live in the stored state; nothing else is in a start
                created.append(incident_id)
                await asyncio.sleep(0.01)
    finally:
        engine.dispose()
    return created
