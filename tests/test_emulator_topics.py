"""Topics in a private chat with the bot (Bot API 9.3), as the fake Telegram keeps them: getMe
tells whether the bot has them, createForumTopic opens one or is refused as Telegram refuses it,
and messages sent or written into a topic carry its thread id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeUser
from bot.sandbox.emulator.server import FakeTelegram

pytestmark = pytest.mark.no_database


@pytest.fixture
async def bot(server: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    bot = Bot(server.token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
def person(tg: TelegramClient) -> FakeUser:
    return tg.user("Оксана", started=True)


async def test_get_me_says_whether_the_bot_has_topics(server: FakeTelegram, bot: Bot) -> None:
    assert (await bot.get_me()).has_topics_enabled is False
    server.private_topics = True
    me = await bot.get_me()
    assert me.has_topics_enabled is True
    assert me.allows_users_to_create_topics is False


async def test_without_topics_a_private_chat_is_not_a_forum(
    bot: Bot, person: FakeUser, tg: TelegramClient
) -> None:
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(person.id, "#1")
    assert tg.topics(person) == {}


async def test_a_topic_holds_the_bots_messages_and_the_persons(
    server: FakeTelegram, bot: Bot, person: FakeUser, tg: TelegramClient
) -> None:
    server.private_topics = True
    topic = await bot.create_forum_topic(person.id, "#1 · Право · Оксана")
    assert topic.name == "#1 · Право · Оксана"
    assert topic.icon_color == 7322096
    assert tg.topics(person) == {topic.message_thread_id: "#1 · Право · Оксана"}

    sent = await bot.send_message(person.id, "Карточка", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == topic.message_thread_id
    assert sent.is_topic_message is True
    # A reply to a message in the topic stays in it without naming it.
    reply = await bot.send_message(person.id, "Ответ", reply_to_message_id=sent.message_id)
    assert reply.message_thread_id == topic.message_thread_id

    writing = asyncio.create_task(tg.send(person, person, "Вопрос", topic=topic.message_thread_id))
    [update] = await bot.get_updates(timeout=5)
    await bot.get_updates(offset=update.update_id + 1, timeout=0)  # taken: the send returns
    await writing
    message = update.message
    assert message is not None
    assert message.message_thread_id == topic.message_thread_id
    assert message.is_topic_message is True
    # Not a reply of the person's: the topic's opening message, as in a forum.
    assert message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None
    assert message.reply_to_message.forum_topic_created.name == topic.name
    texts = [m.content for m in tg.in_topic(person, topic.message_thread_id)]
    assert texts == ["", "Карточка", "Ответ", "Вопрос"]
    # The rest of the chat is not in the topic.
    outside = await bot.send_message(person.id, "Вне темы")
    assert outside.message_thread_id is None


async def test_an_unknown_topic_is_refused(
    server: FakeTelegram, bot: Bot, person: FakeUser
) -> None:
    server.private_topics = True
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(person.id, "Куда?", message_thread_id=999)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.close_forum_topic(person.id, 999)


async def test_a_topic_name_is_one_to_128_characters(
    server: FakeTelegram, bot: Bot, person: FakeUser
) -> None:
    server.private_topics = True
    with pytest.raises(TelegramBadRequest, match="TOPIC_TITLE_EMPTY"):
        await bot.create_forum_topic(person.id, " ")
    with pytest.raises(TelegramBadRequest, match="TOPIC_TITLE_TOO_LONG"):
        await bot.create_forum_topic(person.id, "я" * 129)
    topic = await bot.create_forum_topic(person.id, "я" * 128)
    assert await bot.edit_forum_topic(person.id, topic.message_thread_id, name="#2")
    assert await bot.close_forum_topic(person.id, topic.message_thread_id)
