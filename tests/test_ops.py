"""``/healthz`` and ``/metrics``, as an operator's monitoring reads them from a running bot."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bot.app import App, supervise
from bot.config import Settings
from bot.sandbox.emulator.server import FakeTelegram
from models import Ticket
from tests.burst import post_request
from tests.conftest import World


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_port": _free_port()})


async def _get(app: App, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{app.settings.metrics_port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def _health(app: App) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{app.settings.metrics_port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def _metrics(app: App) -> dict[str, float]:
    """Every sample of ``/metrics``: ``name{label="value"}`` -> value."""
    status, body = await _get(app, "/metrics")
    assert status == 200, body
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_a_healthy_bot_says_so_with_its_figures(world: World) -> None:
    status, health = await _health(world.app)
    assert status == 200
    assert health == {
        "status": "ok",
        "database": True,
        "sender": "sending",
        "jobs": True,
        "telegram_reachable": True,
        "telegram_unreachable_since": None,
        "inbox_backlog": 0,
        "outbox_backlog": 0,
        "updates_set_aside": 0,
    }
    before = await _metrics(world.app)
    await world.tg.send(world.admin, world.admin, "/help")
    after = await _metrics(world.app)
    assert after["mentordesk_sender"] == 1
    assert after["mentordesk_telegram_reachable"] == 1
    assert after["mentordesk_telegram_unreachable_since_seconds"] == 0
    handled = "mentordesk_updates_handled_total"
    assert after[handled] == before[handled] + 1
    assert after["mentordesk_delivery_seconds_count"] > before["mentordesk_delivery_seconds_count"]


async def test_the_backlog_figures_move_while_delivery_is_held_up(
    world: World, server: FakeTelegram
) -> None:
    group = await world.registered_group()
    mentor = await world.mentor("Наставник")
    activist = world.tg.user("Активистка")
    released = asyncio.Event()

    async def held_up(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage":
            await released.wait()

    server.observers.append(held_up)
    try:
        for n in range(5):
            post_request(server, activist, group, f"Как зарегистрировать НКО? #юрист {n}")

        async def stored_tickets() -> int:
            async with world.app.session_factory() as session:
                return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)

        for _ in range(500):
            if await stored_tickets() == 5:
                break
            await asyncio.sleep(0.02)
        assert await stored_tickets() == 5
        status, health = await _health(world.app)
        assert status == 200
        # An acknowledgement and a card per ticket, less the one on its way.
        assert health["outbox_backlog"] >= 9
        assert health["inbox_backlog"] == 0
        assert (await _metrics(world.app))["mentordesk_outbox_backlog"] >= 9
    finally:
        released.set()
        server.observers.remove(held_up)
    await world.app.idle()
    assert (await _health(world.app))[1]["outbox_backlog"] == 0
    assert (await _metrics(world.app))["mentordesk_outbox_backlog"] == 0
    assert len([m for m in world.tg.messages(mentor) if "#" in m.content]) >= 5


async def test_429s_and_refusals_are_counted_by_reason(world: World, server: FakeTelegram) -> None:
    person = world.tg.user("Участник", language="ru")
    server.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await world.tg.send(person, person, "/help")
    assert "/ask" in world.tg.last(person).content  # it came, after the pause
    server.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await world.tg.send(person, person, "/help")
    server.fail_next("sendMessage", 400, "Bad Request: chat not found")
    await world.tg.send(person, person, "/help")
    samples = await _metrics(world.app)
    assert samples["mentordesk_telegram_429_total"] == 1
    assert samples['mentordesk_delivery_failures_total{reason="forbidden"}'] == 1
    assert samples['mentordesk_delivery_failures_total{reason="chat_not_found"}'] == 1


async def test_a_stopped_sender_makes_the_bot_unhealthy(world: World) -> None:
    sender = next(task for task in world.app._tasks if task.get_name() == "sender")
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    status, health = await _health(world.app)
    assert status == 503
    assert health["status"] == "unhealthy"
    assert health["sender"] == "stopped"
    assert health["database"] is True


@pytest.mark.no_database
async def test_a_long_lived_task_that_fails_is_started_again_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sender, polling, the inbox leases: a failure (a bug, the database away longer than
    the task could wait) starts it again; it ends when its work ends, or on a fatal error."""
    monkeypatch.setattr("bot.app.time.monotonic", lambda: 0.0)  # every failure "at once"
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("bot.app.asyncio.sleep", no_wait)
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 4:
            raise RuntimeError("the loop broke")

    await supervise("flaky", flaky)
    assert runs == 4
    assert pauses == [2.0, 4.0, 8.0]  # growing while it keeps failing

    async def refused() -> None:
        raise PermissionError("the token is refused")

    with pytest.raises(PermissionError):
        await supervise("refused", refused, fatal=(PermissionError,))
