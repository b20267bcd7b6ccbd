"""The Bot API emulator's server: the real aiogram ``Bot`` talks to it over HTTP on 127.0.0.1.

It keeps people, chats, messages and files, hands updates out by ``getUpdates`` long polling or
posts them to a webhook, and answers as Telegram does, errors, flood limits and injected faults
included: a failing call (``fail_next``), Telegram unreachable for a while (``outage``), an
update aiogram cannot read (``reply_to_hidden_forward``). People act through
:class:`bot.sandbox.emulator.client.TelegramClient`; this module is the Telegram side.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import secrets
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import aiohttp
from aiohttp import web

from bot.sandbox.emulator.markup import MarkupError, detect_entities, parse_html, utf16_len
from bot.sandbox.emulator.models import (
    ApiCall,
    ApiError,
    CallbackAnswer,
    CallbackQueryRecord,
    FakeChat,
    FakeMessage,
    FakeUser,
    OutageMode,
    Refusal,
    StoredFile,
    Upload,
)

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_TOPIC_NAME = 128
# The colours a topic's icon may have (createForumTopic's icon_color).
TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
# Update types Telegram sends when the bot asks for none in particular.
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
    }
)
# Telegram's answer to every call while its Bot API cannot be reached (``outage("502")``).
BAD_GATEWAY = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
# The forward date of aiogram issue #1840's update (28 January 2015): a forward older than
# Bot API 7.0's ``forward_origin``, which Telegram describes without the sender's name.
LEGACY_FORWARD_DATE = 1422450181
SENDING_METHODS = frozenset(
    {"sendmessage", "senddocument", "sendphoto", "copymessage", "forwardmessage"}
)

_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "allowed_updates",
        "commands",
        "scope",
        "menu_button",
        "media",
        "ephemeral_message_parameters",
        "reaction",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "receiver_user_id",
        "ephemeral_message_id",
        "max_connections",
        "message_thread_id",
        "icon_color",
    }
)

# The HTTP request being served, so a long poll can notice that its client went away.
_REQUEST: contextvars.ContextVar[web.Request | None] = contextvars.ContextVar(
    "fake_telegram_request", default=None
)

Handler = Callable[[dict[str, Any], dict[str, Upload]], Awaitable[Any]]
# Called with (method, params) before a method runs: lets a test look at the world as it is
# at the moment the bot speaks (say, whether what it announces is already stored).
Observer = Callable[[str, dict[str, Any]], Awaitable[None]]
# Called after a message appeared, changed or went away (the sandbox's page follows these).
Watcher = Callable[[FakeMessage], None]


@dataclass
class Limits:
    """Telegram's flood limits, as the server enforces them (429 with ``retry_after``)."""

    global_per_second: float = 30
    group_count: int = 20
    group_window: float = 60.0
    private_count: int = 5
    private_window: float = 1.0

    @classmethod
    def off(cls) -> Limits:
        return cls(
            global_per_second=1e9,
            group_count=10**9,
            group_window=1.0,
            private_count=10**9,
            private_window=1.0,
        )


@dataclass
class _Failure:
    method: str
    error: ApiError
    times: int


@dataclass(eq=False)
class _Pending:
    """An update on its way to the bot; ``done`` once the bot has handled it."""

    update: dict[str, Any]
    done: asyncio.Event = field(default_factory=asyncio.Event)
    served: bool = False
    webhook_status: int | None = None  # the bot's answer to its POST (0: none came)

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


class _CutOff(Exception):  # noqa: N818 - not the bot's error: Telegram went away
    """A long poll that was waiting when Telegram became unreachable."""


# The emoji Telegram accepts as a reaction (Bot API, ReactionTypeEmoji); any other is refused
# with REACTION_INVALID.
REACTION_EMOJI = frozenset(
    [
        "❤",
        "👍",
        "👎",
        "🔥",
        "🥰",
        "👏",
        "😁",
        "🤔",
        "🤯",
        "😱",
        "🤬",
        "😢",
        "🎉",
        "🤩",
        "🤮",
        "💩",
        "🙏",
        "👌",
        "🕊",
        "🤡",
        "🥱",
        "🥴",
        "😍",
        "🐳",
        "❤\u200d🔥",
        "🌚",
        "🌭",
        "💯",
        "🤣",
        "⚡",
        "🍌",
        "🏆",
        "💔",
        "🤨",
        "😐",
        "🍓",
        "🍾",
        "💋",
        "🖕",
        "😈",
        "😴",
        "😭",
        "🤓",
        "👻",
        "👨\u200d💻",
        "👀",
        "🎃",
        "🙈",
        "😇",
        "😨",
        "🤝",
        "✍",
        "🤗",
        "🫡",
        "🎅",
        "🎄",
        "☃",
        "💅",
        "🤪",
        "🗿",
        "🆒",
        "💘",
        "🙉",
        "🦄",
        "😘",
        "💊",
        "🙊",
        "😎",
        "👾",
        "🤷\u200d♂",
        "🤷",
        "🤷\u200d♀",
        "😡",
    ]
)


