"""The sandbox's web page and its small JSON API: act as anyone, see their chats live.

Served by aiohttp on 127.0.0.1 only. The page (``static/``) is plain HTML, CSS and JS; it asks
for a person's chats and messages, sends what the visitor types as that person, presses
buttons, and follows changes through server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiogram.types import MessageEntity
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.text_decorations import HtmlDecoration
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.people import language_of
from bot.i18n import locale
from bot.languages import LANGUAGES
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.markup import detect_entities
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from bot.sandbox.world import Cast, Person
from models import Person as PersonRow
from models import RoleKind

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
ANSWER_WAIT = 5.0
MAX_TEXT = 4096


class _Decoration(HtmlDecoration):
    """Telegram's HTML as a browser shows it: links and commands clickable, URLs checked."""

    def apply_entity(self, entity: MessageEntity, text: str) -> str:
        if entity.type == "url":
            target = html.unescape(text)
            if target.lower().startswith("www."):
                target = f"http://{target}"
            return self.link(value=text, link=target)
        if entity.type == "text_link":
            return self.link(value=text, link=entity.url or "")
        if entity.type == "bot_command":
            return f'<span class="command">{text}</span>'
        if entity.type == "hashtag":
            return f'<span class="hashtag">{text}</span>'
        return super().apply_entity(entity, text)

    def link(self, value: str, link: str) -> str:
        if not link.startswith(("http://", "https://", "tg://")):
            return value
        target = html.escape(link, quote=True)
        return f'<a href="{target}" target="_blank" rel="noopener noreferrer">{value}</a>'

    def spoiler(self, value: str) -> str:
        return f'<span class="spoiler">{value}</span>'


_DECORATION = _Decoration()


