"""A busy programme on the fake Telegram, and the bot as a real process serving it.

``seed`` writes a registered programme (groups, mentors of one topic, activists) into a fresh
database and puts the same people and chats on the fake server; ``BotProcess`` runs
``python -m bot`` against both; ``post_requests`` has activists send ``/ask`` without waiting
for anything; ``Tally`` reads what the bot did from the fake server's side. The crash tests
(``tests/test_pipeline_crash.py``) and ``bench/pipeline.py`` are built from these.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.db import create_engine, create_session_factory, upgrade
from bot.domain.people import Identity, ensure_role, upsert_person
from bot.domain.programmes import find_or_create_programme, note_chat, register_chat
from bot.sandbox.emulator.markup import detect_entities
from bot.sandbox.emulator.models import ApiError, FakeChat, FakeMessage, FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from models import Person, RoleKind, Topic

ROOT = Path(__file__).resolve().parent.parent
PROGRAMME = "Школа социального предпринимательства"
QUESTION = "Как зарегистрировать НКО и какие документы нужны? #юрист вопрос {n}"
TICKET_NUMBER = re.compile(r"#(\d+)\b")


@dataclass
class Cast:
    """Who is in the seeded programme, on the fake server's side."""

    groups: list[FakeChat]
    activists: list[FakeUser]  # activists[i] posts in groups[i % len(groups)]
    mentors: list[FakeUser]
    coordinator: FakeUser


async def seed(
    database_url: str,
    server: FakeTelegram,
    *,
    groups: int,
    mentors: int,
    activists: int | None = None,
    first_id: int = 200_001,
    topics: tuple[str, ...] = ("legal",),
) -> Cast:
    """A registered programme with ``groups`` groups and ``mentors`` mentors of ``topics``
    (legal)."""
    engine = create_engine(database_url)
    await upgrade(engine)
    factory = create_session_factory(engine)
    now = datetime.now(UTC)
    ids = iter(range(first_id, first_id + 100_000))

    def user(name: str) -> FakeUser:
        return server.add_user(
            FakeUser(id=next(ids), first_name=name, language_code="ru", started=True)
        )

    cast = Cast(groups=[], activists=[], mentors=[], coordinator=user("Координатор"))
    async with factory.begin() as session:
        # Every reply visible, as the pipeline's figures were first measured: one message for
        # each request in its group, no reaction.
        programme, _ = await find_or_create_programme(session, PROGRAMME, now, quiet_groups=False)
        theirs = list(
            await session.scalars(
                select(Topic).where(Topic.programme_id == programme.id, Topic.code.in_(topics))
            )
        )
        assert len(theirs) == len(topics)

        async def person(fake: FakeUser, kind: RoleKind) -> Person:
            found = await upsert_person(
                session, Identity(fake.id, fake.first_name, language_code="ru"), now, private=True
            )
            await ensure_role(session, found, programme.id, kind, now=now)
            return found

        coordinator = await person(cast.coordinator, RoleKind.coordinator)
        for number in range(mentors):
            fake = user(f"Наставник {number + 1}")
            mentor = await person(fake, RoleKind.mentor)
            role = mentor.roles[-1]
            role.topics.extend(theirs)
            role.capacity = 100
            cast.mentors.append(fake)
        for number in range(groups):
            chat = FakeChat(
                id=-(7000 + number), type="group", title=f"Группа {number + 1}", bot_status="member"
            )
            server.add_chat(chat)
            row = await note_chat(session, chat.id, chat.title or "", now)
            await register_chat(session, row, programme, coordinator, now)
            cast.groups.append(chat)
        for number in range(activists if activists is not None else groups):
            fake = user(f"Активист {number + 1}")
            await person(fake, RoleKind.activist)
            cast.groups[number % groups].members[fake.id] = "member"
            cast.activists.append(fake)
    await engine.dispose()
    return cast


def post(server: FakeTelegram, author: FakeUser, chat: FakeChat, body: str) -> FakeMessage:
    """The author writes ``body`` in the chat; the update is queued, nobody waits."""
    chat.members.setdefault(author.id, "member")
    message = server.new_message(chat, author, body=body, entities=detect_entities(body))
    server.enqueue({"message": message.to_api()})
    return message


