"""A quiet group: what concerns one person reaches that person alone (ephemeral messages), the
request shows its state as a reaction, and everyone reads only the mentor's answers. The same
consultation in a programme switched to visible replies posts today's messages for all."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from models import TicketStatus
from tests.conftest import World
from tests.ticket_steps import ask, card, ticket

QUESTION = "Как зарегистрировать АНО в ЛНР? #юрист"
FIRST = "Нужны устав, решение учредителя и заявление по форме Р11001."
SECOND = "Госпошлина не нужна при подаче через МФЦ."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"group_replies": "quiet"})


async def consultation(
    world: World, tg: TelegramClient, author: FakeUser, group: FakeChat
) -> tuple[int, FakeUser, FakeMessage]:
    """Request with a hashtag, claim, two answers, the author's reply, resolve, a rating of 5
    and a comment: the consultation of the issue. Returns the number, the mentor and the
    request message."""
    lawyer = await world.mentor("Ирина", "legal")
    n = await ask(tg, author, group, QUESTION)
    request = next(m for m in tg.messages(group) if m.from_user is author)
    mentor_card = card(tg, lawyer, n)
    await tg.press(lawyer, mentor_card, mentor_card.buttons[0])  # claim
    await tg.send(lawyer, lawyer, FIRST, reply_to=card(tg, lawyer, n))
    await tg.send(lawyer, lawyer, SECOND, reply_to=card(tg, lawyer, n))
    first = next(m for m in tg.bot_messages(group) if FIRST in m.content)
    await tg.send(author, group, "А если учредитель в другом регионе?", reply_to=first)
    assert "другом регионе" in tg.last(lawyer).content
    resolved = card(tg, lawyer, n)
    await tg.press(lawyer, resolved, resolved.buttons[0])  # resolve
    return n, lawyer, request


async def test_everyone_reads_only_the_answers_and_the_author_the_rest(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    await tg.start(author)  # the author has a private chat with the bot
    before = len(tg.bot_messages(group))
    n, _lawyer, request = await consultation(world, tg, author, group)

    # The rating is asked in the author's private chat, where a comment is a reply.
    prompt = tg.last(author)
    assert len(prompt.buttons) == 5
    await tg.press(author, prompt, prompt.buttons[4])
    await tg.send(author, author, "Всё понятно, спасибо!", reply_to=tg.message(prompt))
    stored = await ticket(db, n)
    assert (stored.status, stored.rating) == (TicketStatus.resolved, 5)
    assert stored.rating_comment == "Всё понятно, спасибо!"

    news = tg.bot_messages(group)[before:]
    for_all = [m for m in news if m.receiver is None]
    assert [m.content for m in for_all] == [
        next(m.content for m in news if FIRST in m.content),
        next(m.content for m in news if SECOND in m.content),
    ]
    seen = [m for m in tg.seen_by(neighbour, group) if m.by_bot][before:]
    assert seen == for_all
    # Everything else in the group was the author's alone: the acknowledgement, the claim.
    alone = [m for m in news if m.receiver is not None]
    assert alone and all(m.receiver is author for m in alone)
    assert any(f"#{n}" in m.content for m in alone)
    # The request shows its state to everyone.
    assert tg.message(request).reactions == ["👌"]


async def test_a_request_without_a_hashtag_adds_nothing_for_everyone(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    await world.mentor("Ирина", "legal")
    before = len(tg.bot_messages(group))
    n = await ask(tg, author, group, "Подскажите, как оформить договор аренды помещения?")
    ack = tg.last(group)
    assert ack.receiver is author and len(ack.buttons) > 1  # the topics to choose from
    assert [m for m in tg.seen_by(neighbour, group) if m.by_bot][before:] == []
    request = next(m for m in tg.messages(group) if m.from_user is author)
    assert tg.message(request).reactions == ["👀"]

    legal = next(b for b in ack.buttons if "Юрид" in b)
    await tg.press(author, ack, legal)
    changed = tg.message(ack)
    assert changed.edited and "Юрид" in changed.content and changed.receiver is author
    stored = await ticket(db, n)
    assert stored.topic_confirmed


async def test_refusals_and_format_help_go_to_the_person_alone(
    world: World, tg: TelegramClient
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    before = len(tg.bot_messages(group))
    await tg.send(author, group, "/ask")
    help_text = tg.last(group)
    assert help_text.receiver is author and "/ask" in help_text.content
    coordinator = await world.coordinator("Наталья")
    group.members[coordinator.id] = "member"
    await tg.send(coordinator, group, "/schedule 31.02 25:00 x")
    problem = tg.last(group)
    assert problem.receiver is coordinator and "/schedule" in problem.content
    await tg.send(author, group, "/meetings")
    assert tg.last(group).receiver is author
    # Help and the list of topics are for the one who asked, too.
    await tg.send(author, group, "/help")
    assert tg.last(group).receiver is author and "/ask" in tg.last(group).content
    await tg.send(author, group, "/topics")
    assert tg.last(group).receiver is author and "#юрист" in tg.last(group).content
    await tg.send(author, group, "/stats")  # a command of the private chat
    assert tg.last(group).receiver is author
    assert [m for m in tg.seen_by(neighbour, group) if m.by_bot][before:] == []


async def test_a_coordinator_switches_the_programme_to_visible_replies(
    world: World, tg: TelegramClient, admin: FakeUser
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    await world.mentor("Ирина", "legal")
    await tg.send(admin, admin, "/replies")
    assert "тихо" in tg.last(admin).content.lower() or "quiet" in tg.last(admin).content.lower()
    await tg.send(admin, admin, "/replies visible")
    before = len(tg.bot_messages(group))
    await ask(tg, author, group, QUESTION)
    shown = [m for m in tg.seen_by(neighbour, group) if m.by_bot][before:]
    assert len(shown) == 1 and shown[0].receiver is None  # the acknowledgement, for all
    request = [m for m in tg.messages(group) if m.from_user is author][-1]
    assert tg.message(request).reactions == []

    await tg.send(admin, admin, "/replies нечто")
    assert "/replies" in tg.last(admin).content  # usage, nothing changed
    await tg.send(admin, admin, "/replies quiet")
    await ask(tg, author, group, "Второй вопрос про устав #юрист")
    assert tg.last(group).receiver is author


async def test_an_activist_may_not_switch_the_replies(world: World, tg: TelegramClient) -> None:
    author = tg.user("Ольга", started=True)
    await world.registered_group(members=(author,))
    await tg.send(author, author, "/replies visible")
    assert "координатор" in tg.last(author).content.lower()


async def test_the_same_consultation_with_visible_replies_posts_for_everyone(
    world: World, tg: TelegramClient, admin: FakeUser
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    await tg.send(admin, admin, "/replies visible")
    before = len(tg.bot_messages(group))
    _n, _lawyer, request = await consultation(world, tg, author, group)
    prompt = tg.last(group)
    assert len(prompt.buttons) == 5  # the rating request, in the group for all
    await tg.press(author, prompt, prompt.buttons[4])
    await tg.send(author, group, "Всё понятно, спасибо!", reply_to=tg.message(prompt))
    seen = [m for m in tg.seen_by(neighbour, group) if m.by_bot][before:]
    # The acknowledgement, "taken", two answers, the rating request, the thanks for the
    # comment: every one for the whole group, as before quiet groups; no reaction.
    assert len(seen) == 6 and all(m.receiver is None for m in seen), seen
    assert tg.message(request).reactions == []


async def test_a_rating_not_given_in_the_group_is_asked_again_in_private(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")  # no private chat with the bot yet
    group = await world.registered_group(members=(author, neighbour))
    n, _lawyer, _request = await consultation(world, tg, author, group)
    in_group = tg.last(group)
    assert in_group.receiver is author and len(in_group.buttons) == 5  # for the author alone
    # The author never saw it (offline): once they open the bot, it asks here.
    await tg.start(author)
    asked = [m for m in tg.inbox(author) if len(m.buttons) == 5]
    assert len(asked) == 1 and f"#{n}" in asked[0].content
    await tg.press(author, asked[0], asked[0].buttons[3])
    await tg.send(author, author, "Спасибо за помощь", reply_to=tg.message(asked[0]))
    stored = await ticket(db, n)
    assert (stored.rating, stored.rating_comment) == (4, "Спасибо за помощь")
    # Rated: a later /start asks nothing more.
    seen = len(tg.inbox(author))
    await tg.send(author, author, "/start")
    assert not [m for m in tg.inbox(author)[seen:] if len(m.buttons) == 5]
