"""The aiogram ``Bot``, with a guard: no Bot API call while a database transaction is open."""

from __future__ import annotations

from aiogram import Bot, methods
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

from bot import codec
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


# The methods the bot calls. aiogram reads each answer as ``Response[<type>]``, and pydantic
# caches such parametrised classes only weakly: once a garbage collection has taken one, the
# next call builds it anew, which costs more than the call itself. Holding them keeps them.
_CALLED = (
    methods.GetUpdates, methods.GetMe, methods.SetMyCommands, methods.DeleteWebhook,
    methods.SetWebhook, methods.SendMessage, methods.SendDocument, methods.SendPhoto,
    methods.EditMessageText, methods.EditMessageReplyMarkup, methods.LeaveChat,
    methods.SendChatAction, methods.AnswerCallbackQuery,
)  # fmt: skip
_response_types: list[object] = []


def create_bot(token: str, api_base: str) -> Bot:
    if not _response_types:
        _response_types.extend(Response[m.__returning__] for m in _CALLED)  # type: ignore[name-defined]
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(api_base), json_loads=codec.loads, json_dumps=codec.dumps
    )
    session.middleware(TransactionGuard())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
