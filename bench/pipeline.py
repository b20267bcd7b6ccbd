"""Measure the message pipeline: intake speed, Telegram's limits, one busy chat, memory.

    .venv/bin/python bench/pipeline.py [--scenario all|intake|limits|group-limit|backlog|large|rss]
                                       [--database sqlite|postgresql|both] [--runs 3]

Everything runs on this machine: the fake Bot API of the tests (``bot/sandbox/emulator``) on
127.0.0.1, ``python -m bot`` as a real process, an SQLite file in a temporary directory or a
fresh database on the PostgreSQL given by ``--postgres`` (default: the local one). No timing
is asserted anywhere; the script prints figures, and ratios against a baseline measured in
the same invocation, alternating runs so the machine's drift hits both sides alike.

Scenarios:
- intake: 300 requests in 10 groups, 2 mentors, the bot's own send limits raised through
  settings (rates, and SEND_CONCURRENCY=16 messages on their way at once, as the bare bot
  has) and none at the fake Telegram; against ``bench/bare_bot.py``, a bare aiogram bot
  making the same calls (an acknowledgement and a card per mentor). Requests per second from
  the burst to the last card, and the ratio MentorDesk / bare; and each bot's CPU time per
  request (Linux), against the bare bot's (goal: at most 3 times), which says where the
  ratio comes from.
- limits: 150 requests in 50 groups, then 1,000 in 100 groups, 2 mentors, Telegram's limits
  enforced by the fake server (30/s per bot, 1/s per private chat, 20 per minute per group)
  and the bot's defaults. Lost requests, 429s, the last acknowledgement against the time the
  30/s budget needs (goal: within 1.2 times), and when the last ticket was visible to both
  mentors, on a card or a summary (goals: 20 s and 90 s).
- group-limit: 300 requests in 10 groups, limits enforced: the 20-a-minute group window
  binds. Lost requests, 429s, time to the last acknowledgement.
- backlog: one mentor's chat holds 100 messages waiting while requests arrive at 5/s in
  other groups: their acknowledgement latency, p50 / p95 / p99.
- large: the intake burst again (limits raised), in a programme that also has 3,000 mentors
  of another topic, each with a role and a topic, against the same burst in a programme of
  only its 2 mentors, alternating: the ratio of speeds and of CPU per request says whether
  what each update reads grows with the programme (1.0: it does not).
- rss: the bot's memory as 5,000, 10,000 and 20,000 messages are delivered (limits raised):
  its resident set and proportional set size, to see that it does not grow with traffic
  (``bench/memory.py`` measures it at rest, with the topic model, and while it retrains).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import create_engine, create_session_factory  # noqa: E402
from bot.delivery.outbox import Outbox  # noqa: E402
from bot.sandbox.emulator.server import FakeTelegram, Limits  # noqa: E402
from tests.burst import (  # noqa: E402
    BotProcess,
    Cast,
    Tally,
    bot_env,
    eventually,
    post_request,
    post_requests,
    process_cpu,
    refused_for_flood,
    seed,
    too_many_requests,
)

RAISED = {
    "RATE_GLOBAL_PER_SECOND": "100000",
    "RATE_PRIVATE_PER_SECOND": "100000",
    "RATE_GROUP_PER_MINUTE": "6000000",
    "SEND_CONCURRENCY": "16",
}
TELEGRAM = Limits(
    global_per_second=30, group_count=20, group_window=60.0, private_count=1, private_window=1.0
)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


@asynccontextmanager
async def database(kind: str, postgres: str, workdir: Path) -> AsyncIterator[str]:
    """A fresh, empty database: an SQLite file, or a new PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"mentordesk_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(postgres).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(postgres)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@dataclass
class Stage:
    """A fake Telegram, a seeded programme and a bot process serving it."""

    server: FakeTelegram
    cast: Cast
    bot: BotProcess


