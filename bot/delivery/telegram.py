"""The aiogram ``Bot``, with a guard: no Bot API call while a database transaction is open;
and the sender's own way to post the text methods it sends most (``post_json``)."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast

import orjson
from aiogram import Bot, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout

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


_JSON = {"Content-Type": "application/json"}


async def post_json(
    bot: Bot,
    name: str,
    params: dict[str, Any],
    method: TelegramMethod[Any] | Callable[[], TelegramMethod[Any]],
    *,
    timeout: float | None = None,
) -> Any:
    """Call ``name`` with ``params`` as a JSON body and return the ``result`` of the answer,
    as plain JSON values (a sent message is a dict with its ``message_id``).

    The sender's path for the text it sends and edits (every card, acknowledgement and edit),
    and the poller's for ``getUpdates``.
    Through ``bot(...)``, aiogram builds a pydantic model of the call, encodes it as a form
    and reads the whole answer back into models, which costs about as much again as the HTTP
    round trip; here the parameters the outbox stored go out as they are, on aiogram's own
    HTTP session. A refusal is read by aiogram (``check_response``, given the call as aiogram
    would have made it: ``method``, or built by ``method()`` only then), so it raises the same
    exceptions as any other call.
    """
    if transaction_open():
        msg = f"{name} called inside a database transaction: use the outbox"
        raise RuntimeError(msg)

    def call() -> TelegramMethod[Any]:
        return method if isinstance(method, TelegramMethod) else method()

    session = cast(AiohttpSession, bot.session)
    http = await session.create_session()
    url = session.api.api_url(token=bot.token, method=name)
    try:
        async with http.post(
            url,
            data=orjson.dumps(params),
            headers=_JSON,
            timeout=ClientTimeout(total=session.timeout if timeout is None else timeout),
        ) as response:
            status, content = response.status, await response.read()
    except TimeoutError as error:
        raise TelegramNetworkError(method=call(), message="Request timeout error") from error
    except ClientError as error:
        message = f"{type(error).__name__}: {error}"
        raise TelegramNetworkError(method=call(), message=message) from error
    if HTTPStatus.OK <= status <= HTTPStatus.IM_USED:
        try:
            answer = orjson.loads(content)
        except orjson.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return answer.get("result")
    # Refused, or not understood: aiogram reads it and raises what it would have.
    session.check_response(bot, call(), status, content.decode(errors="replace"))
    raise TelegramAPIError(method=call(), message=f"unexpected answer: {content[:200]!r}")
