"""How updates arrive: long polling and the webhook, both storing before confirming.

By polling, Telegram counts an update as received when the next ``getUpdates`` asks from a
higher offset, so a batch is committed to the inbox before that call. By webhook, it counts
it when the request is answered 200, so the update is committed before the answer. Either way
the runner then handles it from the inbox.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiohttp import web
from pydantic import ValidationError

from bot import codec
from bot.delivery.inbox import Inbox, UpdateRunner
from bot.delivery.telegram import post_json

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.5, jitter=0.1)


async def poll(
    bot: Bot,
    inbox: Inbox,
    runner: UpdateRunner,
    *,
    allowed_updates: list[str] | None,
    timeout: int = POLL_TIMEOUT,
) -> None:
    """Long-poll until cancelled. Each batch is in the inbox before the offset moves past it."""
    backoff = Backoff(config=_BACKOFF)
    offset: int | None = None
    request_timeout = int((bot.session.timeout or 60) + timeout)
    while True:
        method = GetUpdates(offset=offset, timeout=timeout, allowed_updates=allowed_updates)
        params: dict[str, Any] = method.model_dump(exclude_none=True)
        try:
            # Each update comes as Telegram wrote it: stored as such, parsed once for handling.
            raw = await post_json(bot, "getUpdates", params, method, timeout=request_timeout)
            updates = [Update.model_validate(item, context={"bot": bot}) for item in raw]
        except TelegramConflictError as error:
            log.error("another process takes this bot's updates (%s); retrying", error.message)
            await backoff.asleep()
            continue
        except TelegramUnauthorizedError:
            raise
        except Exception as error:  # noqa: BLE001 - Telegram unreachable: keep trying
            log.warning("getUpdates failed (%s: %s); retrying", type(error).__name__, error)
            await backoff.asleep()
            continue
        backoff.reset()
        if not updates:
            continue
        try:
            stored = await inbox.store(updates, raw=[codec.dumps(item) for item in raw])
        except Exception:
            # Not stored, so not confirmed: Telegram gives the same updates again.
            log.exception("could not store %s updates; asking again", len(updates))
            await backoff.asleep()
            continue
        runner.submit(stored)
        offset = updates[-1].update_id + 1


def webhook_handler(
    bot: Bot, inbox: Inbox, runner: UpdateRunner, secret: str | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The webhook endpoint: a wrong secret gets 401; an update is stored, then answered 200."""

    async def receive(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if secret is not None and not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401, text="wrong secret token")
        body = await request.text()
        try:
            update = Update.model_validate_json(body, context={"bot": bot})
        except ValidationError:
            return web.Response(status=400, text="not an update")
        stored = await inbox.store([update], raw=[body])
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
        except Exception:
            log.exception("renewing inbox leases failed")
