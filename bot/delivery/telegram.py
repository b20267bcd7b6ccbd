"""The aiogram ``Bot``, and what passes between the bot and Telegram: the updates taken (long
polling, or the webhook), each stored in the inbox before it is confirmed; and the call that
sends one outbox row, with what Telegram answered.

Every call goes through aiogram's session, so its request middlewares apply; one of them is a
guard: no Bot API call while the caller holds a database transaction open.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    EphemeralMessageParameters,
    ForumTopic,
    InlineKeyboardMarkup,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
)
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiohttp import web

from bot.db import transaction_open
from bot.delivery.inbox import Inbox, Stored
from bot.delivery.outbox import Row
from bot.delivery.recording import Outcome
from bot.delivery.retry import TRANSIENT, Reachability
from models import OutboxStatus

log = logging.getLogger(__name__)


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


class RawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """``getUpdates``, answered with each update as Telegram wrote it: read one by one after,
    so one aiogram cannot read does not stop the batch (``poll``)."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


# The methods the bot calls. aiogram reads each answer as ``Response[<type>]``, and pydantic
# caches such parametrised classes only weakly: once a garbage collection has taken one, the
# next call builds it anew, which costs more than the call itself. Holding them keeps them.
_CALLED = (
    RawUpdates, methods.GetMe, methods.SetMyCommands, methods.DeleteWebhook,
    methods.SetWebhook, methods.SendMessage, methods.SendDocument, methods.SendPhoto,
    methods.EditMessageText, methods.EditMessageReplyMarkup, methods.LeaveChat,
    methods.AnswerCallbackQuery, methods.CreateForumTopic, methods.EditEphemeralMessageText,
    methods.SetMessageReaction,
)  # fmt: skip
_response_types: list[object] = []


def create_bot(token: str, api_base: str) -> Bot:
    if not _response_types:
        _response_types.extend(Response[m.__returning__] for m in _CALLED)  # type: ignore[name-defined]
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    session.middleware(TransactionGuard())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def call_for(row: Row, params: dict[str, Any], file: bytes | None) -> TelegramMethod[Any]:
    """The Bot API call that sends ``row``: its stored parameters, with the Telegram ids of the
    messages it refers to filled in, and its file's bytes (a file the bot made)."""
    chat_id = row.chat_id
    markup = _markup(params.get("reply_markup"))
    reply = _reply(params.get("reply_to"))
    topic = params.get("message_thread_id")
    match row.method:
        case "send_text":
            return methods.SendMessage(
                chat_id=chat_id, message_thread_id=topic, text=params["text"],
                reply_markup=markup, reply_parameters=reply,
                ephemeral_message_parameters=_only_for(params.get("only_for")),
            )  # fmt: skip
        case "edit_ephemeral_text":
            return methods.EditEphemeralMessageText(
                chat_id=chat_id, receiver_user_id=params["receiver"],
                ephemeral_message_id=params["ephemeral_message_id"], text=params["text"],
                reply_markup=markup,
            )  # fmt: skip
        case "react":
            emoji = params.get("emoji")
            return methods.SetMessageReaction(
                chat_id=chat_id, message_id=params["message_id"],
                reaction=[ReactionTypeEmoji(emoji=emoji)] if emoji else [],
            )  # fmt: skip
        case "edit_text":
            return methods.EditMessageText(
                chat_id=chat_id, message_id=params["message_id"], text=params["text"],
                reply_markup=markup,
            )  # fmt: skip
        case "edit_markup":
            return methods.EditMessageReplyMarkup(
                chat_id=chat_id, message_id=params["message_id"], reply_markup=markup
            )
        case "send_document" | "send_photo":
            document = params.get("file_id") or BufferedInputFile(
                file or b"", filename=params["filename"]
            )
            if row.method == "send_photo":
                return methods.SendPhoto(
                    chat_id=chat_id, message_thread_id=topic, photo=document,
                    caption=params.get("caption"), reply_markup=markup, reply_parameters=reply,
                )  # fmt: skip
            return methods.SendDocument(
                chat_id=chat_id, message_thread_id=topic, document=document,
                caption=params.get("caption"), reply_markup=markup, reply_parameters=reply,
            )  # fmt: skip
        case "leave_chat":
            return methods.LeaveChat(chat_id=chat_id)
        case "open_topic":
            return methods.CreateForumTopic(chat_id=chat_id, name=params["name"])
    raise ValueError(f"unknown outbox method {row.method!r}")


