"""Everything the bot sends goes through here: Telegram's rate limits, retries, undeliverables.

Two layers share this module. ``RateLimitRetryMiddleware`` sits on the Bot's HTTP session and
so covers every request, replies in handlers included: it waits for the per-chat and global
send budgets before each send, retries a 429 after ``retry_after`` and a 5xx or network error
with exponential backoff. ``Delivery`` is what services use for messages the bot sends on its
own initiative (cards, relays, reminders, alerts): a 403 or a vanished chat becomes a
recorded ``DeliveryFailure`` and a ``None`` result, never an exception in a handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message, ReplyParameters
from aiolimiter import AsyncLimiter
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models import DeliveryFailure, Person

log = logging.getLogger(__name__)

# Methods that put a new message into a chat and so count against Telegram's send limits.
_SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendLocation",
        "sendPoll",
    }
)


@dataclass(frozen=True)
class RateLimits:
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    group_per_minute: float = 20.0


class SendBudget:
    """Token buckets: one global, one per chat (kept for the most recently used chats)."""

    def __init__(self, limits: RateLimits, max_chats: int = 10_000) -> None:
        self._limits = limits
        self._global = AsyncLimiter(limits.global_per_second, 1)
        self._chats: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self._max_chats = max_chats

    def _for_chat(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            if chat_id > 0:
                limiter = AsyncLimiter(self._limits.private_per_second, 1)
            else:
                limiter = AsyncLimiter(self._limits.group_per_minute, 60)
            self._chats[chat_id] = limiter
            if len(self._chats) > self._max_chats:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return limiter

    async def acquire(self, chat_id: int | None) -> None:
        if chat_id is not None:
            await self._for_chat(chat_id).acquire()
        await self._global.acquire()


def _chat_id_of(method: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int) else None


class RateLimitRetryMiddleware(BaseRequestMiddleware):
    """Respects send limits before a request and retries the failures worth retrying."""

    def __init__(
        self,
        budget: SendBudget,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self.budget = budget
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        sends = method.__api_method__ in _SENDING_METHODS
        attempt = 0
        while True:
            attempt += 1
            if sends:
                await self.budget.acquire(_chat_id_of(method))
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt >= self.attempts:
                    raise
                log.warning(
                    "429 on %s, retrying after %s s", method.__api_method__, error.retry_after
                )
                await asyncio.sleep(error.retry_after)
            except (TelegramServerError, TelegramNetworkError) as error:
                if attempt >= self.attempts:
                    raise
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                log.warning("%s on %s, retrying in %.1f s", error, method.__api_method__, delay)
                await asyncio.sleep(delay)


@dataclass(frozen=True)
class Attachment:
    """A file for ``Delivery.send_document``: bytes made by the bot, or a Telegram file id."""

    filename: str
    content: bytes | None = None
    file_id: str | None = None


class Delivery:
    """Sends what the bot says on its own initiative; records what Telegram refuses."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(
        self,
        session: AsyncSession,
        chat_id: int,
        text: str,
        *,
        purpose: str,
        reply_markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
        person_id: int | None = None,
    ) -> Message | None:
        """Send a message; ``None`` (and a recorded failure) if it cannot be delivered."""
        try:
            return await self.bot.send_message(
                chat_id,
                text,
                reply_markup=reply_markup,
                reply_parameters=_reply(reply_to),
            )
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            await self._record(session, chat_id, purpose, error, person_id)
            return None

    async def send_document(
        self,
        session: AsyncSession,
        chat_id: int,
        attachment: Attachment,
        *,
        purpose: str,
        caption: str | None = None,
        reply_to: int | None = None,
        person_id: int | None = None,
    ) -> Message | None:
        document: str | BufferedInputFile
        if attachment.file_id is not None:
            document = attachment.file_id
        else:
            document = BufferedInputFile(attachment.content or b"", filename=attachment.filename)
        try:
            return await self.bot.send_document(
                chat_id, document, caption=caption, reply_parameters=_reply(reply_to)
            )
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            await self._record(session, chat_id, purpose, error, person_id)
            return None

    async def send_photo(
        self,
        session: AsyncSession,
        chat_id: int,
        file_id: str,
        *,
        purpose: str,
        caption: str | None = None,
        reply_to: int | None = None,
        person_id: int | None = None,
    ) -> Message | None:
        """Send a photo Telegram already holds (by file id), e.g. one relayed from a person."""
        try:
            return await self.bot.send_photo(
                chat_id, file_id, caption=caption, reply_parameters=_reply(reply_to)
            )
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            await self._record(session, chat_id, purpose, error, person_id)
            return None

    async def _record(
        self,
        session: AsyncSession,
        chat_id: int,
        purpose: str,
        error: TelegramForbiddenError | TelegramBadRequest,
        person_id: int | None,
    ) -> None:
        log.info("undeliverable %s to %s: %s", purpose, chat_id, error.message)
        session.add(
            DeliveryFailure(
                chat_telegram_id=chat_id, person_id=person_id, purpose=purpose, error=error.message
            )
        )
        if chat_id > 0 and isinstance(error, TelegramForbiddenError):
            await session.execute(
                update(Person).where(Person.telegram_id == chat_id).values(private_chat_open=False)
            )
        await session.flush()


def _reply(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)
