"""``python -m bot`` sends from a process of its own (``bot.delivery.sender_process``): it lives
and dies with the bot, is started again if it dies alone, and the bot's ``/healthz`` and
``/metrics`` tell what it does. Everything here runs the bot as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from bot.config import Settings, cores
from bot.sandbox.emulator.models import FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from tests.balancer import free_port
from tests.burst import BotProcess, bot_env, eventually, post, post_request, seed

pytestmark = pytest.mark.skipif(not Path("/proc").exists(), reason="reads processes in /proc")


def alive(pid: int) -> bool:
    """A process that runs (a zombie waiting for its parent to reap it does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def senders(bot: BotProcess) -> list[int]:
    """The bot's sender processes now running: its only processes in these tests (forked at
    start, or ``python -m bot --sender-process`` when started again)."""
    return [pid for pid in bot.pids()[1:] if alive(pid)]


async def answered_help(server: FakeTelegram, person: FakeUser) -> None:
    """The person sends /help in their chat with the bot and gets the answer."""
    before = sum(1 for m in server.history[person.id] if m.by_bot)
    post(server, person, server.private_chat(person), "/help")
    await eventually(
        lambda: sum(1 for m in server.history[person.id] if m.by_bot) > before,
        30,
        "the answer to /help",
    )


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


def counted(metrics: str, name: str) -> float:
    """A metric's value in Prometheus's text format."""
    return next(float(line.split()[-1]) for line in metrics.splitlines() if line.split()[0] == name)


@pytest.fixture
def person(server: FakeTelegram) -> FakeUser:
    return server.add_user(FakeUser(id=4_100_001, first_name="Анна", started=True))


@contextlib.asynccontextmanager
async def running(
    server: FakeTelegram, database_url: str, tmp_path: Path, **settings: str
) -> AsyncIterator[BotProcess]:
    """``python -m bot`` with these settings, stopped cleanly (exit 0) at the end."""
    bot = BotProcess(bot_env(database_url, server, **settings), tmp_path)
    await bot.start(server)
    try:
        yield bot
    finally:
        assert await bot.stop() == 0


async def test_the_bot_sends_from_its_sender_process_and_reports_what_it_does(
    server: FakeTelegram, database_url: str, tmp_path: Path, person: FakeUser
) -> None:
    port = free_port()
    async with running(
        server, database_url, tmp_path, SENDER_PROCESS="on", METRICS_PORT=str(port)
    ) as bot:
        [sender] = senders(bot)
        await answered_help(server, person)

        # The bot's own page tells what its sender process does.
        status, body = await get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200, body
        assert '"sender": true' in body and '"scheduler": true' in body
        # The sender reports twice a second: the answer to /help is counted within a moment.
        for _ in range(40):
            metrics = (await get(f"http://127.0.0.1:{port}/metrics"))[1]
            if counted(metrics, "mentordesk_delivery_seconds_count") >= 1:
                break
            await asyncio.sleep(0.1)
        assert counted(metrics, "mentordesk_delivery_seconds_count") >= 1
        assert counted(metrics, "mentordesk_sender") == 1
    # Stopping the bot stopped its sender too, cleanly.
    await eventually(lambda: not alive(sender), 10, "the sender process ended with the bot")


async def test_a_sigkill_of_the_bot_takes_its_sender_process_too(
    server: FakeTelegram, database_url: str, tmp_path: Path, person: FakeUser
) -> None:
    async with running(server, database_url, tmp_path, SENDER_PROCESS="on") as bot:
        [sender] = senders(bot)
        bot.kill()
        await bot.wait_dead()
        await eventually(lambda: not alive(sender), 10, "the sender process died with the bot")

        # Started again, the bot takes over the sender's role at once and answers.
        await bot.start(server)
        assert len(senders(bot)) == 1
        await answered_help(server, person)


async def test_a_sender_process_that_dies_alone_is_started_again(
    server: FakeTelegram, database_url: str, tmp_path: Path, person: FakeUser
) -> None:
    async with running(server, database_url, tmp_path, SENDER_PROCESS="on") as bot:
        [first] = senders(bot)
        os.kill(first, signal.SIGKILL)
        await eventually(
            lambda: bool(senders(bot)) and first not in senders(bot),
            20,
            "a new sender process",
        )
        await answered_help(server, person)
        assert "the sender process ended" in bot.log.read_text()


async def test_a_sender_started_again_names_the_bot_without_asking_telegram(
    server: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    """The alert about a mentor the cards cannot reach names the bot; a sender process
    started again while getMe fails still knows the name, from the bot process."""
    cast = await seed(database_url, server, groups=1, mentors=1)
    [mentor] = cast.mentors
    mentor.started = False  # never opened the bot: Telegram refuses their cards
    async with running(server, database_url, tmp_path, SENDER_PROCESS="on") as bot:
        [first] = senders(bot)
        asked = server.count_calls("getMe")
        server.fail_next("getMe", 502, "Bad Gateway", times=1000)
        os.kill(first, signal.SIGKILL)
        await eventually(
            lambda: bool(senders(bot)) and first not in senders(bot), 20, "a new sender process"
        )
        post_request(server, cast.activists[0], cast.groups[0], "Нужна консультация юриста")

        def alerted() -> bool:
            return any(
                "@mentordesk_test_bot" in (m.text or "")
                for m in server.history[cast.coordinator.id]
                if m.by_bot
            )

        await eventually(alerted, 30, "the coordinators' alert naming the bot")
        assert server.count_calls("getMe") == asked  # nobody asked again


async def test_the_sender_process_leaves_signals_to_the_bot(
    server: FakeTelegram, database_url: str, tmp_path: Path, person: FakeUser
) -> None:
    """Ctrl+C in a terminal reaches both processes: only the bot decides to stop."""
    async with running(server, database_url, tmp_path, SENDER_PROCESS="on") as bot:
        [sender] = senders(bot)
        os.kill(sender, signal.SIGINT)
        os.kill(sender, signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert alive(sender)
        await answered_help(server, person)


async def test_with_the_sender_process_off_one_process_does_everything(
    server: FakeTelegram, database_url: str, tmp_path: Path, person: FakeUser
) -> None:
    async with running(server, database_url, tmp_path, SENDER_PROCESS="off") as bot:
        await answered_help(server, person)
        assert senders(bot) == []


@pytest.mark.no_database
@pytest.mark.parametrize(
    ("given", "wanted"),
    [("auto", "auto"), ("on", "on"), ("OFF", "off"), ("true", "on"), ("false", "off"),
     ("1", "on"), ("no", "off")],
)  # fmt: skip
def test_sender_process_setting_words(given: str, wanted: str) -> None:
    settings = Settings(_env_file=None, sender_process=given)
    assert settings.sender_process == wanted
    assert settings.separate_sender is (wanted == "on" or (wanted == "auto" and cores() > 1))


@pytest.mark.no_database
def test_a_wrong_sender_process_setting_is_refused_clearly() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, sender_process="sometimes")
    assert "sender_process" in str(refused.value)
    assert "'auto', 'on' or 'off'" in str(refused.value)


@pytest.mark.no_database
@pytest.mark.parametrize(
    ("cpu_max", "wanted"),
    [("max 100000\n", None), ("100000 100000\n", 1), ("50000 100000\n", 1),
     ("150000 100000\n", 2), ("garbage\n", None), (None, None)],
)  # fmt: skip
def test_auto_counts_a_containers_cpu_quota(
    tmp_path: Path, cpu_max: str | None, wanted: int | None
) -> None:
    """A container limited to one CPU gets one process, however many cores the host has."""
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    nothing = tmp_path / "none"
    allowed = cores(nothing, nothing)  # no quota: the cores this process may run on
    assert cores(path, nothing) == (allowed if wanted is None else min(allowed, wanted))


@pytest.mark.no_database
@pytest.mark.parametrize(
    ("quota_us", "period_us", "wanted"),
    [("-1\n", "100000\n", None), ("100000\n", "100000\n", 1), ("50000\n", "100000\n", 1),
     ("250000\n", "100000\n", 3), ("nonsense\n", "100000\n", None), ("100000\n", "0\n", None)],
)  # fmt: skip
def test_auto_counts_an_older_containers_cpu_quota(
    tmp_path: Path, quota_us: str, period_us: str, wanted: int | None
) -> None:
    """Older Docker hosts (cgroup v1) set the quota in two files; cgroup v2's file wins."""
    (tmp_path / "cpu.cfs_quota_us").write_text(quota_us)
    (tmp_path / "cpu.cfs_period_us").write_text(period_us)
    nothing = tmp_path / "none"
    allowed = cores(nothing, nothing)
    assert cores(nothing, tmp_path) == (allowed if wanted is None else min(allowed, wanted))
    v2 = tmp_path / "cpu.max"
    v2.write_text("max 100000\n")
    assert cores(v2, tmp_path) == allowed
