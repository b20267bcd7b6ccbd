"""Measure how a burst outlives Telegram being unreachable.

    .venv/bin/python bench/faults.py [--mode 502|reset|both] [--outage 90] [--requests 60]
                                     [--database sqlite|postgresql] [--postgres postgresql://...]

Everything runs on this machine: the fake Bot API of the tests (``bot/sandbox/emulator``) on
127.0.0.1 enforcing Telegram's limits (30/s per bot, 1/s per private chat, 20 per minute per
group), ``python -m bot`` as a real process with its defaults, an SQLite file in a temporary
directory or a fresh database on the PostgreSQL given by ``--postgres``. A programme of 20
groups, 2 mentors of the requests' topic, a coordinator and an admin; the requests arrive at
once, and after the tenth acknowledgement every Bot API call is answered 502 Bad Gateway (or,
with ``reset``, its connection is reset) for ``--outage`` seconds.

Printed for each mode: requests never acknowledged and tickets missing from a mentor's chat
(lost), messages sent twice, alerts to the coordinator or the admin that a ticket reached no
mentor (false: both mentors are there), 429s after Telegram came back, and the time from
recovery to the last message against Telegram's bound, as a ratio (1.0: as fast as Telegram
allows): the messages waiting at recovery at 30 per second. Those are counted as Telegram saw
them go out after recovery: the outbox's waiting rows (printed too) include edits and cards
the bot folds into others before sending. The bound of each chat's own limit (1/s in a
private chat) is printed beside it. No timing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import DEFAULT_POSTGRES, TELEGRAM, burst, database, say, stage  # noqa: E402
from bot.db import create_engine, create_session_factory  # noqa: E402
from bot.sandbox.emulator.models import FakeUser, OutageMode  # noqa: E402
from bot.sandbox.emulator.server import SENDING_METHODS, FakeTelegram  # noqa: E402
from models import OutboxMessage, OutboxStatus  # noqa: E402
from tests.burst import (  # noqa: E402
    eventually,
    refused_for_flood,
    unassigned_alerts,
)

ADMIN_ID = 100_001
# What Telegram counts as a message sent: new messages and their edits.
MESSAGES = SENDING_METHODS | {"editmessagetext", "editmessagecaption", "editmessagereplymarkup"}
# Once Telegram is back: how long the bot may take, and how long a quiet outbox must stay so.
DRAIN_LIMIT = 300.0
QUIET = 5.0


async def waiting_messages(url: str) -> int:
    """Messages the bot holds in its outbox to send (its own count, as ``/healthz`` gives)."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.pending)
            )
            return int(found or 0)
    finally:
        await engine.dispose()


def per_chat_bound(server: FakeTelegram, sent: Counter[int]) -> float:
    """Seconds Telegram's own limit of each chat needs for what went to it (1/s in a private
    chat, 20 a minute in a group), for the busiest chat."""
    slowest = 0.0
    for chat_id, count in sent.items():
        chat = server.chats.get(chat_id)
        if chat is not None and chat.is_private:
            window, per_window = server.limits.private_window, server.limits.private_count
        else:
            window, per_window = server.limits.group_window, server.limits.group_count
        slowest = max(slowest, (math.ceil(count / per_window) - 1) * window)
    return slowest


@dataclass
class Outcome:
    mode: str
    unacknowledged: int
    unseen: int  # tickets missing from a mentor's chat, added up over the mentors
    duplicates: int
    false_alerts: int
    flooded: int  # 429s once Telegram was back
    waiting: int  # outbox rows waiting at recovery
    sent_after: int  # messages Telegram took after recovery: those that were waiting
    drain: float | None  # recovery to the last message, None if the outbox never emptied
    chat_bound: float

    def show(self) -> None:
        bound = self.sent_after / TELEGRAM.global_per_second
        lost = f"{self.unacknowledged} unacknowledged, {self.unseen} tickets missing from mentors"
        say(
            f"{self.mode:5s} lost: {lost}; duplicates {self.duplicates}; false alerts "
            f"{self.false_alerts}; 429s after recovery {self.flooded}"
        )
        if self.drain is None:
            drained = f"not drained within {DRAIN_LIMIT:.0f} s"
        else:
            ratio = self.drain / bound if bound else math.inf
            drained = f"drained in {self.drain:.1f} s, bound {bound:.1f} s: {ratio:.2f} ×"
        say(
            f"      {self.sent_after} messages sent after recovery ({self.waiting} outbox rows "
            f"waiting): {drained} (each chat's own limit: {self.chat_bound:.1f} s)"
        )


async def run(mode: OutageMode, outage: float, requests: int, url: str, workdir: Path) -> Outcome:
    settings = {"ADMIN_IDS": str(ADMIN_ID)}
    async with stage(
        url, workdir, groups=20, mentors=2, limits=TELEGRAM, settings=settings
    ) as stage_:
        server, cast = stage_.server, stage_.cast
        admin = server.add_user(FakeUser(id=ADMIN_ID, first_name="Админ", started=True))
        tally = await burst(stage_, requests)
        await eventually(lambda: tally.acknowledged() >= 10, 60, "10 acknowledgements")
        server.outage(mode)
        await asyncio.sleep(outage)
        waiting = await waiting_messages(url)
        server.recover()
        up_at = time.monotonic()
        # Drained: nothing left to send, and nothing more sent for a while.
        deadline = up_at + DRAIN_LIMIT
        drained = False
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            last = max((c.at for c in server.calls if c.ok and c.method.lower() in MESSAGES),
                       default=up_at)  # fmt: skip
            if time.monotonic() - last > QUIET and await waiting_messages(url) == 0:
                drained = True
                break
        sent = [c for c in server.calls if c.ok and c.at >= up_at and c.method.lower() in MESSAGES]
        numbers = set(tally.numbers().values())
        return Outcome(
            mode=mode,
            unacknowledged=len(tally.requests) - tally.acknowledged(),
            unseen=sum(len(numbers - tally.visible_to(m)) for m in cast.mentors),
            duplicates=tally.duplicates(),
            false_alerts=len(unassigned_alerts(server, [cast.coordinator, admin])),
            flooded=len(refused_for_flood(server, since=up_at)),
            waiting=waiting,
            sent_after=len(sent),
            drain=max(c.at for c in sent) - up_at if drained and sent else None,
            chat_bound=per_chat_bound(server, Counter(int(c.params["chat_id"]) for c in sent)),
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="both", choices=["502", "reset", "both"])
    parser.add_argument("--outage", type=float, default=90.0, help="seconds")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    modes: list[OutageMode] = ["502", "reset"] if args.mode == "both" else [args.mode]
    say(
        f"{args.requests} requests in 20 groups, Telegram unreachable for {args.outage:.0f} s "
        f"after the tenth acknowledgement ({args.database})"
    )
    with tempfile.TemporaryDirectory(prefix="mentordesk-bench-") as tmp:
        workdir = Path(tmp)
        for mode in modes:
            async with database(args.database, args.postgres, workdir) as url:
                outcome = await run(mode, args.outage, args.requests, url, workdir)
            outcome.show()


if __name__ == "__main__":
    asyncio.run(main())