def with_detected(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Telegram also finds links, commands and hashtags in what the bot writes: add those that
    do not cross the formatting the bot gave."""
    taken = [(e["offset"], e["offset"] + e["length"]) for e in entities]
    found = [
        entity
        for entity in detect_entities(text)
        if all(
            entity["offset"] + entity["length"] <= start or entity["offset"] >= end
            for start, end in taken
        )
    ]
    return sorted([*entities, *found], key=lambda e: (e["offset"], -e["length"]))


def render_text(text: str, entities: list[dict[str, Any]]) -> str:
    """The message as safe HTML: the text escaped, the entities as tags."""
    parsed = [MessageEntity.model_validate(entity) for entity in with_detected(text, entities)]
    try:
        return _DECORATION.unparse(text, parsed)
    except (IndexError, ValueError):
        log.debug("entities do not fit the text; showing it plain", exc_info=True)
        return html.escape(text)


def preview(message: FakeMessage) -> str:
    """A line for the list of chats: the start of the text, or what the message carries."""
    if message.content:
        return message.content[:80]
    if message.document:
        return f"📄 {message.document.get('file_name') or ''}"
    if message.photo:
        return "🖼"
    return ""


def page_strings() -> dict[str, str]:
    """The page's own words, in the current gettext language."""
    return {
        "title": _("MentorDesk sandbox"),
        "subtitle": _("The real bot, a Telegram of its own on this computer. Act as anyone."),
        "people": _("People"),
        "chats": _("Chats"),
        "private_chat": _("private chat with the bot"),
        "pick_person": _("Pick a person on the left to act as them."),
        "placeholder": _("Message as {name}…"),
        "send": _("Send"),
        "reply_to": _("Reply to {name}"),
        "cancel_reply": _("Cancel the reply"),
        "edited": _("edited"),
        "bot_not_in_group": _("The bot is not in this group."),
        "add_bot": _("Add the bot to the group"),
        "open_link_as": _("Open this invitation link as…"),
        "close": _("Close"),
        "added": _("{who} added {whom}"),
        "left": _("{who} removed {whom}"),
        "topic": _("{who} opened the topic «{whom}»"),
        "nothing_yet": _("No messages yet."),
        "acting_as": _("Acting as {name}"),
        "members": _("members: {count}"),
        "download": _("Download"),
        "only_for": _("only {name} sees this"),
    }


@dataclass
class Events:
    """Server-sent events: every page open gets each change as ``{"chat": id}``."""

    queues: set[asyncio.Queue[str | None]] = field(default_factory=set)

    def publish(self, message: FakeMessage) -> None:
        payload = json.dumps({"chat": message.chat.id, "message": message.message_id})
        for queue in self.queues:
            queue.put_nowait(payload)

    def close(self) -> None:
        """End every stream, so that stopping the sandbox does not wait for open pages."""
        for queue in self.queues:
            queue.put_nowait(None)


@dataclass
class Sandbox:
    """What the page acts on: the emulator's people and chats, and the bot's database."""

    tg: TelegramClient
    cast: Cast
    i18n: I18n
    session_factory: async_sessionmaker[AsyncSession]
    default_language: str
    empty: bool
    events: Events = field(default_factory=Events)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.tg.server.watchers.append(self.events.publish)

    def in_background(self, action: Awaitable[Any]) -> None:
        """Deliver an update without holding the page's request until the bot has answered."""

        async def run() -> None:
            try:
                await action
            except (AssertionError, TimeoutError) as error:
                log.warning("the bot has not answered yet: %s", error)

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- who, where --------------------------------------------------------------------------

    def person(self, request: web.Request, body: dict[str, Any] | None = None) -> Person:
        raw = (body or {}).get("as", request.query.get("as"))
        try:
            found = self.cast.person(int(str(raw)))
        except ValueError:
            found = None
        if found is None:
            raise web.HTTPNotFound(text="no such person")
        return found

    def chat(self, request: web.Request, person: Person) -> FakeChat:
        try:
            chat = self.tg.server.chats.get(int(request.match_info["chat"]))
        except ValueError:
            chat = None
        if chat is None or not self.may_see(person.user, chat):
            raise web.HTTPNotFound(text="no such chat")
        return chat

    @staticmethod
    def may_see(user: FakeUser, chat: FakeChat) -> bool:
        if chat.is_private:
            return chat.user is user
        return chat.members.get(user.id) in ("creator", "administrator", "member")

    def chats_of(self, user: FakeUser) -> list[FakeChat]:
        groups = [
            chat
            for chat in self.tg.server.chats.values()
            if not chat.is_private and chat.migrated_to is None and self.may_see(user, chat)
        ]
        return [self.tg.server.private_chat(user), *groups]

    async def languages_and_roles(self) -> dict[int, tuple[str, list[str]]]:
        """Each person's language as the bot speaks to them, and the roles they hold."""
        async with self.session_factory() as session:
            rows = (await session.execute(select(PersonRow))).scalars().all()
            known = {
                row.telegram_id: (
                    language_of(row, self.default_language),
                    sorted({role.kind.value for role in row.roles if role.active}),
                )
                for row in rows
            }
        result: dict[int, tuple[str, list[str]]] = {}
        for person in self.cast.people:
            language = person.user.language_code or self.default_language
            if language not in LANGUAGES:
                language = self.default_language
            result[person.id] = known.get(person.id, (language, []))
        return result

    # -- rendering ----------------------------------------------------------------------------

    def message_json(self, message: FakeMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": message.message_id,
            "from": {
                "id": message.from_user.id,
                "name": message.from_user.full_name,
                "bot": message.by_bot,
            },
            "date": message.date,
            "edited": message.edited,
            "html": render_text(
                message.content,
                message.entities if message.body is not None else message.caption_entities,
            ),
            "buttons": [
                [
                    {
                        "text": button["text"],
                        "data": button.get("callback_data"),
                        "url": button.get("url"),
                    }
                    for button in row
                ]
                for row in message.inline_buttons
            ],
        }
        if message.receiver is not None:
            data["only_for"] = message.receiver.full_name
        if message.thread_id is not None:
            topic = message.chat.topics.get(message.thread_id)
            if topic is not None:
                data["topic"] = str(topic.get("name", ""))
        if message.reactions:
            data["reactions"] = list(message.reactions)
        reply = message.reply_to
        # A message in a topic replies to the topic's opening, which the topic's label shows.
        if reply is not None and not reply.deleted and reply.forum_topic_created is None:
            data["reply"] = {
                "id": reply.message_id,
                "name": reply.from_user.full_name,
                "text": reply.content[:120],
            }
        if message.photo:
            data["photo"] = f"/files/{quote(message.photo[-1]['file_id'])}/photo.png"
        if message.document:
            name = message.document.get("file_name") or "file"
            data["document"] = {
                "name": name,
                "size": message.document.get("file_size", 0),
                "url": f"/files/{quote(message.document['file_id'])}/{quote(name)}",
            }
        if message.new_chat_members:
            data["service"] = {
                "kind": "added",
                "who": message.from_user.full_name,
                "whom": ", ".join(user.full_name for user in message.new_chat_members),
            }
        elif message.forum_topic_created is not None:
            data["service"] = {
                "kind": "topic",
                "who": message.from_user.full_name,
                "whom": str(message.forum_topic_created.get("name", "")),
            }
        elif message.left_chat_member is not None:
            data["service"] = {
                "kind": "left",
                "who": message.from_user.full_name,
                "whom": message.left_chat_member.full_name,
            }
        return data

    def chat_json(self, chat: FakeChat, user: FakeUser) -> dict[str, Any]:
        messages = [m for m in self.tg.server.history.get(chat.id, []) if m.visible_to(user)]
        last = messages[-1] if messages else None
        return {
            "id": chat.id,
            "private": chat.is_private,
            "title": chat.title or "",
            "bot_in": chat.bot_is_in,
            "may_add_bot": not chat.is_private
            and not chat.bot_is_in
            and chat.members.get(user.id) in ("creator", "administrator"),
            "members": len(chat.members),
            "last": None
            if last is None
            else {"name": last.from_user.full_name, "text": preview(last), "seq": last.seq},
        }

    # -- the API ------------------------------------------------------------------------------

    def language(self, request: web.Request) -> str:
        language = request.query.get("lang", self.default_language)
        return language if language in LANGUAGES else self.default_language

    async def world(self, request: web.Request) -> web.Response:
        """Everyone the visitor can act as; their profiles in the language of the page."""
        details = await self.languages_and_roles()
        people = []
        for person in self.cast.people:
            language, roles = details[person.id]
            with locale(self.i18n, self.language(request)):
                profile = str(person.profile)
            if person is self.cast.admin:
                roles = ["admin", *roles]
            people.append(
                {
                    "id": person.id,
                    "name": person.user.full_name,
                    "profile": profile,
                    "language": language,
                    "roles": roles,
                }
            )
        bot = self.tg.bot
        return web.json_response(
            {
                "bot": {"name": bot.full_name, "username": bot.username},
                "people": people,
                "empty": self.empty,
            }
        )

    async def strings(self, request: web.Request) -> web.Response:
        with locale(self.i18n, self.language(request)):
            strings = page_strings()
            strings.update(
                {
                    f"role_{key}": value
                    for key, value in (
                        ("admin", _("admin")),
                        (RoleKind.coordinator.value, _("coordinator")),
                        (RoleKind.mentor.value, _("mentor")),
                        (RoleKind.activist.value, _("activist")),
                    )
                }
            )
        return web.json_response(strings)

    async def chats(self, request: web.Request) -> web.Response:
        person = self.person(request)
        return web.json_response(
            [self.chat_json(c, person.user) for c in self.chats_of(person.user)]
        )

    async def messages(self, request: web.Request) -> web.Response:
        person = self.person(request)
        chat = self.chat(request, person)
        shown = [m for m in self.tg.server.history.get(chat.id, []) if m.visible_to(person.user)]
        return web.json_response(
            {
                "chat": self.chat_json(chat, person.user),
                "messages": [self.message_json(m) for m in shown],
            }
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except json.JSONDecodeError as error:
            raise web.HTTPBadRequest(text="expected JSON") from error
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return body

    async def send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        person = self.person(request, body)
        chat = self.chat(request, person)
        text = str(body.get("text") or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise web.HTTPBadRequest(text="a message is 1 to 4096 characters")
        reply_to = None
        if body.get("reply_to") is not None:
            reply_to = self.tg.server.find_message(chat.id, int(body["reply_to"]))
        if not chat.is_private and not chat.bot_is_in and chat.migrated_to is None:
            # Nobody to deliver to: the message just stays in the group, as in Telegram.
            self.tg.server.new_message(
                chat, person.user, body=text, entities=detect_entities(text), reply_to=reply_to
            )
            return web.json_response({"ok": True})
        where: FakeChat | FakeUser = person.user if chat.is_private else chat
        self.in_background(self.tg.send(person.user, where, text, reply_to=reply_to))
        return web.json_response({"ok": True})

    async def press(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        person = self.person(request, body)
        chat = self.chat(request, person)
        message = self.tg.server.find_message(chat.id, int(body.get("message") or 0))
        data = str(body.get("data") or "")
        if message is None or data not in {
            str(button.get("callback_data")) for row in message.inline_buttons for button in row
        }:
            raise web.HTTPNotFound(text="no such button")
        update = self.tg.callback_update(person.user, message, data)
        query_id = str(update["callback_query"]["id"])
        self.in_background(self.tg.deliver(update))
        record = self.tg.server.callbacks[query_id]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_WAIT
        while record.answer is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        answer = record.answer
        return web.json_response(
            {
                "text": answer.text if answer else None,
                "alert": bool(answer and answer.show_alert),
            }
        )

    async def add_bot(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        person = self.person(request, body)
        chat = self.chat(request, person)
        if chat.is_private or chat.bot_is_in:
            raise web.HTTPBadRequest(text="the bot is already there")
        self.in_background(self.tg.add_bot_to(chat, by=person.user))
        return web.json_response({"ok": True})

    async def open_link(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        person = self.person(request, body)
        payload = str(body.get("start") or "")
        if not payload or len(payload) > 64 or not all(c.isalnum() or c in "_-" for c in payload):
            raise web.HTTPBadRequest(text="not a start link")
        self.in_background(self.tg.start(person.user, payload))
        return web.json_response({"ok": True, "chat": person.id})

    async def file(self, request: web.Request) -> web.Response:
        stored = self.tg.server.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound
        name = stored.file_name or request.match_info["name"]
        mime = stored.mime_type or ("image/png" if stored.kind == "photo" else None)
        headers = {"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}"}
        return web.Response(
            body=stored.data, content_type=mime or "application/octet-stream", headers=headers
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.events.queues.add(queue)
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if payload is None:
                    break
                await response.write(f"data: {payload}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.events.queues.discard(queue)
        return response

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    def application(self) -> web.Application:
        application = web.Application()
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
            ("GET", "/", self.index),
            ("GET", "/api/world", self.world),
            ("GET", "/api/strings", self.strings),
            ("GET", "/api/chats", self.chats),
            ("GET", "/api/chats/{chat}/messages", self.messages),
            ("POST", "/api/chats/{chat}/messages", self.send),
            ("POST", "/api/chats/{chat}/press", self.press),
            ("POST", "/api/chats/{chat}/add-bot", self.add_bot),
            ("POST", "/api/open-link", self.open_link),
            ("GET", "/api/events", self.stream),
            ("GET", "/files/{file_id}/{name}", self.file),
        ]
        for method, path, handler in routes:
            application.router.add_route(method, path, handler)
        application.router.add_static("/static", STATIC)
        return application

    async def close(self) -> None:
        self.events.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