@asynccontextmanager
async def stage(
    url: str,
    workdir: Path,
    *,
    groups: int,
    mentors: int,
    limits: Limits,
    settings: dict[str, str],
    bare: bool = False,
    others: int = 0,
) -> AsyncIterator[Stage]:
    server = FakeTelegram(limits=limits)
    await server.start()
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    try:
        cast = await seed(url, server, groups=groups, mentors=mentors)
        if others:
            await add_other_mentors(url, others)
        env = bot_env(url, server, **settings)
        bot = BotProcess(env, run_dir)
        if bare:
            env["MENTOR_IDS"] = ",".join(str(m.id) for m in cast.mentors)
            bot.command = [str(ROOT / "bench" / "bare_bot.py")]
        await bot.start(server)
        await asyncio.sleep(1.0)  # start-up jobs (reminder sweep, digest sync) out of the way
        # This process's heap (the fake Telegram's records of earlier stages, the seeding's
        # objects) is set aside from its garbage collector while the stage runs: a full
        # collection of it, landing in one burst and not another, took up to 175 ms of a
        # core the bot shares. The fake server stands for Telegram, whose CPU is not ours.
        gc.collect()
        gc.freeze()
        try:
            yield Stage(server, cast, bot)
        finally:
            gc.unfreeze()
            await bot.stop()
    finally:
        await server.stop()


async def add_other_mentors(url: str, count: int) -> None:
    """``count`` more mentors of the seeded programme, of its grants topic: no card of a
    legal request is theirs, but every update's reads meet their roles and topics."""
    first = 900_000_000
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            grants = text("SELECT id, programme_id FROM topics WHERE code = 'grants'")
            topic = (await connection.execute(grants)).one()
            await connection.execute(
                text(
                    "INSERT INTO people (telegram_id, first_name, private_chat_open, created_at,"
                    " last_seen_at) VALUES (:telegram_id, 'Ментор', :yes, :now, :now)"
                ),
                [{"telegram_id": first + n, "yes": True, "now": now} for n in range(count)],
            )
            await connection.execute(
                text(
                    "INSERT INTO roles (person_id, programme_id, kind, active, granted_at)"
                    " SELECT id, :programme, 'mentor', :yes, :now FROM people"
                    " WHERE telegram_id >= :first"
                ),
                {"programme": topic.programme_id, "yes": True, "now": now, "first": first},
            )
            await connection.execute(
                text(
                    "INSERT INTO role_topics (role_id, topic_id) SELECT roles.id, :topic"
                    " FROM roles JOIN people ON people.id = roles.person_id"
                    " WHERE people.telegram_id >= :first"
                ),
                {"topic": topic.id, "first": first},
            )
            if connection.dialect.name == "postgresql":
                # What autovacuum does a minute after such a change, well before the next
                # burst in real life: without it the planner takes the programme for small.
                await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def burst(stage_: Stage, count: int) -> Tally:
    posted_at = time.monotonic()
    requests = post_requests(stage_.server, stage_.cast, count)
    return Tally(stage_.server, requests, {r.seq: posted_at for r in requests})


def acknowledged(tally: Tally, count: int) -> Callable[[], bool]:
    return lambda: tally.acknowledged() >= count


def sent_at_least(server: FakeTelegram, count: int) -> Callable[[], bool]:
    return lambda: sum(1 for c in server.calls if c.method == "sendMessage" and c.ok) >= count


