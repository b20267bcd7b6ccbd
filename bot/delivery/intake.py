"""How updates arrive: long polling and the webhook, both storing before confirming.

By polling, Telegram counts an update as received when the next ``getUpdates`` asks from a
higher offset, so a batch is committed to the inbox before that call. By webhook, it counts it
when the request is answered 200, so the update is committed before the answer. Either way each
update is kept as Telegram wrote it and read on its own: one aiogram cannot read is set aside
(``bot.delivery.inbox``) and the next ones go on.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiohttp import web

from bot.delivery.inbox import Arrived, Inbox
from bot.delivery.retry import TRANSIENT, Reachability
from bot.delivery.runner import UpdateRunner
from bot.delivery.telegram import RawUpdates

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=15.0, factor=1.5, jitter=0.1)


async def poll(
    bot: Bot,
    inbox: Inbox,
    runner: UpdateRunner,
    *,
    allowed_updates: list[str] | None,
    reach: Reachability | None = None,
    timeout: int = POLL_TIMEOUT,
) -> None:
    """Long-poll until cancelled. Each batch is in the inbox before the offset moves past it."""
    backoff = Backoff(config=_BACKOFF)
    offset: int | None = None
    request_timeout = int((bot.session.timeout or 60) + timeout)
    while True:
        method = RawUpdates(offset=offset, timeout=timeout, allowed_updates=allowed_updates)
        try:
            raw = await bot(method, request_timeout=request_timeout)
        except TelegramConflictError as error:
            log.error("another process takes this bot's updates (%s); retrying", error.message)
            await backoff.asleep()
            continue
        except TelegramUnauthorizedError:
            raise
        except TRANSIENT as error:
            if reach is not None:
                reach.failed()
            log.warning("getUpdates failed (%s: %s); retrying", type(error).__name__, error)
            await backoff.asleep()
            continue
        if reach is not None:
            reach.answered()
        backoff.reset()
        if not raw:
            continue
        arrived = [Arrived.read(int(item["update_id"]), json.dumps(item), bot) for item in raw]
        try:
            stored = await inbox.store(arrived)
        except Exception as error:  # noqa: BLE001 - not stored, so not confirmed
            # Telegram gives the same updates again.
            log.warning("could not store %s updates (%s); asking again",
                        len(arrived), type(error).__name__)  # fmt: skip
            await backoff.asleep()
            continue
        runner.submit(stored)
        offset = arrived[-1].update_id + 1


def webhook_handler(
    bot: Bot, inbox: Inbox, runner: UpdateRunner, secret: str | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The webhook endpoint: a wrong secret gets 401, a body that is not an update 400; an
    update is stored, then answered 200 (one aiogram cannot read too: it is set aside)."""

    async def receive(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if secret is not None and not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401, text="wrong secret token")
        try:
            body = (await request.read()).decode("utf-8")
            item = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return web.Response(status=400, text="not an update: the body is not UTF-8 JSON")
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return web.Response(status=400, text="not an update: no update_id")
        try:
            stored = await inbox.store([Arrived.read(update_id, body, bot)])
        except Exception as error:  # noqa: BLE001 - not stored: Telegram sends it again
            log.warning("could not store update %s (%s)", update_id, type(error).__name__)
            return web.Response(status=503, text="not stored; send it again")
        runner.submit(stored)
        return web.Response()

    return receive


async def renew_leases(inbox: Inbox, runner: UpdateRunner, every: float) -> None:
    """Keep this process's inbox leases while it works; take over lapsed ones of others."""
    while True:
        await asyncio.sleep(every)
        try:
            await inbox.renew()
            runner.submit(await inbox.take_waiting(all_of_them=False))
        except Exception as error:  # noqa: BLE001 - tried again at the next turn
            log.warning("renewing inbox leases failed (%s)", type(error).__name__)