async def send(
    bot: Bot, row: Row, params: dict[str, Any], file: bytes | None, merged: list[Row]
) -> Outcome:
    """Send the row (as ``params`` and ``file`` have it; ``merged``: the rows folded into it),
    and what Telegram answered: sent, moved, or refused for good. What only asks to wait (a
    429, the token refused, Telegram or the way to it not answering) is raised, for the
    sender to decide how long."""
    try:
        try:
            result = await bot(call_for(row, params, file))
        except TelegramBadRequest as error:
            if "message thread not found" not in error.message or "message_thread_id" not in params:
                raise
            # The person deleted the topic: the message goes to the chat itself.
            params = {k: v for k, v in params.items() if k != "message_thread_id"}
            result = await bot(call_for(row, params, file))
    except (TelegramRetryAfter, TelegramUnauthorizedError, *TRANSIENT):
        raise
    except TelegramMigrateToChat as error:
        return Outcome(row, OutboxStatus.pending, moved_to=error.migrate_to_chat_id,
                       attempts=row.attempts, reached_telegram=True)  # fmt: skip
    except TelegramAPIError as error:
        if isinstance(error, TelegramBadRequest) and "message is not modified" in error.message:
            return Outcome(row, OutboxStatus.sent, reached_telegram=True)
        forbidden = isinstance(error, TelegramForbiddenError)
        return Outcome(row, OutboxStatus.failed, error=error.message, forbidden=forbidden,
                       reached_telegram=True)  # fmt: skip
    if isinstance(result, ForumTopic):  # a topic is known by its thread id, kept as a message's
        return Outcome(row, OutboxStatus.sent, message_id=result.message_thread_id,
                       reached_telegram=True)  # fmt: skip
    # An ephemeral message has the message id 0: nothing can refer to it by that.
    message_id = (result.message_id or None) if isinstance(result, Message) else None
    return Outcome(row, OutboxStatus.sent, message_id=message_id, reached_telegram=True,
                   dropped=merged)  # fmt: skip


def _markup(data: Any) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.model_validate(data) if data else None


def _only_for(receiver: Any) -> EphemeralMessageParameters | None:
    return EphemeralMessageParameters(receiver_user_id=receiver) if receiver else None


def _reply(message_id: Any) -> ReplyParameters | None:
    if not isinstance(message_id, int):
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


async def call_now(bot: Bot, method: TelegramMethod[Any], reach: Reachability) -> Any:
    """A call that waits for no queue (answering a button press): tried twice, its errors
    only logged."""
    for attempt in range(2):
        try:
            result = await bot(method)
        except TRANSIENT as error:
            reach.failed()
            if attempt:
                log.info("%s failed: %s", method.__api_method__, error)
                return None
            await asyncio.sleep(0.2 + random.random() * 0.3)  # noqa: S311 - jitter
        except TelegramAPIError as error:
            reach.answered()
            log.info("%s refused: %s", method.__api_method__, error.message)
            return None
        else:
            reach.answered()
            return result
    return None


# --- how updates arrive ----------------------------------------------------------------------

# What takes the stored updates on: the runner's ``submit``.
Submit = Callable[[list[Stored]], None]

POLL_TIMEOUT = 25
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# While Telegram is away the poller asks again at least every 5 s: it is often the first to
# see Telegram back (``Reachability``), which lets the messages that waited go.
_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.5, jitter=0.1)


async def poll(
    bot: Bot,
    inbox: Inbox,
    submit: Submit,
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
        arrived = [Stored.read(int(item["update_id"]), json.dumps(item), bot) for item in raw]
        try:
            stored = await inbox.store(arrived)
        except Exception as error:  # noqa: BLE001 - not stored, so not confirmed
            # Telegram gives the same updates again.
            log.warning("could not store %s updates (%s); asking again",
                        len(arrived), type(error).__name__)  # fmt: skip
            await backoff.asleep()
            continue
        submit(stored)
        offset = arrived[-1].update_id + 1


def webhook_handler(
    bot: Bot, inbox: Inbox, submit: Submit, secret: str | None
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
            stored = await inbox.store([Stored.read(update_id, body, bot)])
        except Exception as error:  # noqa: BLE001 - not stored: Telegram sends it again
            log.warning("could not store update %s (%s)", update_id, type(error).__name__)
            return web.Response(status=503, text="not stored; send it again")
        submit(stored)
        return web.Response()

    return receive
