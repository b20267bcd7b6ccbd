"""The fake Telegram's ephemeral messages (Bot API 10.2) and reactions (7.0), as aiogram's Bot
meets them: shown to their receiver alone, changed by receiver and ephemeral id, refused where
Telegram refuses them; a reaction only from Telegram's own set, one at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import EphemeralMessageParameters, ReactionTypeEmoji

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeUser
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
def people(tg: TelegramClient) -> tuple[FakeUser, FakeUser, FakeUser]:
    return tg.user("Оксана"), tg.user("Дмитрий"), tg.user("Посторонний")


@pytest.fixture
def group(tg: TelegramClient, people: tuple[FakeUser, FakeUser, FakeUser]) -> FakeChat:
    author, neighbour, _stranger = people
    chat = tg.group("Луганская группа", members=(author, neighbour))
    chat.bot_status = "member"
    return chat


def only_for(user: FakeUser) -> EphemeralMessageParameters:
    return EphemeralMessageParameters(receiver_user_id=user.id)


async def test_an_ephemeral_message_is_seen_by_its_receiver_alone(
    bot: Bot, tg: TelegramClient, group: FakeChat, people: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    author, neighbour, _stranger = people
    sent = await bot.send_message(
        group.id, "Запрос #1 принят", ephemeral_message_parameters=only_for(author)
    )
    assert sent.message_id == 0 and sent.ephemeral_message_id is not None
    assert sent.receiver_user is not None and sent.receiver_user.id == author.id
    assert [m.text for m in tg.seen_by(author, group)] == ["Запрос #1 принят"]
    assert tg.seen_by(neighbour, group) == []

    await bot.edit_ephemeral_message_text(
        chat_id=group.id, receiver_user_id=author.id,
        ephemeral_message_id=sent.ephemeral_message_id, text="Запрос #1: тема — Гранты",
    )  # fmt: skip
    assert [m.text for m in tg.seen_by(author, group)] == ["Запрос #1: тема — Гранты"]
    with pytest.raises(TelegramBadRequest, match="ephemeral message not found"):
        await bot.edit_ephemeral_message_text(
            chat_id=group.id, receiver_user_id=neighbour.id,
            ephemeral_message_id=sent.ephemeral_message_id, text="чужое",
        )  # fmt: skip
    await bot.delete_ephemeral_message(
        chat_id=group.id, receiver_user_id=author.id, ephemeral_message_id=sent.ephemeral_message_id
    )
    assert tg.seen_by(author, group) == []


async def test_ephemeral_messages_are_refused_where_telegram_refuses_them(
    bot: Bot, tg: TelegramClient, group: FakeChat, people: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    author, _neighbour, stranger = people
    author.started = True
    with pytest.raises(TelegramBadRequest, match="only to group"):
        await bot.send_message(author.id, "x", ephemeral_message_parameters=only_for(author))
    tg.chat_of(author)  # the private chat exists, and still nothing was sent in it
    with pytest.raises(TelegramBadRequest, match="RECEIVER_INVALID"):
        await bot.send_message(group.id, "x", ephemeral_message_parameters=only_for(stranger))
    assert tg.bot_messages(group) == [] and tg.bot_messages(author) == []


async def test_a_reaction_comes_from_telegrams_set_one_at_a_time(
    bot: Bot, tg: TelegramClient, group: FakeChat, people: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    author, _neighbour, _stranger = people
    request = tg.server.new_message(group, author, body="Где найти деньги на ремонт?")
    await bot.set_message_reaction(group.id, request.message_id, [ReactionTypeEmoji(emoji="👀")])
    assert tg.message(request).reactions == ["👀"]
    await bot.set_message_reaction(group.id, request.message_id, [ReactionTypeEmoji(emoji="✍")])
    assert tg.message(request).reactions == ["✍"]
    for refused in ("✅", "📌", "hello"):
        with pytest.raises(TelegramBadRequest, match="REACTION_INVALID"):
            await bot.set_message_reaction(
                group.id, request.message_id, [ReactionTypeEmoji(emoji=refused)]
            )
    with pytest.raises(TelegramBadRequest, match="REACTIONS_TOO_MANY"):
        await bot.set_message_reaction(
            group.id, request.message_id,
            [ReactionTypeEmoji(emoji="👀"), ReactionTypeEmoji(emoji="👌")],
        )  # fmt: skip
    with pytest.raises(TelegramBadRequest, match="message to react not found"):
        await bot.set_message_reaction(group.id, 9999, [ReactionTypeEmoji(emoji="👌")])
    assert tg.message(request).reactions == ["✍"]  # nothing refused changed it
    await bot.set_message_reaction(group.id, request.message_id, [])
    assert tg.message(request).reactions == []
