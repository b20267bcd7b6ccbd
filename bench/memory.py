"""Measure the bot's memory as a process: idle, with the topic model, while a model trains,
after a chart; beside a bare aiogram bot.

    .venv/bin/python bench/memory.py

Everything runs on this machine: the fake Bot API of the tests (``bot/sandbox/emulator``) on
127.0.0.1, ``python -m bot`` as a real process (an SQLite file in a temporary directory, the
default settings: one process) serving a seeded programme, and
``bench/bare_bot.py`` as the baseline. Memory is the proportional set size (PSS: a page shared
by several processes is split among them) of the bot's whole process tree, the bot and every
process it started, found recursively, summed from /proc (Linux).

Figures: idle after start; with the topic model in use (requests only the model places are sent
until one is placed: the first had it trained); the peak while that first model trained and
the peak while one is retrained (an author confirms the suggested topic, which records a label,
and the next request has a model trained with it), sampled every 50 ms; after a coordinator's
``/stats`` in private (a PNG chart); and how many processes the bot has left after training.
Nothing is downloaded; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sandbox.emulator.server import FakeTelegram  # noqa: E402
from tests.burst import (  # noqa: E402
    BotProcess,
    Cast,
    bot_env,
    eventually,
    post,
    post_request,
    process_cpu,
    seed,
)
from tests.topic_process import (  # noqa: E402
    MODEL_ONLY,
    acknowledgement,
    confirm_topic,
    descendants,
    tree_pss_kib,
    until_the_model_places,
)

SETTLE = 2.0  # seconds after each step before its figure is read
SAMPLE = 0.05
QUIET, QUIET_STEP = 2.0, 0.5  # a training has ended: under a tenth of a core for 2 s
GOALS = {"idle": 200, "steady": 300, "peak": 400}


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


class Sampler:
    """The process tree's PSS every 50 ms while a step runs: its peak, and the most processes
    the bot had started at once."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self.most_started = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, tree_pss_kib(self.pid))
            self.most_started = max(self.most_started, len(descendants(self.pid)))
            await asyncio.sleep(SAMPLE)


async def until_quiet(pid: int, timeout: float = 120.0) -> None:
    """Until the bot and the processes it started have used next to no CPU for a while: a
    training has ended, whether or not its process is still there."""
    deadline = time.monotonic() + timeout
    used: dict[int, float] = {}
    quiet_for = 0.0
    while quiet_for < QUIET:
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot was still busy after {timeout} s")
        await asyncio.sleep(QUIET_STEP)
        now = {p: process_cpu(p) for p in [pid, *descendants(pid)]}
        busy = sum(max(0.0, cpu - used.get(p, 0.0)) for p, cpu in now.items())
        quiet_for = quiet_for + QUIET_STEP if busy < QUIET_STEP / 10 else 0.0
        used = now


async def with_bot(
    workdir: Path,
    measure: Callable[[FakeTelegram, Cast, int], Awaitable[None]],
    *,
    bare: bool = False,
) -> None:
    """A seeded programme on a fresh fake Telegram and SQLite file, the bot (or the bare bot)
    started against it, ``measure`` run, the bot stopped."""
    server = FakeTelegram()
    await server.start()
    try:
        url = f"sqlite+aiosqlite:///{workdir / 'mentordesk.sqlite3'}"
        # Mentors of the topic the model places its requests in: a guess nobody could take
        # would be put to the author instead.
        cast = await seed(url, server, groups=1, mentors=1, topics=("legal", "psychology"))
        bot = BotProcess(bot_env(url, server), workdir)
        if bare:
            bot.env["MENTOR_IDS"] = ",".join(str(m.id) for m in cast.mentors)
            bot.command = [str(ROOT / "bench" / "bare_bot.py")]
        await bot.start(server)
        try:
            assert bot.process is not None
            await asyncio.sleep(SETTLE)  # start-up jobs out of the way
            await measure(server, cast, bot.process.pid)
        finally:
            await bot.stop()
    finally:
        await server.stop()


async def measure_bare(server: FakeTelegram, cast: Cast, pid: int) -> None:
    idle = tree_pss_kib(pid)
    await acknowledgement(server, post_request(server, cast.activists[0], cast.groups[0], "?"))
    await asyncio.sleep(SETTLE)
    say(f"bare aiogram bot (bench/bare_bot.py): {mib(idle)} idle, {mib(tree_pss_kib(pid))} "
        "after a request")  # fmt: skip


async def measure_mentordesk(server: FakeTelegram, cast: Cast, pid: int) -> None:
    author, group, coordinator = cast.activists[0], cast.groups[0], cast.coordinator
    idle = tree_pss_kib(pid)

    async with Sampler(pid) as first:
        started = time.monotonic()
        ack = await until_the_model_places(server, author, group)
        trained_in = time.monotonic() - started
    await asyncio.sleep(SETTLE)
    with_model = tree_pss_kib(pid)

    async with Sampler(pid) as retraining:
        await confirm_topic(server, author, ack)
        # The next request sees the new label: a model is trained with it meanwhile.
        await acknowledgement(server, post_request(server, author, group, MODEL_ONLY[1]))
        await until_quiet(pid)
    await asyncio.sleep(SETTLE)
    left = len(descendants(pid))
    retrained = tree_pss_kib(pid)

    photos = server.count_calls("sendPhoto")
    async with Sampler(pid) as chart:
        post(server, coordinator, server.private_chat(coordinator), "/stats")
        await eventually(lambda: server.count_calls("sendPhoto") > photos, 60, "the /stats chart")
    await asyncio.sleep(SETTLE)
    after_stats = tree_pss_kib(pid)

    def goal(name: str) -> str:
        return f"(goal ≤ {GOALS[name]} MiB)"

    say("MentorDesk (python -m bot, SQLite, default settings, one process):")
    say(f"  idle after start: {mib(idle)} {goal('idle')}")
    say(f"  with the topic model in use: {mib(with_model)} (placed {trained_in:.1f} s after "
        f"the first request; peak while it trained {mib(first.peak_kib)})")  # fmt: skip
    say(f"  peak while retraining: {mib(retraining.peak_kib)} {goal('peak')}; after it "
        f"{mib(retrained)}")  # fmt: skip
    say(f"  after /stats (a chart): {mib(after_stats)} {goal('steady')}; peak while drawing "
        f"{mib(chart.peak_kib)}")  # fmt: skip
    say(f"  processes left after training: {left} (goal 0; {retraining.most_started} while "
        "it trained)")  # fmt: skip


async def main() -> None:
    say("== memory: PSS of the bot's process tree ==")
    with tempfile.TemporaryDirectory() as bare, tempfile.TemporaryDirectory() as ours:
        await with_bot(Path(bare), measure_bare, bare=True)
        await with_bot(Path(ours), measure_mentordesk)


if __name__ == "__main__":
    asyncio.run(main())