def _reset(request: web.Request) -> None:
    """Drop the connection as a failing network does: a TCP reset, and no answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger on, for no time: closing sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _forbidden(description: str) -> ApiError:
    return ApiError(403, f"Forbidden: {description}")


def _coerce(key: str, value: Any) -> Any:
    """Form fields arrive as strings; give them the types Telegram parses them into."""
    if not isinstance(value, str):
        return value
    if key in _JSON_PARAMS:
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise _bad(f"can't parse {key} JSON object") from error
    if key in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


class FakeTelegram:
    """The Telegram side of the tests: one bot, its chats and the people in them."""

    def __init__(
        self,
        token: str = "42:TEST-TOKEN",
        *,
        bot_id: int = 42,
        bot_username: str = "mentordesk_test_bot",
        limits: Limits | None = None,
        first_update_id: int = 1,
    ) -> None:
        self.token = token
        # BotFather's "topics in private chats" (Bot API 9.3): off, as for most bots.
        self.private_topics = False
        self.bot = FakeUser(
            id=bot_id, first_name="MentorDesk", username=bot_username, is_bot=True, started=True
        )
        self.limits = limits or Limits()
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.history: dict[int, list[FakeMessage]] = {}
        self.files: dict[str, StoredFile] = {}
        self.callbacks: dict[str, CallbackQueryRecord] = {}
        self.calls: list[ApiCall] = []
        # Calls made while Telegram was unreachable (``outage``): never run, so not in ``calls``.
        self.refusals: list[Refusal] = []
        self._outage: OutageMode | None = None
        self._reachable = asyncio.Event()
        self._reachable.set()
        self._received: dict[str, int] = {}
        self.observers: list[Observer] = []
        self.watchers: list[Watcher] = []
        # Set by a test's running bot: waits until the bot has handled and sent everything.
        self.settle: Callable[[], Awaitable[None]] | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_statuses: list[int] = []
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._queue: list[_Pending] = []
        self._pending: dict[int, _Pending] = {}
        self._last_delivered: _Pending | None = None
        self._failures: list[_Failure] = []
        self._update_ids = itertools.count(first_update_id)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._seq = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._sent_at: dict[int | None, deque[float]] = {}
        self._new_updates = asyncio.Condition()
        self._poll_generation = 0
        self._closing = False
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0
        self._handlers: dict[str, Handler] = {
            name.lower(): getattr(self, f"_api_{name}")
            for name in (
                "getMe",
                "logOut",
                "close",
                "getUpdates",
                "setWebhook",
                "deleteWebhook",
                "getWebhookInfo",
                "sendMessage",
                "sendDocument",
                "sendPhoto",
                "copyMessage",
                "forwardMessage",
                "editMessageText",
                "editMessageCaption",
                "editMessageReplyMarkup",
                "deleteMessage",
                "editEphemeralMessageText",
                "editEphemeralMessageReplyMarkup",
                "deleteEphemeralMessage",
                "setMessageReaction",
                "answerCallbackQuery",
                "sendChatAction",
                "leaveChat",
                "getChat",
                "getChatMember",
                "getChatAdministrators",
                "setMyCommands",
                "getMyCommands",
                "deleteMyCommands",
                "setChatMenuButton",
                "getFile",
                "createForumTopic",
                "editForumTopic",
                "closeForumTopic",
            )
        }
        self.add_user(self.bot)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        application = web.Application(client_max_size=64 * 1024 * 1024)
        application.router.add_route("*", "/bot{token}/{method}", self._serve_method)
        application.router.add_get("/file/bot{token}/{path:.*}", self._serve_file)
        self._runner = web.AppRunner(application, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp keeps the bound socket there
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._closing = True
        self._wake_pollers()
        for task in list(self._webhook_tasks):
            task.cancel()
        for task in list(self._webhook_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the world ----------------------------------------------------------------------------

    def add_user(self, user: FakeUser) -> FakeUser:
        self.users[user.id] = user
        if not user.is_bot:
            self.add_chat(FakeChat(id=user.id, type="private", user=user, bot_status="member"))
        return user

    def add_chat(self, chat: FakeChat) -> FakeChat:
        self.chats[chat.id] = chat
        self.history.setdefault(chat.id, [])
        self._message_ids.setdefault(chat.id, itertools.count(1))
        return chat

    def private_chat(self, user: FakeUser) -> FakeChat:
        return self.chats[user.id]

    def new_message(self, chat: FakeChat, sender: FakeUser, **fields: Any) -> FakeMessage:
        message = FakeMessage(
            message_id=next(self._message_ids[chat.id]),
            chat=chat,
            from_user=sender,
            date=int(time.time()),
            seq=next(self._seq),
            by_bot=sender.id == self.bot.id,
            **fields,
        )
        self.history[chat.id].append(message)
        self.changed(message)
        return message

    def changed(self, message: FakeMessage) -> None:
        """Tell the watchers that ``message`` is new, was edited or was deleted."""
        for watcher in self.watchers:
            watcher(message)

    def find_message(self, chat_id: int, message_id: int) -> FakeMessage | None:
        for message in reversed(self.history.get(chat_id, [])):
            if message.message_id == message_id:
                return None if message.deleted else message
        return None

    def store_file(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        number = next(self._file_ids)
        stored = StoredFile(
            file_id=f"{kind[:3].upper()}-{number}-{secrets.token_urlsafe(12)}",
            file_unique_id=f"u{number}",
            kind=kind,
            data=data,
            file_path=f"{kind}s/file_{number}",
            file_name=file_name,
            mime_type=mime_type,
        )
        if kind == "photo":
            stored.photo_sizes = [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": 320,
                    "height": 240,
                    "file_size": len(data),
                }
            ]
        self.files[stored.file_id] = stored
        return stored

    def visible_to_bot(self, message: FakeMessage) -> bool:
        """Would Telegram show this message to the bot? Privacy mode is on, as by default.

        In private chats the bot sees everything; in groups where it is an administrator too.
        Otherwise only commands, mentions of the bot, replies to its messages and service
        messages reach it.
        """
        chat = message.chat
        if chat.is_private:
            return not message.from_user.blocked
        if not chat.bot_is_in:
            return False
        if chat.bot_status in ("administrator", "creator") or message.is_service:
            return True
        if message.reply_to is not None and message.reply_to.by_bot:
            return True
        text = message.content
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.strip() else ""
            target = command.partition("@")[2]
            return not target or target.lower() == (self.bot.username or "").lower()
        return f"@{self.bot.username}".lower() in text.lower()

    # -- updates ------------------------------------------------------------------------------

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def enqueue(self, update: dict[str, Any]) -> _Pending:
        """Queue an update for the bot (by polling or webhook); returns its pending record.

        The update goes out as given, checked against nothing (an ``update_id`` is added
        when it has none): any JSON Telegram could send, such as ``reply_to_hidden_forward``'s.
        """
        update.setdefault("update_id", self.next_update_id())
        pending = _Pending(update)
        kind = next(key for key in update if key != "update_id")
        if kind not in self.allowed_updates:
            # The bot did not ask for this kind of update: Telegram never sends it.
            pending.served = True
            pending.done.set()
            return pending
        self._pending[pending.update_id] = pending
        self._last_delivered = pending
        if self.webhook_url:
            task = asyncio.get_running_loop().create_task(self._post_webhook(pending))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)
        else:
            self._queue.append(pending)
            self._wake_pollers()
        return pending

    def redeliver(self) -> _Pending:
        """Send the last update again with the same id, as Telegram does after a lost answer."""
        assert self._last_delivered is not None, "nothing was delivered yet"
        pending = _Pending(json.loads(json.dumps(self._last_delivered.update)))
        self._pending[pending.update_id] = pending
        if self.webhook_url:
            task = asyncio.get_running_loop().create_task(self._post_webhook(pending))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)
        else:
            self._queue.append(pending)
            self._wake_pollers()
        return pending

    def reply_to_hidden_forward(
        self,
        chat: FakeChat,
        member: FakeUser,
        text: str,
        *,
        forwarded_text: str,
        forwarded_at: int = LEGACY_FORWARD_DATE,
    ) -> dict[str, Any]:
        """The update of aiogram issue #1840, for ``enqueue``: ``member`` writes ``text`` in
        the group as a reply to an old message they once forwarded from someone who hides
        their account. Telegram gives that message's ``forward_origin`` as ``{"type":
        "hidden_user", "date": ...}``, without the ``sender_user_name`` its documentation
        requires, and aiogram 3.31 cannot read the update (nor a batch of updates holding it).
        """
        chat.members.setdefault(member.id, "member")
        forward = self.new_message(
            chat,
            member,
            body=forwarded_text,
            entities=detect_entities(forwarded_text),
            forward_origin={"type": "hidden_user", "date": forwarded_at},
        )
        forward.date = forwarded_at + 86400  # forwarded into the group the next day
        reply = self.new_message(
            chat, member, body=text, entities=detect_entities(text), reply_to=forward
        )
        return {"update_id": self.next_update_id(), "message": reply.to_api()}

    async def wait_processed(self, pending: _Pending, timeout: float = 15.0) -> None:
        """Wait until the bot has received the update, then (in tests whose bot runs in this
        process) until it has handled it and sent what it had to say.

        By polling, Telegram counts an update received when the bot asks for the next updates
        with a higher offset; by webhook, when the POST of the update has been answered.
        """
        try:
            await asyncio.wait_for(pending.done.wait(), timeout)
        except TimeoutError:
            msg = (
                f"the bot did not take update {pending.update_id} within {timeout} s "
                f"({next(k for k in pending.update if k != 'update_id')})"
            )
            raise AssertionError(msg) from None
        if self.settle is not None:
            await self.settle()

    def _wake_pollers(self) -> None:
        async def notify() -> None:
            async with self._new_updates:
                self._new_updates.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def _post_webhook(self, pending: _Pending) -> None:
        await self._reachable.wait()  # Telegram posts nothing while it is down
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        url = self.webhook_url or ""
        try:
            async with self._http.post(url, json=pending.update, headers=headers) as response:
                self.webhook_statuses.append(response.status)
                pending.webhook_status = response.status
                body = await response.read()
                content_type = response.content_type
                if response.status == 200 and body:
                    await self._execute_webhook_reply(body, content_type, response)
        except aiohttp.ClientError as error:
            log.warning("webhook delivery failed: %s", error)
            self.webhook_statuses.append(0)
            pending.webhook_status = 0
        finally:
            pending.served = True
            pending.done.set()

    async def _execute_webhook_reply(
        self, body: bytes, content_type: str, response: aiohttp.ClientResponse
    ) -> None:
        """A webhook answer may carry one method call, which Telegram then executes."""
        params: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        if content_type == "application/json":
            params = json.loads(body)
        elif content_type.startswith("multipart/"):
            header = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode()
            parsed = BytesParser(policy=HTTP).parsebytes(header + body)
            for part in parsed.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True)
                if not isinstance(name, str) or not isinstance(data, bytes):
                    continue
                if part.get_filename():
                    uploads[name] = Upload(part.get_filename(), part.get_content_type(), data)
                else:
                    params[name] = data.decode()
        method = str(params.pop("method", ""))
        if method:
            await self.call(method, params, uploads)

    # -- Telegram unreachable -----------------------------------------------------------------

    def outage(self, mode: OutageMode = "502") -> None:
        """Telegram unreachable until ``recover()``: every Bot API call, ``getUpdates``
        included, is answered ``502 Bad Gateway`` (``"502"``) or has its connection reset
        (``"reset"``) without being run, and goes to ``refusals``, not to ``calls``. Long
        polls waiting now end the same way; updates wait, those for the webhook too."""
        if mode not in ("502", "reset"):
            raise ValueError(f"an outage is '502' or 'reset', not {mode!r}")
        self._outage = mode
        self._reachable.clear()
        self._wake_pollers()

    def recover(self) -> None:
        """Telegram reachable again: calls run, waiting updates go out."""
        self._outage = None
        self._reachable.set()

    @property
    def reachable(self) -> bool:
        return self._outage is None

    def _refuse(
        self, request: web.Request, method: str, params: dict[str, Any], mode: OutageMode
    ) -> web.Response:
        self.refusals.append(Refusal(method, params, mode, time.monotonic()))
        if mode == "reset":
            _reset(request)  # the answer below never leaves
        return web.json_response(BAD_GATEWAY, status=502)

    # -- the Bot API --------------------------------------------------------------------------

    async def _serve_method(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        uploads[key] = Upload(value.filename, value.content_type, value.file.read())
                    else:
                        params[key] = value
        method = request.match_info["method"]
        if self._outage is not None:
            return self._refuse(request, method, params, self._outage)
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        _REQUEST.set(request)
        try:
            result = await self.call(method, params, uploads)
        except ApiError as error:
            return web.json_response(error.to_api(), status=error.error_code)
        except _CutOff:
            return self._refuse(request, method, params, self._outage or "502")
        return web.json_response({"ok": True, "result": result})

    async def _serve_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized
        for stored in self.files.values():
            if stored.file_path == request.match_info["path"]:
                return web.Response(body=stored.data)
        raise web.HTTPNotFound

    async def call(
        self, method: str, raw: dict[str, Any], uploads: dict[str, Upload] | None = None
    ) -> Any:
        """Run one Bot API method; records it in ``calls`` and raises ApiError like Telegram."""
        params = {key: _coerce(key, value) for key, value in raw.items()}
        uploads = uploads or {}
        shown = {**params, **uploads}
        name = method.lower()
        arrived = time.monotonic()
        self._received[name] = self._received.get(name, 0) + 1
        try:
            handler = self._handlers.get(name)
            if handler is None:
                raise ApiError(404, "Not Found")
            for observer in self.observers:
                await observer(method, params)
            self._injected_failure(name)
            if name in SENDING_METHODS:
                self._check_flood(params.get("chat_id"))
            result = await handler(params, uploads)
        except ApiError as error:
            self.calls.append(ApiCall(method, shown, error, arrived))
            raise
        self.calls.append(ApiCall(method, shown, result, arrived))
        return result

    def count_calls(self, method: str) -> int:
        """How many times the bot has called ``method`` (a long poll counts from its start)."""
        return self._received.get(method.lower(), 0)

    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this error."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        self._failures.append(
            _Failure(method.lower(), ApiError(code, description, parameters), times)
        )

    def _injected_failure(self, name: str) -> None:
        for failure in self._failures:
            if failure.method == name and failure.times > 0:
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
                raise failure.error

    def _check_flood(self, chat_id: Any) -> None:
        now = time.monotonic()
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        windows: list[tuple[int | None, int, float]] = [
            (None, max(1, int(self.limits.global_per_second)), 1.0)
        ]
        if chat is not None and chat.is_private:
            windows.append((chat.id, self.limits.private_count, self.limits.private_window))
        elif chat is not None:
            windows.append((chat.id, self.limits.group_count, self.limits.group_window))
        for key, count, window in windows:
            sent = self._sent_at.setdefault(key, deque())
            while sent and now - sent[0] >= window:
                sent.popleft()
            if len(sent) >= count:
                retry_after = max(1, int(window - (now - sent[0]) + 0.999))
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        for key, _, _ in windows:
            self._sent_at[key].append(now)

    # -- resolving chats, messages, markup ----------------------------------------------------

    def _chat(self, chat_id: Any) -> FakeChat:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == chat_id[1:].lower():
                    return chat
            raise _bad("chat not found")
        if not isinstance(chat_id, int):
            raise _bad("chat not found")
        found = self.chats.get(chat_id)
        if found is None:
            raise _bad("chat not found")
        return found

    def _writable_chat(self, chat_id: Any) -> FakeChat:
        """The chat the bot may post in, or Telegram's refusal."""
        chat = self._chat(chat_id)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.is_private:
            assert chat.user is not None
            if chat.user.blocked:
                raise _forbidden("bot was blocked by the user")
            if not chat.user.started:
                raise _forbidden("bot can't initiate conversation with a user")
            return chat
        if chat.bot_status == "kicked":
            raise _forbidden(f"bot was kicked from the {self._kind(chat)} chat")
        if not chat.bot_is_in:
            raise _forbidden(f"bot is not a member of the {self._kind(chat)} chat")
        return chat

    @staticmethod
    def _kind(chat: FakeChat) -> str:
        return "supergroup" if chat.type == "supergroup" else "group"

    def _formatted(
        self, params: dict[str, Any], text_key: str, entities_key: str, limit: int
    ) -> tuple[str, list[dict[str, Any]], str | None]:
        raw = params.get(text_key)
        source = "" if raw is None else str(raw)
        parse_mode = params.get("parse_mode")
        if parse_mode and str(parse_mode).lower() == "html":
            try:
                text, entities = parse_html(source)
            except MarkupError as error:
                raise _bad(f"can't parse entities: {error}") from error
            html: str | None = source
        elif parse_mode:
            raise _bad(f"unsupported parse_mode {parse_mode!r} in the fake server")
        else:
            text, entities, html = source, list(params.get(entities_key) or []), None
        if utf16_len(text) > limit:
            kind = "message" if text_key == "text" else "message caption"
            raise _bad(f"{kind} is too long")
        return text, entities, html

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array')
        for row in rows:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise _bad("BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise _bad("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                    raise _bad("BUTTON_URL_INVALID")
                if data is None and url is None and not (set(button) - {"text"}):
                    raise _bad('can\'t find field "callback_data"')
        return markup

    def _reply_target(self, chat: FakeChat, params: dict[str, Any]) -> FakeMessage | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply"))
            chat_id = reply.get("chat_id", chat.id)
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = bool(params.get("allow_sending_without_reply"))
            chat_id = chat.id
        else:
            return None
        target = self.find_message(int(chat_id), int(message_id or 0))
        if target is None and not allow:
            raise _bad("message to be replied not found")
        return target

    def _sent(self, message: FakeMessage) -> dict[str, Any]:
        return message.to_api()

    def _input_file(
        self, params: dict[str, Any], uploads: dict[str, Upload], key: str, kind: str
    ) -> StoredFile:
        value = params.get(key)
        upload: Upload | None = uploads.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            mime = upload.content_type if kind == "document" else None
            if mime == "application/octet-stream":
                mime = None
            return self.store_file(kind, upload.data, file_name=upload.filename, mime_type=mime)
        if isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                raise _bad("failed to get HTTP URL content")
            stored = self.files.get(value)
            if stored is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            if stored.kind != kind:
                raise _bad(f"can't use file of type {stored.kind.title()} as {kind.title()}")
            return stored
        raise _bad(f"there is no {key} in the request")

    # -- methods ------------------------------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        data = self.bot.to_api()
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
            has_topics_enabled=self.private_topics,
            allows_users_to_create_topics=False,
        )
        return data

    async def _api_logOut(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return True

    async def _api_close(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return True

    async def _api_getUpdates(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        if self.webhook_url:
            msg = (
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first"
            )
            raise ApiError(409, msg)
        self._poll_generation += 1
        generation = self._poll_generation
        offset = params.get("offset")
        if isinstance(offset, int):
            self._confirm(offset)
        allowed = params.get("allowed_updates")
        if allowed:
            self.allowed_updates = frozenset(allowed)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._outage is not None:
                raise _CutOff
            if generation != self._poll_generation:
                msg = (
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running"
                )
                raise ApiError(409, msg)
            # Every update not confirmed yet, those handed out before included: Telegram
            # sends them again until a call's offset confirms them.
            ready = self._queue[:limit]
            if ready:
                for pending in ready:
                    pending.served = True
                return [pending.update for pending in ready]
            remaining = deadline - loop.time()
            request = _REQUEST.get()
            gone = request is not None and (
                request.transport is None or request.transport.is_closing()
            )
            if remaining <= 0 or gone or self._closing:
                return []
            async with self._new_updates:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_updates.wait(), min(remaining, 0.2))

    def _confirm(self, offset: int) -> None:
        """``offset`` confirms every update handed out before with a smaller id."""
        for pending in [p for p in self._queue if p.served and p.update_id < offset]:
            self._queue.remove(pending)
            pending.done.set()

    async def _api_setWebhook(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        url = str(params.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not all(c.isalnum() or c in "_-" for c in str(secret)):
            raise _bad("bad webhook: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if allowed:
            self.allowed_updates = frozenset(allowed)
        self.webhook_url = url or None
        self.webhook_secret = str(secret) if secret else None
        if params.get("drop_pending_updates"):
            self._drop_pending()
        elif self.webhook_url:
            for pending in [p for p in self._queue if not p.done.is_set()]:
                self._queue.remove(pending)
                pending.served = False
                task = asyncio.get_running_loop().create_task(self._post_webhook(pending))
                self._webhook_tasks.add(task)
                task.add_done_callback(self._webhook_tasks.discard)
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        self.webhook_url = None
        self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._drop_pending()
        return True

    def _drop_pending(self) -> None:
        for pending in self._queue:
            pending.done.set()
        self._queue.clear()

    async def _api_getWebhookInfo(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len([p for p in self._queue if not p.done.is_set()]),
            "allowed_updates": sorted(self.allowed_updates),
        }

    async def _api_sendMessage(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._writable_chat(params.get("chat_id"))
        receiver = self._receiver(chat, params.get("ephemeral_message_parameters"))
        text, entities, html = self._formatted(params, "text", "entities", MAX_TEXT)
        if not text.strip():
            raise _bad("message text is empty")
        markup = self._check_markup(params.get("reply_markup"))
        thread_id, reply_to = self.topic_of(chat, params, self._reply_target(chat, params))
        message = self.new_message(
            chat,
            self.bot,
            thread_id=thread_id,
            body=text,
            entities=entities,
            html=html,
            reply_to=reply_to,
            reply_markup=markup,
            link_preview_options=params.get("link_preview_options"),
            receiver=receiver,
        )
        return self._sent(message)

    # -- ephemeral messages (Bot API 10.2) and reactions (7.0) --------------------------------

    def _receiver(self, chat: FakeChat, ephemeral: Any) -> FakeUser | None:
        """The member an ephemeral message is for, or Telegram's refusal; None for a message
        everyone in the chat sees."""
        if ephemeral is None:
            return None
        if not isinstance(ephemeral, dict) or not isinstance(
            ephemeral.get("receiver_user_id"), int
        ):
            raise _bad("can't parse ephemeral message parameters")
        if chat.is_private:
            raise _bad("ephemeral messages can be sent only to group and supergroup chats")
        receiver = self.users.get(ephemeral["receiver_user_id"])
        if receiver is None or chat.members.get(receiver.id) in (None, "left", "kicked"):
            raise _bad("RECEIVER_INVALID")
        return receiver

    def _ephemeral(self, params: dict[str, Any]) -> FakeMessage:
        chat = self._chat(params.get("chat_id"))
        message = self.find_message(chat.id, int(params.get("ephemeral_message_id") or 0))
        receiver = params.get("receiver_user_id")
        if (
            message is None
            or message.receiver is None
            or message.deleted
            or message.receiver.id != receiver
        ):
            raise _bad("ephemeral message not found")
        return message

    async def _api_editEphemeralMessageText(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        message = self._ephemeral(params)
        text, entities, html = self._formatted(params, "text", "entities", MAX_TEXT)
        if not text.strip():
            raise _bad("message text is empty")
        markup = self._check_markup(params.get("reply_markup"))
        self._finish_edit(message, body=text, entities=entities, html=html, reply_markup=markup)
        return True  # an ephemeral message's edit answers True, not the message

    async def _api_editEphemeralMessageReplyMarkup(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        message = self._ephemeral(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup is not None and not markup.get("inline_keyboard"):
            markup = None
        self._finish_edit(message, reply_markup=markup)
        return True

    async def _api_deleteEphemeralMessage(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        message = self._ephemeral(params)
        message.deleted = True
        self.changed(message)
        return True

    async def _api_setMessageReaction(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        chat = self._writable_chat(params.get("chat_id"))
        message = self.find_message(chat.id, int(params.get("message_id") or 0))
        if message is None or message.deleted or message.receiver is not None:
            raise _bad("message to react not found")
        reaction = params.get("reaction") or []
        if not isinstance(reaction, list):
            raise _bad("can't parse reaction types JSON object")
        emoji: list[str] = []
        for item in reaction:
            if not isinstance(item, dict) or item.get("type") != "emoji":
                raise _bad("REACTION_INVALID")
            if item.get("emoji") not in REACTION_EMOJI:
                raise _bad("REACTION_INVALID")
            emoji.append(str(item["emoji"]))
        if len(emoji) > 1:  # a bot sets one reaction on a message
            raise _bad("REACTIONS_TOO_MANY")
        if message.reactions != emoji:
            message.reactions = emoji
            self.changed(message)
        return True

    async def _send_file(
        self, params: dict[str, Any], uploads: dict[str, Upload], kind: str
    ) -> Any:
        chat = self._writable_chat(params.get("chat_id"))
        stored = self._input_file(params, uploads, kind, kind)
        caption: str | None = None
        entities: list[dict[str, Any]] = []
        html: str | None = None
        if params.get("caption") is not None:
            caption, entities, html = self._formatted(
                params, "caption", "caption_entities", MAX_CAPTION
            )
        markup = self._check_markup(params.get("reply_markup"))
        thread_id, reply_to = self.topic_of(chat, params, self._reply_target(chat, params))
        message = self.new_message(
            chat,
            self.bot,
            thread_id=thread_id,
            caption=caption,
            caption_entities=entities,
            html=html,
            reply_to=reply_to,
            reply_markup=markup,
            photo=list(stored.photo_sizes) if kind == "photo" else None,
            document=stored.document_api() if kind == "document" else None,
            file_bytes=stored.data,
        )
        return self._sent(message)

    # -- topics of a private chat (Bot API 9.3) ------------------------------------------------

    def topic_of(
        self, chat: FakeChat, params: dict[str, Any], reply_to: FakeMessage | None
    ) -> tuple[int | None, FakeMessage | None]:
        """The topic a new message goes to and what it replies to, as Telegram decides: the
        ``message_thread_id`` given (refused if the chat has no such topic), else the topic of
        the message it replies to. A message in a topic that replies to nothing replies to the
        topic's opening service message, as in a forum."""
        given = params.get("message_thread_id")
        if given is not None:
            if not isinstance(given, int) or given not in chat.topics:
                raise _bad("message thread not found")
            thread_id: int | None = given
        else:
            thread_id = reply_to.thread_id if reply_to is not None else None
        if thread_id is not None and reply_to is None:
            reply_to = self.find_message(chat.id, thread_id)
        return thread_id, reply_to

    def _topic_chat(self, params: dict[str, Any]) -> FakeChat:
        chat = self._writable_chat(params.get("chat_id"))
        if not (chat.is_private and self.private_topics):
            raise _bad("the chat is not a forum")
        return chat

    def _known_topic(self, chat: FakeChat, params: dict[str, Any]) -> dict[str, Any]:
        topic = chat.topics.get(params.get("message_thread_id"))  # type: ignore[arg-type]
        if topic is None:
            raise _bad("message thread not found")
        return topic

    @staticmethod
    def _topic_name(params: dict[str, Any]) -> str:
        name = str(params.get("name") or "")
        if not name.strip():
            raise _bad("TOPIC_TITLE_EMPTY")
        if len(name) > MAX_TOPIC_NAME:
            raise _bad("TOPIC_TITLE_TOO_LONG")
        return name

    async def _api_createForumTopic(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        chat = self._topic_chat(params)
        name = self._topic_name(params)
        color = params.get("icon_color", TOPIC_COLORS[0])
        if color not in TOPIC_COLORS:
            raise _bad("TOPIC_COLOR_INVALID")  # Telegram's six colours only
        topic = {"name": name, "icon_color": color}
        opening = self.new_message(chat, self.bot, forum_topic_created=dict(topic))
        # A topic is known by the id of the message that opened it.
        opening.thread_id = opening.message_id
        chat.topics[opening.message_id] = {**topic, "closed": False}
        return {"message_thread_id": opening.message_id, **topic}

    async def _api_editForumTopic(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._topic_chat(params)
        topic = self._known_topic(chat, params)
        if params.get("name") is not None:
            topic["name"] = self._topic_name(params)
        return True

    async def _api_closeForumTopic(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._topic_chat(params)
        self._known_topic(chat, params)["closed"] = True
        return True

    async def _api_sendDocument(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return await self._send_file(params, uploads, "document")

    async def _api_sendPhoto(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return await self._send_file(params, uploads, "photo")

    def _source_message(self, params: dict[str, Any]) -> FakeMessage:
        source_chat = self._chat(params.get("from_chat_id"))
        if not source_chat.is_private and not source_chat.bot_is_in:
            raise _bad("message to copy not found")
        source = self.find_message(source_chat.id, int(params.get("message_id") or 0))
        if source is None or source.is_service:
            raise _bad("message to copy not found")
        return source

    async def _api_copyMessage(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        source = self._source_message(params)
        chat = self._writable_chat(params.get("chat_id"))
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        fields: dict[str, Any] = {
            "body": source.body,
            "entities": list(source.entities),
            "caption": source.caption,
            "caption_entities": list(source.caption_entities),
            "photo": source.photo,
            "document": source.document,
            "file_bytes": source.file_bytes,
        }
        if "caption" in params and source.body is None:
            caption, entities, html = self._formatted(
                params, "caption", "caption_entities", MAX_CAPTION
            )
            fields.update(caption=caption, caption_entities=entities, html=html)
        message = self.new_message(chat, self.bot, reply_to=reply_to, reply_markup=markup, **fields)
        return {"message_id": message.message_id}

    async def _api_forwardMessage(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        source = self._source_message(params)
        chat = self._writable_chat(params.get("chat_id"))
        message = self.new_message(
            chat,
            self.bot,
            body=source.body,
            entities=list(source.entities),
            caption=source.caption,
            caption_entities=list(source.caption_entities),
            photo=source.photo,
            document=source.document,
            file_bytes=source.file_bytes,
            forward_origin={
                "type": "user",
                "date": source.date,
                "sender_user": source.from_user.to_api(),
            },
        )
        return self._sent(message)

    def _editable(self, params: dict[str, Any]) -> FakeMessage:
        if params.get("inline_message_id"):
            raise _bad("message to edit not found")
        chat = self._chat(params.get("chat_id"))
        message = self.find_message(chat.id, int(params.get("message_id") or 0))
        if message is None:
            raise _bad("message to edit not found")
        if not message.by_bot:
            raise _bad("message can't be edited")
        return message

    @staticmethod
    def _not_modified() -> ApiError:
        return _bad(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    def _finish_edit(self, message: FakeMessage, **changes: Any) -> Any:
        same = all(getattr(message, key) == value for key, value in changes.items())
        if same:
            raise self._not_modified()
        for key, value in changes.items():
            setattr(message, key, value)
        message.edited = True
        message.edit_date = int(time.time())
        self.changed(message)
        return self._sent(message)

    async def _api_editMessageText(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        message = self._editable(params)
        if message.body is None:
            raise _bad("there is no text in the message to edit")
        text, entities, html = self._formatted(params, "text", "entities", MAX_TEXT)
        if not text.strip():
            raise _bad("message text is empty")
        markup = self._check_markup(params.get("reply_markup"))
        return self._finish_edit(
            message,
            body=text,
            entities=entities,
            html=html,
            reply_markup=markup,
        )

    async def _api_editMessageCaption(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        message = self._editable(params)
        if message.body is not None:
            raise _bad("there is no caption in the message to edit")
        caption, entities, html = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION
        )
        markup = self._check_markup(params.get("reply_markup"))
        return self._finish_edit(
            message,
            caption=caption,
            caption_entities=entities,
            html=html,
            reply_markup=markup,
        )

    async def _api_editMessageReplyMarkup(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        message = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup is not None and not markup.get("inline_keyboard"):
            markup = None
        return self._finish_edit(message, reply_markup=markup)

    async def _api_deleteMessage(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._chat(params.get("chat_id"))
        message = self.find_message(chat.id, int(params.get("message_id") or 0))
        if message is None:
            raise _bad("message to delete not found")
        if not message.by_bot and not chat.is_private and chat.bot_status != "administrator":
            raise _bad("message can't be deleted")
        message.deleted = True
        self.changed(message)
        return True

    async def _api_answerCallbackQuery(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        record = self.callbacks.get(str(params.get("callback_query_id") or ""))
        if record is None or record.answer is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        record.answer = CallbackAnswer(
            text=None if text is None else str(text),
            show_alert=bool(params.get("show_alert")),
            url=params.get("url"),
            cache_time=params.get("cache_time"),
        )
        return True

    async def _api_sendChatAction(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        self._writable_chat(params.get("chat_id"))
        return True

    async def _api_leaveChat(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if chat.is_private:
            raise _bad("chat member status can't be changed in private chats")
        if not chat.bot_is_in:
            raise _forbidden(f"bot is not a member of the {self._kind(chat)} chat")
        old = chat.bot_status
        chat.bot_status = "left"
        self.enqueue(
            {
                "my_chat_member": {
                    "chat": chat.to_api(),
                    "from": self.bot.to_api(),
                    "date": int(time.time()),
                    "old_chat_member": self.member_api(chat, self.bot, old),
                    "new_chat_member": self.member_api(chat, self.bot, "left"),
                }
            }
        )
        return True

    async def _api_getChat(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if not chat.is_private and not chat.bot_is_in:
            raise _forbidden(f"bot is not a member of the {self._kind(chat)} chat")
        data = chat.to_api()
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return data

    def member_api(self, chat: FakeChat, user: FakeUser, status: str) -> dict[str, Any]:
        data: dict[str, Any] = {"status": status, "user": user.to_api()}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            data.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_send_welcome_messages=False,
            )
        elif status == "kicked":
            data["until_date"] = 0
        return data

    async def _api_getChatMember(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._chat(params.get("chat_id"))
        user = self.users.get(int(params.get("user_id") or 0))
        if user is None:
            raise _bad("user not found")
        if chat.is_private:
            status = "member" if user.id in (chat.id, self.bot.id) else "left"
        elif user.id == self.bot.id:
            status = chat.bot_status
        else:
            if not chat.bot_is_in:
                raise _forbidden(f"bot is not a member of the {self._kind(chat)} chat")
            status = chat.members.get(user.id, "left")
        return self.member_api(chat, user, status)

    async def _api_getChatAdministrators(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        chat = self._chat(params.get("chat_id"))
        if chat.is_private:
            raise _bad("there are no administrators in the private chat")
        if not chat.bot_is_in:
            raise _forbidden(f"bot is not a member of the {self._kind(chat)} chat")
        admins = [
            self.member_api(chat, self.users[user_id], status)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator")
        ]
        if chat.bot_status == "administrator":
            admins.append(self.member_api(chat, self.bot, "administrator"))
        return admins

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code') or ''}"

    async def _api_setMyCommands(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH" if commands else "commands must be non-empty")
        for command in commands:
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not (1 <= len(name) <= 32) or not all(
                c.islower() or c.isdigit() or c == "_" for c in name
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = commands
        return True

    async def _api_getMyCommands(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return self.commands.get(self._scope_key(params), [])

    async def _api_deleteMyCommands(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        self.commands.pop(self._scope_key(params), None)
        return True

    async def _api_setChatMenuButton(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        return True

    async def _api_getFile(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


__all__ = ["FakeTelegram", "Limits"]
