"""People on the Telegram side: they write, press buttons, add the bot to groups, read replies.

Every action becomes the update Telegram would send and waits until the bot has handled it, so
a test (or the sandbox's seeding) reads the bot's answers right after the call.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from bot.sandbox.emulator.markup import detect_entities
from bot.sandbox.emulator.models import (
    CallbackAnswer,
    CallbackQueryRecord,
    FakeChat,
    FakeMessage,
    FakeUser,
)
from bot.sandbox.emulator.server import FakeTelegram

# The smallest valid PNG: what a person's photo carries when a test does not care.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

ChatLike = FakeChat | FakeUser


class TelegramClient:
    """Acts as the people of a test, through the fake server."""

    def __init__(self, server: FakeTelegram) -> None:
        self.server = server
        self._user_ids = itertools.count(100_001)
        self._group_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._answers: dict[int, list[CallbackQueryRecord]] = {}
        self.timeout = 15.0

    @property
    def bot(self) -> FakeUser:
        return self.server.bot

    # -- the cast -----------------------------------------------------------------------------

    def user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        language: str | None = "ru",
        started: bool = False,
        last_name: str | None = None,
    ) -> FakeUser:
        """A new Telegram account; ``started`` if the person has already opened the bot."""
        person = FakeUser(
            id=next(self._user_ids),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language,
            started=started,
        )
        return self.server.add_user(person)

    def group(
        self,
        title: str,
        *,
        members: tuple[FakeUser, ...] = (),
        admins: tuple[FakeUser, ...] = (),
        supergroup: bool = False,
    ) -> FakeChat:
        """A group (the bot not in it yet); the first admin is its creator."""
        number = next(self._group_ids)
        chat_id = -(10**12 + 1000 + number) if supergroup else -(5000 + number)
        chat = FakeChat(id=chat_id, type="supergroup" if supergroup else "group", title=title)
        for person in members:
            chat.members[person.id] = "member"
        for index, person in enumerate(admins):
            chat.members[person.id] = "creator" if index == 0 else "administrator"
        return self.server.add_chat(chat)

    def chat_of(self, where: ChatLike) -> FakeChat:
        return self.server.private_chat(where) if isinstance(where, FakeUser) else where

    # -- delivering updates -------------------------------------------------------------------

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand one update to the bot and wait until it has been handled."""
        pending = self.server.enqueue(update)
        await self.server.wait_processed(pending, self.timeout)

    async def redeliver(self) -> None:
        """Telegram sends the last update again (its answer was lost): same update id."""
        pending = self.server.redeliver()
        await self.server.wait_processed(pending, self.timeout)

    async def _deliver_message(self, message: FakeMessage, *, edited: bool = False) -> None:
        if self.server.visible_to_bot(message):
            key = "edited_message" if edited else "message"
            await self.deliver({key: message.to_api()})

    # -- people write -------------------------------------------------------------------------

    def _posting(self, user: FakeUser, where: ChatLike) -> FakeChat:
        chat = self.chat_of(where)
        if chat.is_private:
            assert chat.user is user, f"{user} cannot write in {user}'s private chat with {chat}"
            # Writing to the bot opens the conversation (and unblocks it).
            user.started = True
            user.blocked = False
        else:
            assert chat.migrated_to is None, f"{chat} was upgraded to {chat.migrated_to}"
            chat.members.setdefault(user.id, "member")
        return chat

    def _reply(self, chat: FakeChat, reply_to: FakeMessage | None) -> FakeMessage | None:
        if reply_to is None:
            return None
        assert reply_to.chat is chat, f"{reply_to} is not in {chat}"
        return reply_to

    async def send(
        self,
        user: FakeUser,
        where: ChatLike,
        text: str,
        *,
        reply_to: FakeMessage | None = None,
        topic: int | None = None,
    ) -> FakeMessage:
        """``user`` writes ``text`` in a group or in private (``where`` is the person); with
        ``topic``, in that topic of their private chat with the bot."""
        chat = self._posting(user, where)
        thread_id, replied = self._in_topic(chat, topic, self._reply(chat, reply_to))
        message = self.server.new_message(
            chat,
            user,
            body=text,
            entities=detect_entities(text),
            reply_to=replied,
            thread_id=thread_id,
        )
        await self._deliver_message(message)
        return message

    def _in_topic(
        self, chat: FakeChat, topic: int | None, reply_to: FakeMessage | None
    ) -> tuple[int | None, FakeMessage | None]:
        if topic is None:
            return (reply_to.thread_id if reply_to is not None else None), reply_to
        assert topic in chat.topics, f"{chat} has no topic {topic}: {chat.topics}"
        return self.server.topic_of(chat, {"message_thread_id": topic}, reply_to)

    def topics(self, user: FakeUser) -> dict[int, str]:
        """The topics of the person's private chat with the bot: thread id -> name."""
        return {thread: topic["name"] for thread, topic in self.chat_of(user).topics.items()}

    def in_topic(self, user: FakeUser, topic: int) -> list[FakeMessage]:
        """The messages in one topic of the person's private chat with the bot, oldest first."""
        return [m for m in self.messages(user) if m.thread_id == topic]

    async def start(self, user: FakeUser, payload: str | None = None) -> FakeMessage:
        """The person opens the bot, by a deep link when ``payload`` is given."""
        return await self.send(user, user, f"/start {payload}" if payload else "/start")

    async def send_photo(
        self,
        user: FakeUser,
        where: ChatLike,
        *,
        caption: str | None = None,
        reply_to: FakeMessage | None = None,
        data: bytes = TINY_PNG,
    ) -> FakeMessage:
        chat = self._posting(user, where)
        stored = self.server.store_file("photo", data)
        message = self.server.new_message(
            chat,
            user,
            caption=caption,
            caption_entities=detect_entities(caption) if caption else [],
            photo=list(stored.photo_sizes),
            file_bytes=data,
            reply_to=self._reply(chat, reply_to),
        )
        await self._deliver_message(message)
        return message

    async def send_document(
        self,
        user: FakeUser,
        where: ChatLike,
        file_name: str,
        data: bytes,
        *,
        caption: str | None = None,
        reply_to: FakeMessage | None = None,
        mime_type: str | None = None,
    ) -> FakeMessage:
        chat = self._posting(user, where)
        stored = self.server.store_file("document", data, file_name=file_name, mime_type=mime_type)
        message = self.server.new_message(
            chat,
            user,
            caption=caption,
            caption_entities=detect_entities(caption) if caption else [],
            document=stored.document_api(),
            file_bytes=data,
            reply_to=self._reply(chat, reply_to),
        )
        await self._deliver_message(message)
        return message

    async def edit(self, user: FakeUser, message: FakeMessage, text: str) -> FakeMessage:
        """The author edits a message they sent."""
        assert message.from_user is user, f"{user} cannot edit {message}"
        if message.body is not None:
            message.body = text
            message.entities = detect_entities(text)
        else:
            message.caption = text
            message.caption_entities = detect_entities(text)
        message.edited = True
        message.edit_date = int(time.time())
        self.server.changed(message)
        await self._deliver_message(message, edited=True)
        return message

    # -- buttons ------------------------------------------------------------------------------

    def callback_update(self, user: FakeUser, message: FakeMessage, data: str) -> dict[str, Any]:
        """The update a button press makes, not yet delivered (for feeding it elsewhere)."""
        query_id = f"{next(self._callback_ids)}{secrets.randbelow(10**6):06d}"
        record = CallbackQueryRecord(id=query_id, user=user, message=message, data=data)
        self.server.callbacks[query_id] = record
        self._answers.setdefault(user.id, []).append(record)
        return {
            "update_id": self.server.next_update_id(),
            "callback_query": {
                "id": query_id,
                "from": user.to_api(),
                "message": message.to_api(),
                "chat_instance": str(abs(message.chat.id)),
                "data": data,
            },
        }

    async def press(self, user: FakeUser, message: FakeMessage, button_text: str) -> CallbackAnswer:
        """Press the button labelled ``button_text`` (exact, or the only one containing it)."""
        current = self.message(message)
        assert not current.deleted, f"{current} was deleted"
        return await self.press_data(user, current, current.callback_data(button_text))

    async def press_data(self, user: FakeUser, message: FakeMessage, data: str) -> CallbackAnswer:
        """Send a callback query with any data, as a modified client could."""
        await self.deliver(self.callback_update(user, message, data))
        return self.last_answer(user)

    def last_answer(self, user: FakeUser) -> CallbackAnswer:
        """What the bot answered to the person's last button press (an empty one if nothing)."""
        records = self._answers.get(user.id)
        assert records, f"{user} pressed no button"
        return records[-1].answer or CallbackAnswer()

    # -- groups -------------------------------------------------------------------------------

    def _service(self, chat: FakeChat, by: FakeUser, **fields: Any) -> FakeMessage:
        return self.server.new_message(chat, by, **fields)

    async def add_bot_to(self, chat: FakeChat, *, by: FakeUser, as_admin: bool = False) -> None:
        """``by`` adds the bot: Telegram sends my_chat_member, then the service message."""
        old = chat.bot_status
        chat.bot_status = "administrator" if as_admin else "member"
        chat.members.setdefault(by.id, "member")
        await self.deliver(
            {
                "my_chat_member": {
                    "chat": chat.to_api(),
                    "from": by.to_api(),
                    "date": int(time.time()),
                    "old_chat_member": self.server.member_api(chat, self.bot, old),
                    "new_chat_member": self.server.member_api(chat, self.bot, chat.bot_status),
                }
            }
        )
        if chat.bot_is_in:  # the bot may have left at once
            message = self._service(chat, by, new_chat_members=[self.bot])
            await self._deliver_message(message)

    async def remove_bot_from(self, chat: FakeChat, *, by: FakeUser) -> None:
        old = chat.bot_status
        chat.bot_status = "kicked"
        await self.deliver(
            {
                "my_chat_member": {
                    "chat": chat.to_api(),
                    "from": by.to_api(),
                    "date": int(time.time()),
                    "old_chat_member": self.server.member_api(chat, self.bot, old),
                    "new_chat_member": self.server.member_api(chat, self.bot, "kicked"),
                }
            }
        )

    async def migrate_to_supergroup(self, chat: FakeChat) -> FakeChat:
        """Telegram upgrades a basic group: a new chat id, and a service message in each chat."""
        assert chat.type == "group", f"{chat} is not a basic group"
        new = FakeChat(
            id=-(10**12) + chat.id,
            type="supergroup",
            title=chat.title,
            members=dict(chat.members),
            bot_status=chat.bot_status,
        )
        self.server.add_chat(new)
        owner_id = next(
            (user_id for user_id, status in chat.members.items() if status == "creator"),
            next(iter(chat.members), self.bot.id),
        )
        owner = self.server.users[owner_id]
        old_message = self._service(chat, owner, migrate_to_chat_id=new.id)
        new_message = self._service(new, owner, migrate_from_chat_id=chat.id)
        chat.migrated_to = new.id
        await self._deliver_message(old_message)
        await self._deliver_message(new_message)
        return new

    # -- reading ------------------------------------------------------------------------------

    def messages(self, where: ChatLike) -> list[FakeMessage]:
        """Every message in the chat still there, oldest first (the bot's and people's)."""
        return [m for m in self.server.history[self.chat_of(where).id] if not m.deleted]

    def seen_by(self, user: FakeUser, where: ChatLike) -> list[FakeMessage]:
        """What ``user`` sees in the chat: every message but the ephemeral ones for others."""
        return [m for m in self.messages(where) if m.visible_to(user)]

    def bot_messages(self, where: ChatLike) -> list[FakeMessage]:
        return [m for m in self.messages(where) if m.by_bot]

    def inbox(self, user: FakeUser) -> list[FakeMessage]:
        """What the bot wrote to the person in private."""
        return self.bot_messages(user)

    def last(self, where: ChatLike) -> FakeMessage:
        """The bot's latest message in the chat."""
        sent = self.bot_messages(where)
        assert sent, f"the bot wrote nothing in {self.chat_of(where)}"
        return sent[-1]

    def message(self, message: FakeMessage) -> FakeMessage:
        """The message as it is now (after edits); the server keeps one object per message."""
        found = self.server.find_message(message.chat.id, message.message_id)
        return found if found is not None else message

    def mark(self) -> int:
        """A point in time to read the bot's messages since (see ``bot_messages_since``)."""
        return max(
            (m.seq for messages in self.server.history.values() for m in messages), default=0
        )

    def bot_messages_since(self, mark: int) -> list[FakeMessage]:
        found = [
            m
            for messages in self.server.history.values()
            for m in messages
            if m.by_bot and m.seq > mark and not m.deleted
        ]
        return sorted(found, key=lambda m: m.seq)