def all_cards_in(tally: Tally, cast: Cast, count: int) -> Callable[[], bool]:
    def done() -> bool:
        if tally.acknowledged() < count:
            return False
        wanted = set(tally.numbers().values())
        return all(wanted <= tally.visible_to(mentor) for mentor in cast.mentors)

    return done


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Run:
    """One burst: requests per second, and CPU milliseconds per request, of the bot's
    processes together and of each process (``parts``)."""

    speed: float
    cpu: float
    parts: dict[str, float]


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the database of ``url``, by pid
    (Linux, with the server on this machine); empty for SQLite."""
    found = make_url(url)
    if found.get_backend_name() != "postgresql":
        return {}
    admin = await asyncpg.connect(
        found.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            found.database,
        )
    finally:
        await admin.close()
    return {row["pid"]: process_cpu(row["pid"]) for row in rows}


async def intake_once(
    kind: str, postgres: str, workdir: Path, *, bare: bool, others: int = 0
) -> Run:
    """Requests per second, and the bot's CPU time per request in milliseconds (all of its
    processes)."""
    count = 300
    async with (
        database(kind, postgres, workdir) as url,
        stage(
            url,
            workdir,
            groups=10,
            mentors=2,
            limits=Limits.off(),
            settings=RAISED,
            bare=bare,
            others=others,
        ) as s,
    ):
        cpu_before = s.bot.cpu_seconds()
        backends_before = await backend_cpu(url)
        own_before = time.process_time()
        tally = await burst(s, count)
        started = time.monotonic()
        expected = count * (1 + len(s.cast.mentors))

        seen = {"calls": 0, "sends": 0}

        def done() -> bool:
            # Only the calls since the last look: the bench's own CPU is kept from the bot's.
            calls = s.server.calls
            new = calls[seen["calls"] :]
            seen["calls"] = len(calls)
            seen["sends"] += sum(1 for c in new if c.method == "sendMessage" and c.ok)
            return seen["sends"] >= expected and tally.acknowledged() == count

        await eventually(done, 300, "every acknowledgement and card")
        last = max(c.at for c in s.server.calls if c.method == "sendMessage")
        per_request = 1000 / count
        cpu = (s.bot.cpu_seconds() - cpu_before) * per_request
        parts = {"bot": cpu}
        backends = await backend_cpu(url)
        if backends:
            spent = sum(now - backends_before.get(pid, 0.0) for pid, now in backends.items())
            parts["PostgreSQL"] = spent * per_request
        # This process: the fake Bot API, and the bench's own look at what it received.
        parts["fake Bot API"] = (time.process_time() - own_before) * per_request
        return Run(count / (last - started), cpu, parts)


async def alternately(
    runs: int, first: Callable[[], Awaitable[Run]], second: Callable[[], Awaitable[Run]]
) -> tuple[list[Run], list[Run]]:
    """``runs`` runs of each, taking turns, so the machine's drift hits both alike."""
    firsts, seconds = [], []
    for _ in range(runs):
        firsts.append(await first())
        seconds.append(await second())
    return firsts, seconds


def speeds(found: list[Run]) -> list[float]:
    return [run.speed for run in found]


def median_cpu(found: list[Run]) -> float:
    return statistics.median(run.cpu for run in found)


def median_parts(found: list[Run]) -> str:
    """Each process's median CPU per request, as ``bot 2.9, sender 1.4, ...``."""
    names = [name for name in found[0].parts if all(name in run.parts for run in found)]
    return ", ".join(
        f"{name} {statistics.median(run.parts[name] for run in found):.1f}" for name in names
    )


async def intake(kinds: list[str], postgres: str, workdir: Path, runs: int) -> None:
    say("== intake: 300 requests in 10 groups, 2 mentors, limits raised ==")
    for kind in kinds:
        ours, bare = await alternately(
            runs,
            partial(intake_once, kind, postgres, workdir, bare=False),
            partial(intake_once, kind, postgres, workdir, bare=True),
        )
        ratios = [o / b for o, b in zip(speeds(ours), speeds(bare), strict=True)]
        say(
            f"{kind:10s} MentorDesk {statistics.median(speeds(ours)):6.1f} req/s "
            f"(runs {', '.join(f'{v:.0f}' for v in speeds(ours))}) · bare aiogram "
            f"{statistics.median(speeds(bare)):6.1f} req/s "
            f"({', '.join(f'{v:.0f}' for v in speeds(bare))}) · "
            f"ratio median {statistics.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
        )
        # The bot's own CPU per request (its processes together): steadier than the speed on
        # a shared machine, and where a ratio under 1 comes from; with the bench's own
        # process, the two cores are busy.
        say(
            f"{'':10s} CPU per request: MentorDesk {median_cpu(ours):.1f} ms, bare "
            f"aiogram {median_cpu(bare):.1f} ms ({median_cpu(ours) / median_cpu(bare):.1f} ×)"
        )
        # Every process on the machine's two cores, in ms per request: what the bursts share.
        say(f"{'':10s} by process: MentorDesk: {median_parts(ours)} · bare: {median_parts(bare)}")


async def large(kinds: list[str], postgres: str, workdir: Path, runs: int) -> None:
    say("== large: the intake burst with 3,000 more mentors of another topic, limits raised ==")
    for kind in kinds:
        small, big = await alternately(
            runs,
            partial(intake_once, kind, postgres, workdir, bare=False),
            partial(intake_once, kind, postgres, workdir, bare=False, others=3000),
        )
        ratios = [b / a for a, b in zip(speeds(small), speeds(big), strict=True)]
        say(
            f"{kind:10s} 2 mentors {statistics.median(speeds(small)):6.1f} req/s · 3,002 "
            f"mentors {statistics.median(speeds(big)):6.1f} req/s · speed ratio median "
            f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) · "
            f"CPU per request {median_cpu(small):.1f} ms and {median_cpu(big):.1f} ms "
            f"({median_cpu(big) / median_cpu(small):.2f} ×)"
        )


