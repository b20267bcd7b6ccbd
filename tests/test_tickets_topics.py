"""Each ticket its own topic of the mentor's private chat, where the bot has topics in private
chats: the card, the conversation and the rating of a taken ticket are there, and whatever the
mentor writes there answers it. Without topics, the chat is as it always was."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeUser
from bot.sandbox.emulator.server import FakeTelegram, Limits
from models import TicketTopic
from tests.booking_steps import book_from_ticket, request_with_hours
from tests.conftest import World
from tests.ticket_steps import ask, card, ticket

QUESTION = "Как зарегистрировать АНО в ЛНР по российскому законодательству?"
ANSWER = "Нужны устав, решение учредителя и заявление по форме Р11001."


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    """The fake Telegram, with topics in private chats on unless the test is ``without_topics``."""
    fake = FakeTelegram(limits=Limits.off())
    fake.private_topics = request.node.get_closest_marker("without_topics") is None
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _claimed(world: World, tg: TelegramClient) -> tuple[FakeChat, FakeUser, FakeUser, int]:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    lawyer = await world.mentor("Ирина", "legal")
    n = await ask(tg, olga, group, QUESTION)
    await tg.press(lawyer, card(tg, lawyer, n), "Взять")
    return group, olga, lawyer, n


async def test_a_taken_request_is_a_topic_of_the_mentors_chat(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group, olga, lawyer, n = await _claimed(world, tg)
    [(thread, title)] = tg.topics(lawyer).items()
    assert title == f"#{n} · Юридические вопросы · Ольга"
    mentor_card = card(tg, lawyer, n)
    assert mentor_card.thread_id == thread and mentor_card.buttons == ["Решено"]
    # The card the mentor pressed, outside the topic, says where the request went.
    offered = [m for m in tg.bot_messages(lawyer) if m.thread_id is None and f"#{n}" in m.content]
    assert offered and not offered[-1].buttons and "теме" in offered[-1].content
    async with db() as session:
        [stored] = (await session.execute(select(TicketTopic))).scalars().all()
    assert (stored.ticket_id, stored.thread_id) == (n, thread)

    # Written in the topic, replying to nothing: the answer to the request, in the group.
    await tg.send(lawyer, lawyer, ANSWER, topic=thread)
    answer = tg.last(group)
    assert ANSWER in answer.content and "Ирина" in answer.content
    assert answer.reply_to is not None
    assert answer.reply_to.message_id == (await ticket(db, n)).request_message_id
    assert tg.last(lawyer).thread_id == thread and "Отправлено" in tg.last(lawyer).content

    # The author's reply comes back into the topic.
    await tg.send(olga, group, "А если учредитель живёт в другом регионе?", reply_to=answer)
    question = tg.last(lawyer)
    assert "другом регионе" in question.content and question.thread_id == thread

    # A reply to the card answers too.
    await tg.send(lawyer, lawyer, "Это не мешает.", reply_to=card(tg, lawyer, n))
    assert "Это не мешает." in tg.last(group).content

    # The rating reaches the mentor in the topic.
    await tg.press(lawyer, card(tg, lawyer, n), "Решено")
    await tg.press(olga, tg.last(group), "4 ⭐")
    rated = tg.last(lawyer)
    assert "4 ⭐" in rated.content and rated.thread_id == thread
    assert len(tg.topics(lawyer)) == 1


async def test_a_topic_of_another_request_answers_that_request(
    world: World, tg: TelegramClient
) -> None:
    group, olga, lawyer, first = await _claimed(world, tg)
    second = await ask(tg, olga, group, "Нужна ли лицензия на образовательную деятельность?")
    await tg.press(lawyer, card(tg, lawyer, second), "Взять")
    threads = {title.split(" ")[0]: thread for thread, title in tg.topics(lawyer).items()}
    assert set(threads) == {f"#{first}", f"#{second}"}

    await tg.send(lawyer, lawyer, "Лицензия нужна.", topic=threads[f"#{second}"])
    assert f"#{second}" in tg.last(group).content and "Лицензия нужна." in tg.last(group).content


@pytest.mark.without_topics
async def test_without_topics_the_chat_is_as_before(
    world: World, tg: TelegramClient, server: FakeTelegram
) -> None:
    group, _olga, lawyer, n = await _claimed(world, tg)
    assert tg.topics(lawyer) == {}
    assert server.count_calls("createForumTopic") == 0
    mentor_card = card(tg, lawyer, n)
    assert mentor_card.thread_id is None and mentor_card.buttons == ["Решено"]
    await tg.send(lawyer, lawyer, ANSWER, reply_to=mentor_card)
    assert ANSWER in tg.last(group).content


async def test_a_consultation_booked_on_a_taken_request_is_in_its_topic(
    world: World, tg: TelegramClient
) -> None:
    scene = await request_with_hours(world, "Пн-Вс 10:00-12:00 1h")
    await tg.press(scene.mentor, card(tg, scene.mentor, scene.ticket), "Взять")
    [(thread, _title)] = tg.topics(scene.mentor).items()
    await book_from_ticket(tg, scene.activist, scene.ticket)
    notices = [m for m in tg.bot_messages(scene.mentor) if "К вам записались" in m.content]
    assert len(notices) == 1 and notices[0].thread_id == thread
    ics = [m for m in tg.bot_messages(scene.mentor) if m.document is not None]
    assert ics and ics[-1].thread_id == thread