def post_request(server: FakeTelegram, author: FakeUser, chat: FakeChat, text: str) -> FakeMessage:
    """The author sends ``/ask text`` in the group."""
    return post(server, author, chat, f"/ask {text}")


def post_requests(
    server: FakeTelegram, cast: Cast, count: int, start: int = 0
) -> list[FakeMessage]:
    """``count`` requests at once, spread over the activists (and so over the groups)."""
    posted = []
    for n in range(start, start + count):
        author = cast.activists[n % len(cast.activists)]
        chat = cast.groups[n % len(cast.groups)]
        posted.append(post_request(server, author, chat, QUESTION.format(n=n + 1)))
    return posted


@dataclass
class Tally:
    """What the bot did about a set of requests, read from the fake server."""

    server: FakeTelegram
    requests: list[FakeMessage]
    posted_at: dict[int, float] = field(default_factory=dict)  # request seq -> monotonic

    def acks(self) -> dict[int, list[FakeMessage]]:
        """Request seq -> the bot's acknowledgements of it (replies saying «принят»)."""
        found: dict[int, list[FakeMessage]] = {r.seq: [] for r in self.requests}
        for request in self.requests:
            for message in self.server.history[request.chat.id]:
                if message.by_bot and message.reply_to is request and "принят" in message.content:
                    found[request.seq].append(message)
        return found

    def acknowledged(self) -> int:
        return sum(1 for acks in self.acks().values() if acks)

    def numbers(self) -> dict[int, int]:
        """Request seq -> ticket number, as its first acknowledgement says."""
        numbers = {}
        for seq, acks in self.acks().items():
            if acks:
                match = TICKET_NUMBER.search(acks[0].content)
                assert match, acks[0].content
                numbers[seq] = int(match.group(1))
        return numbers

    def visible_to(self, mentor: FakeUser) -> set[int]:
        """Ticket numbers the mentor sees in their chat now (on a card or a summary)."""
        seen: set[int] = set()
        for message in self.server.history[mentor.id]:
            if message.by_bot and not message.deleted:
                seen.update(int(n) for n in TICKET_NUMBER.findall(message.content))
        return seen

    def delivered(self, mentors: list[FakeUser]) -> bool:
        """Every request acknowledged, and every ticket in front of each of the mentors."""
        if self.acknowledged() < len(self.requests):
            return False
        numbers = set(self.numbers().values())
        return all(numbers <= self.visible_to(mentor) for mentor in mentors)

    def duplicates(self) -> int:
        """Messages the bot sent twice: the same text in the same chat, replying to the same."""
        counts = Counter(
            (m.chat.id, m.content, m.reply_to.seq if m.reply_to else None)
            for messages in self.server.history.values()
            for m in messages
            if m.by_bot
        )
        return sum(count - 1 for count in counts.values() if count > 1)

    def ack_latencies(self) -> list[float]:
        """Seconds from each request reaching the fake Telegram to its first acknowledgement."""
        arrived = {
            (call.params.get("chat_id"), call.params.get("reply_parameters", {}).get("message_id"))
            : call.at
            for call in self.server.calls
            if call.method == "sendMessage" and call.ok and "принят" in str(call.params.get("text"))
        }  # fmt: skip
        return [
            arrived[(r.chat.id, r.message_id)] - self.posted_at.get(r.seq, 0.0)
            for r in self.requests
            if (r.chat.id, r.message_id) in arrived
        ]


def too_many_requests(server: FakeTelegram) -> int:
    return len(refused_for_flood(server))


def refused_for_flood(server: FakeTelegram, *, since: float = 0.0) -> list[str]:
    """The calls Telegram answered 429 (those arriving from ``since``, a monotonic time, on),
    as ``method to chat: description``."""
    return [
        f"{call.method} to {call.params.get('chat_id')}: {call.error.description}"
        for call in server.calls
        if call.error is not None and call.error.error_code == 429 and call.at >= since
    ]