# The limits scenario's bursts: requests, groups, and how soon every ticket should be in front
# of both mentors (their chats take a message a second: many tickets share a summary card).
LIMIT_BURSTS = ((150, 50, 20.0), (1000, 100, 90.0))


async def limits_scenario(kinds: list[str], postgres: str, workdir: Path) -> None:
    for count, groups, visible_goal in LIMIT_BURSTS:
        say(
            f"== limits: {count} requests in {groups} groups, 2 mentors, Telegram's limits "
            "enforced =="
        )
        for kind in kinds:
            async with (
                database(kind, postgres, workdir) as url,
                stage(url, workdir, groups=groups, mentors=2, limits=TELEGRAM, settings={}) as s,
            ):
                tally = await burst(s, count)
                started = time.monotonic()
                await eventually(all_cards_in(tally, s.cast, count), 300, "every ticket to mentors")
                visible = time.monotonic() - started
                await asyncio.sleep(2)
                latencies = tally.ack_latencies()
                lost = count - tally.acknowledged()
                bound = count / 30
                say(
                    f"{kind:10s} lost {lost} · 429s {too_many_requests(s.server)} · "
                    f"last ack {max(latencies):.2f} s = {max(latencies) / bound:.2f} × the "
                    f"{bound:.1f} s the 30/s budget needs (goal ≤ 1.2 ×; median "
                    f"{statistics.median(latencies):.2f} s) · every ticket visible to both "
                    f"mentors after {visible:.1f} s (goal ≤ {visible_goal:.0f} s) · "
                    f"duplicates {tally.duplicates()} · messages in mentor chats "
                    f"{mentor_messages(s)}"
                )


def mentor_messages(s: Stage) -> str:
    sends = [sum(1 for m in s.server.history[mentor.id] if m.by_bot) for mentor in s.cast.mentors]
    edits = [
        sum(
            1
            for c in s.server.calls
            if c.method == "editMessageText" and c.ok and c.params.get("chat_id") == mentor.id
        )
        for mentor in s.cast.mentors
    ]
    return " / ".join(f"{a} sent + {b} edits" for a, b in zip(sends, edits, strict=True))


async def group_limit(kinds: list[str], postgres: str, workdir: Path) -> None:
    say("== group-limit: 300 requests in 10 groups, Telegram's limits enforced ==")
    for kind in kinds:
        count = 300
        async with (
            database(kind, postgres, workdir) as url,
            stage(url, workdir, groups=10, mentors=2, limits=TELEGRAM, settings={}) as s,
        ):
            tally = await burst(s, count)
            await eventually(acknowledged(tally, count), 300, "every acknowledgement")
            await asyncio.sleep(2)
            latencies = tally.ack_latencies()
            say(
                f"{kind:10s} lost {count - tally.acknowledged()} · 429s "
                f"{too_many_requests(s.server)} · last ack {max(latencies):.1f} s (30 per group: "
                f"the window allows it after 60 s) · duplicates {tally.duplicates()}"
            )
            for refusal in refused_for_flood(s.server):
                say(f"           429: {refusal}")


