"""Two replicas in webhook mode on PostgreSQL and Redis behind a round-robin balancer, and one
of them killed in the middle of a burst: the other takes its work over and nothing is lost.

Real processes (``python -m bot``), a real SIGKILL, the fake Telegram enforcing its limits.
This needs PostgreSQL and Redis, so it runs in the PostgreSQL pass of the suite (``.ci/run``
sets ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL``); there it fails, never skips, when either
service cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.sandbox.emulator.server import FakeTelegram
from models import InboxUpdate, Reminder, Ticket
from tests.balancer import RoundRobin, free_port
from tests.burst import (
    BotProcess,
    Tally,
    bot_env,
    eventually,
    post,
    post_requests,
    refused_for_flood,
    seed,
)
from tests.test_pipeline_crash import IN_FLIGHT, TELEGRAM, TITLE, _count, _typed

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="replicas share PostgreSQL: this runs in the suite's PostgreSQL pass",
)

BURST = 40
SECRET = "replica-test-secret"
HOOK = "/telegram/hook"


async def _health(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return dict(await response.json())


async def test_two_replicas_lose_nothing_when_one_dies_mid_burst(  # noqa: PLR0915 - one story, step by step
    server: FakeTelegram, database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    assert redis_url, "replicas keep dialogues in Redis: set TEST_REDIS_URL as .ci/run does"
    server.limits = TELEGRAM
    cast = await seed(database_url, server, groups=20, mentors=2)
    group, coordinator = cast.groups[0], cast.coordinator
    ports = [free_port(), free_port()]
    balancer = RoundRobin([f"http://127.0.0.1:{port}" for port in ports])
    await balancer.start()
    # A meeting whose one reminder falls due a few seconds into the burst: the meeting is set
    # when the replicas are up (a reminder already due when a meeting is set is never made,
    # and two replicas may take more than a few seconds to start on a loaded machine).
    offset = 120
    replicas = []
    for number, port in enumerate(ports):
        workdir = tmp_path / f"replica-{number + 1}"
        workdir.mkdir()
        env = bot_env(
            database_url,
            server,
            REDIS_URL=redis_url,
            WEBHOOK_URL=balancer.url + HOOK,
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
            REMINDER_OFFSETS=f"{offset}s",
            # As on two machines: the survivor cannot see that the other's process is gone,
            # and waits for its leases to lapse.
            HOSTNAME=f"replica-{number + 1}",
        )
        replicas.append(BotProcess(env, workdir))
    try:
        for replica, port in zip(replicas, ports, strict=True):
            await replica.start(server, ready_url=f"http://127.0.0.1:{port}/healthz")
        await eventually(lambda: server.webhook_url == balancer.url + HOOK, 10, "the webhook set")
        senders = [(await _health(port))["sender"] for port in ports]
        assert sorted(senders) == ["sending", "standing by"], senders
        sender = senders.index("sending")
        survivor = 1 - sender

        starts = (datetime.now(UTC) + timedelta(seconds=offset + 12)).replace(microsecond=0)
        post(server, coordinator, group, f"/schedule {_typed(starts)} {TITLE}")
        await eventually(
            lambda: any("Придёте?" in m.content for m in server.history[group.id]),
            20,
            "the meeting announced",
        )
        tally = Tally(server, post_requests(server, cast, BURST))
        await asyncio.sleep(2)
        replicas[sender].kill()
        killed_at = time.monotonic()
        await replicas[sender].wait_dead()

        def finished() -> bool:
            if tally.acknowledged() < BURST:
                return False
            numbers = set(tally.numbers().values())
            return all(numbers <= tally.visible_to(mentor) for mentor in cast.mentors)

        try:
            await eventually(finished, 90, "every request acknowledged and offered after the kill")
        except AssertionError as error:
            numbers = set(tally.numbers().values())
            unseen = {m.first_name: sorted(numbers - tally.visible_to(m)) for m in cast.mentors}
            log = replicas[survivor].log.read_text()[-4000:]
            msg = (
                f"{error}: {tally.acknowledged()} acknowledged, unseen {unseen}; "
                f"{await _count(database_url, Ticket)} tickets, "
                f"{await _count(database_url, InboxUpdate, InboxUpdate.handled_at.is_(None))} "
                f"updates unhandled, webhook answers {Counter(server.webhook_statuses)}, "
                f"balancer served {dict(balancer.served)} skipped {dict(balancer.skipped)}; "
                f"survivor:\n{log}"
            )
            raise AssertionError(msg) from None
        handled_in = time.monotonic() - killed_at
        # Due while the survivor was taking over: its sweep (every 30 s) finds it, once the
        # dead replica's leases have lapsed.
        await eventually(
            lambda: any(m.by_bot and "⏰" in m.content for m in server.history[group.id]),
            120,
            "the reminder",
        )
        await asyncio.sleep(2)  # time for a duplicate to show, if one were coming
        health = await _health(ports[survivor])
    finally:
        for replica in replicas:
            await replica.stop()
        await balancer.stop()

    sends_after = [c.at for c in server.calls if c.ok and c.at > killed_at and c.method != "getMe"]
    takeover = min(sends_after) - killed_at
    print(  # noqa: T201 - the figures of the closing note, with -s
        f"\ntakeover: first send {takeover:.1f} s after the kill; "
        f"burst finished {handled_in:.1f} s after it; balancer {dict(balancer.served)}"
    )
    assert takeover < 30, f"the survivor began sending {takeover:.1f} s after the kill"
    assert health["sender"] == "sending" and health["inbox_backlog"] == 0
    assert health["outbox_backlog"] == 0
    assert await _count(database_url, Ticket) == BURST
    assert len(set(tally.numbers().values())) == BURST  # one ticket each
    acks = tally.acks()
    assert all(len(found) >= 1 for found in acks.values())
    # Only the messages on their way at the kill may have gone twice.
    assert sum(len(found) for found in acks.values()) <= BURST + IN_FLIGHT
    assert tally.duplicates() <= IN_FLIGHT
    assert refused_for_flood(server) == []
    reminders = [m for m in server.history[group.id] if m.by_bot and "⏰" in m.content]
    assert len(reminders) == 1
    assert await _count(database_url, Reminder, Reminder.sent_at.is_not(None)) == 1