def unassigned_alerts(server: FakeTelegram, people: list[FakeUser]) -> list[str]:
    """What the bot told these people (coordinators, admins) of tickets no mentor could
    get: each such alert asks them to ``/assign`` the ticket by hand."""
    return [
        message.content
        for person in people
        for message in server.history[person.id]
        if message.by_bot and "/assign" in message.content
    ]


def bot_env(database_url: str, server: FakeTelegram, **settings: str) -> dict[str, str]:
    """The environment of a bot process: only what it needs, no ``.env`` of the checkout."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH", "OPENBLAS_CORETYPE")
    env = {key: value for key, value in os.environ.items() if key in keep}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(
        BOT_TOKEN=server.token,
        TELEGRAM_API_BASE=server.base_url,
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        # Bursts come from a few activists: a person's requests cap is not what they measure.
        MAX_OPEN_REQUESTS="1000",
        REQUESTS_PER_HOUR="10000",
        # Bursts come from people who consented long ago: the consent step is not measured.
        ASK_CONSENT="false",
    )
    env.update(settings)
    return env


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used, user and system, from /proc (Linux); 0 once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BotProcess:
    """``python -m bot`` as a coordinator runs it, in a directory of its own."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None
        self.log = workdir / "bot.log"
        self.starts = 0
        self.command = ["-m", "bot"]

    async def start(
        self, server: FakeTelegram, timeout: float = 60.0, *, ready_url: str | None = None
    ) -> None:
        """Start it and wait until it polls the fake server (or, for a replica serving the
        webhook, until ``ready_url``, its ``/healthz``, answers 200)."""
        polls = server.count_calls("getUpdates")
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *self.command,
            cwd=self.workdir, env=self.env,
            stdout=self.log.open("ab"), stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not await self._ready(server, polls, ready_url):
            if self.process.returncode is not None:
                raise AssertionError(f"the bot exited: {self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot was not ready within {timeout} s")
            await asyncio.sleep(0.02)

    @staticmethod
    async def _ready(server: FakeTelegram, polls: int, ready_url: str | None) -> bool:
        if ready_url is None:
            return server.count_calls("getUpdates") > polls
        try:
            async with aiohttp.ClientSession() as http, http.get(ready_url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a crash or an OOM kill."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)

    async def wait_dead(self) -> None:
        if self.process is not None:
            await self.process.wait()

    async def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.returncode is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.kill()
            return await self.process.wait()

    def pids(self) -> list[int]:
        """The bot process and its own processes (its sender), from /proc (Linux)."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return (
            [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]
        )

    def cpu_seconds(self) -> float:
        """CPU time the bot's processes have used, user and system, from /proc (Linux)."""
        return sum(process_cpu(pid) for pid in self.pids())

    def rss_kib(self) -> int:
        """Resident memory of the bot's processes, each one's added up, from /proc (Linux).
        Pages the processes share (a forked sender shares what the bot had loaded) are
        counted once per process."""
        return self._memory("/proc/{pid}/status", "VmRSS:")

    def pss_kib(self) -> int:
        """The memory the bot's processes take together: each shared page counted once,
        split among those sharing it (proportional set size, Linux)."""
        return self._memory("/proc/{pid}/smaps_rollup", "Pss:")

    def _memory(self, path: str, field: str) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(FileNotFoundError):
                text = Path(path.format(pid=pid)).read_text()
                line = next(line for line in text.splitlines() if line.startswith(field))
                total += int(line.split()[1])
        return total


async def eventually(check: Any, timeout: float, what: str) -> None:
    """Wait until ``check()`` is true, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def kill_when(server: FakeTelegram, bot: BotProcess, wanted: Any, *, lost: bool = False) -> Any:
    """SIGKILL the bot the moment it makes a call ``wanted(method, params)`` says is the one.

    The call itself still reaches the fake Telegram, as one in flight at a crash would; with
    ``lost``, it does not (the bot died before the request left).
    """
    fired = asyncio.Event()

    async def observer(method: str, params: dict[str, Any]) -> None:
        if not fired.is_set() and wanted(method, params):
            bot.kill()
            fired.set()
            if lost:
                raise ApiError(502, "Bad Gateway: the sender is gone")

    server.observers.append(observer)
    try:
        yield fired
    finally:
        server.observers.remove(observer)