async def backlog(kinds: list[str], postgres: str, workdir: Path) -> None:
    say("== backlog: a mentor's chat holds 100 waiting messages; requests at 5/s elsewhere ==")
    for kind in kinds:
        async with (
            database(kind, postgres, workdir) as url,
            stage(url, workdir, groups=21, mentors=1, limits=TELEGRAM, settings={}) as s,
        ):
            busy = s.cast.mentors[0]
            engine = create_engine(url)
            async with create_session_factory(engine).begin() as session:
                outbox = Outbox(session)
                for n in range(100):
                    await outbox.send(busy.id, f"🆕 Карточка {n + 1} из очереди", purpose="bench")
            await engine.dispose()
            await eventually(
                lambda b=busy, st=s: any(m.by_bot for m in st.server.history[b.id]),
                10,
                "the backlog starts",
            )
            requests = []
            posted: dict[int, float] = {}
            # Twenty seconds of requests, one every 0.2 s, never in the busy chat's way.
            for n in range(100):
                group = s.cast.groups[1 + n % 20]
                author = s.cast.activists[1 + n % 20]
                request = post_request(s.server, author, group, f"Вопрос {n + 1}")
                posted[request.seq] = time.monotonic()
                requests.append(request)
                await asyncio.sleep(0.2)
            tally = Tally(s.server, requests, posted)
            await eventually(acknowledged(tally, len(requests)), 60, "every acknowledgement")
            latencies = [v * 1000 for v in tally.ack_latencies()]
            waiting = 100 - sum(1 for m in s.server.history[busy.id] if "Карточка" in m.content)
            say(
                f"{kind:10s} acknowledgement latency p50 {quantile(latencies, 0.5):.0f} ms · "
                f"p95 {quantile(latencies, 0.95):.0f} ms · p99 {quantile(latencies, 0.99):.0f} "
                f"ms · max {max(latencies):.0f} ms · busy chat still waiting: {waiting} "
                f"of 100 · 429s {too_many_requests(s.server)}"
            )


async def memory_after(
    kind: str, postgres: str, workdir: Path, checkpoints: list[int], *, bare: bool = False
) -> list[tuple[int, int, int]]:
    """The bot's memory at start, then after each number of delivered messages: its
    processes' RSS added up, and their PSS (shared pages counted once), in KiB."""
    async with (
        database(kind, postgres, workdir) as url,
        stage(
            url, workdir, groups=20, mentors=2, limits=Limits.off(), settings=RAISED, bare=bare
        ) as s,
    ):
        found = [(0, s.bot.rss_kib(), s.bot.pss_kib())]
        batch = 0
        for target in checkpoints:
            while sum(1 for c in s.server.calls if c.method == "sendMessage" and c.ok) < target:
                tally = Tally(s.server, post_requests(s.server, s.cast, 250, start=batch * 250))
                await eventually(acknowledged(tally, 250), 120, "a batch")
                await eventually(sent_at_least(s.server, (batch + 1) * 750), 120, "its cards")
                batch += 1
            sent = sum(1 for c in s.server.calls if c.method == "sendMessage")
            found.append((sent, s.bot.rss_kib(), s.bot.pss_kib()))
        return found


async def rss(kinds: list[str], postgres: str, workdir: Path) -> None:
    say("== rss: memory as messages are delivered (limits raised) ==")
    say("   RSS of the bot's processes added up (PSS: what they take together, shared once)")
    checkpoints = [5_000, 10_000, 20_000]

    def shown(found: list[tuple[int, int, int]]) -> str:
        return " · ".join(
            f"{n} sent: {rss_kib / 1024:.0f} MiB (PSS {pss_kib / 1024:.0f})"
            for n, rss_kib, pss_kib in found
        )

    bare = await memory_after("sqlite", postgres, workdir, checkpoints[:2], bare=True)
    say("bare aiogram  " + shown(bare))
    for kind in kinds:
        ours = await memory_after(kind, postgres, workdir, checkpoints)
        rss_10k, pss_10k = next((r, p) for n, r, p in ours if n >= 10_000)
        say(
            f"{kind:13s} {shown(ours)} · after 10,000: RSS {rss_10k / bare[-1][1]:.2f} ×, "
            f"PSS {pss_10k / bare[-1][2]:.2f} × the bare bot's"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        default="all",
        choices=["all", "intake", "limits", "group-limit", "backlog", "large", "rss"],
    )
    parser.add_argument("--database", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    with tempfile.TemporaryDirectory(prefix="mentordesk-bench-") as tmp:
        workdir = Path(tmp)
        chosen = args.scenario
        if chosen in ("all", "intake"):
            await intake(kinds, args.postgres, workdir, args.runs)
        if chosen in ("all", "limits"):
            await limits_scenario(kinds, args.postgres, workdir)
        if chosen in ("all", "group-limit"):
            await group_limit(kinds, args.postgres, workdir)
        if chosen in ("all", "backlog"):
            await backlog(kinds, args.postgres, workdir)
        if chosen in ("all", "large"):
            await large(kinds, args.postgres, workdir, args.runs)
        if chosen in ("all", "rss"):
            await rss(kinds, args.postgres, workdir)


if __name__ == "__main__":
    asyncio.run(main())
