"""The aiogram ``Bot``, with a guard: no Bot API call while a database transaction is open."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.db import transaction_open


class TransactionGuard(BaseRequestMiddleware):
    """Refuses a Bot API call made while the caller holds a transaction open.

    Such a call would hold the database (and, on SQLite, its write lock) for as long as
    Telegram takes to answer, or to let a 429 pass; what a handler says goes to the outbox.
    """

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if transaction_open():
            msg = f"{method.__api_method__} called inside a database transaction: use the outbox"
            raise RuntimeError(msg)
        return await make_request(bot, method)


def create_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    session.middleware(TransactionGuard())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
