"""Requests become tickets: /ask, mentions, replies and captions in groups; the private dialogue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.server import FakeTelegram
from models import DeliveryFailure, Person, Role, TicketEventKind, TicketStatus, Topic
from tests.conftest import World
from tests.ticket_steps import all_tickets, ask, card, cards, event_kinds, number_in, ticket

QUESTION = "Как зарегистрировать АНО в ЛНР по российскому законодательству?"


async def _topic_code(db: async_sessionmaker[AsyncSession], topic_id: int | None) -> str | None:
    async with db() as session:
        topic = await session.get(Topic, topic_id) if topic_id else None
        return topic.code if topic else None


async def test_ask_in_a_group_makes_a_legal_ticket_and_only_legal_mentors_get_cards(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    lawyer = await world.mentor("Ирина", "legal")
    grants = await world.mentor("Анна", "grants")

    request = await tg.send(olga, group, f"/ask {QUESTION}")
    ack = tg.last(group)
    n = number_in(ack.content)
    assert f"Запрос #{n} принят" in ack.content and "Юридические вопросы" in ack.content
    assert "ответит здесь" in ack.content  # what happens next
    assert ack.reply_to is not None and ack.reply_to.message_id == request.message_id

    legal_card = card(tg, lawyer, n)
    assert QUESTION in legal_card.content and "Ольга" in legal_card.content
    assert legal_card.buttons == ["Взять"]
    assert cards(tg, grants, n) == []

    stored = await ticket(db, n)
    assert stored.status == TicketStatus.open
    assert stored.text == QUESTION
    assert await _topic_code(db, stored.topic_id) == "legal"
    assert (stored.chat_telegram_id, stored.request_message_id) == (group.id, request.message_id)


async def test_the_same_in_english(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    john = tg.user("John", language="en")
    group = await world.registered_group(members=(john,))
    lawyer = await world.mentor("Irina", "legal", language="en")
    await world.mentor("Anna", "grants", language="en")
    await tg.send(john, group, "/ask How do we register an NGO under Russian law?")
    ack = tg.last(group)
    n = number_in(ack.content)
    assert f"Request #{n} accepted. Topic: Legal matters." in ack.content
    assert card(tg, lawyer, n).buttons == ["Claim"]
    assert await _topic_code(db, (await ticket(db, n)).topic_id) == "legal"


async def test_a_hashtag_chooses_the_topic_without_asking(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    n = await ask(tg, olga, group, "Как зарегистрировать АНО? #гранты")
    ack = tg.last(group)
    assert "Гранты и конкурсы" in ack.content and ack.buttons == []
    stored = await ticket(db, n)
    assert stored.topic_confirmed
    assert await _topic_code(db, stored.topic_id) == "grants"


async def test_the_author_changes_a_suggested_topic_and_the_cards_follow(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    petr = tg.user("Пётр")
    group = await world.registered_group(members=(olga, petr))
    lawyer = await world.mentor("Ирина", "legal")
    fundraiser = await world.mentor("Анна", "grants")
    n = await ask(tg, olga, group, "Нужен совет по уставу нашей АНО")
    ack = tg.last(group)
    assert "✅ Юридические вопросы" in ack.buttons

    # Somebody else in the group cannot change it.
    await tg.press(petr, ack, "Гранты и конкурсы")
    assert "только его автор" in (tg.last_answer(petr).text or "")
    assert await _topic_code(db, (await ticket(db, n)).topic_id) == "legal"

    await tg.press(olga, ack, "Гранты и конкурсы")
    assert await _topic_code(db, (await ticket(db, n)).topic_id) == "grants"
    assert "Гранты и конкурсы" in tg.message(ack).content and tg.message(ack).buttons == []
    assert "больше вас не ждёт" in cards(tg, lawyer, n)[-1].content
    assert card(tg, fundraiser, n).buttons == ["Взять"]
    assert TicketEventKind.topic_set in await event_kinds(db, n)


async def test_mentions_replies_and_captions_are_requests_too(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    doctor = await world.mentor("Марина", "rehabilitation")

    await tg.send(olga, group, f"@{tg.bot.username} где взять коляску для бабушки после инсульта?")
    mention = await ticket(db, number_in(tg.last(group).content))
    assert mention.text == "где взять коляску для бабушки после инсульта?"

    await tg.send(olga, group, "/ask")
    prompt = tg.last(group)
    assert "/ask" in prompt.content
    await tg.send(
        olga, group, "Нужна реабилитация после перелома, куда обратиться?", reply_to=prompt
    )
    replied = await ticket(db, number_in(tg.last(group).content))
    assert replied.text == "Нужна реабилитация после перелома, куда обратиться?"

    photo = await tg.send_photo(olga, group, caption="/ask Вот выписка МСЭ, что делать дальше?")
    with_photo = await ticket(db, number_in(tg.last(group).content))
    assert with_photo.text == "Вот выписка МСЭ, что делать дальше?"
    assert [a.kind for a in with_photo.attachments] == ["photo"]
    assert with_photo.request_message_id == photo.message_id
    assert "📎" in card(tg, doctor, with_photo.id).content


async def test_bad_requests_get_an_answer_and_no_ticket(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/ask    ")
    assert "сразу после команды" in tg.last(group).content
    await tg.send(olga, group, "/ask " + "очень длинный вопрос " * 200)
    assert "Слишком длинно" in tg.last(group).content

    stranger = tg.user("Незнакомка", started=True)
    await tg.send(stranger, stranger, "/new")
    assert "не участвуете ни в одной программе" in tg.last(stranger).content

    other = tg.group("Чужая группа", members=(world.admin, olga), admins=(world.admin,))
    await tg.add_bot_to(other, by=world.admin)
    await tg.send(olga, other, "/ask Как зарегистрировать АНО?")
    assert "не зарегистрирована" in tg.last(other).content
    await tg.send(olga, other, f"@{tg.bot.username} Как зарегистрировать АНО?")
    assert "не зарегистрирована" in tg.last(other).content

    # A person whose role in the programme was withdrawn is outside it.
    async with db.begin() as session:
        await session.execute(
            update(Role)
            .where(Role.person_id.in_(select(Person.id).where(Person.telegram_id == olga.id)))
            .values(active=False)
        )
    await tg.send(olga, group, "/ask Как зарегистрировать АНО?")
    assert "только участники программы" in tg.last(group).content
    assert await all_tickets(db) == []


async def test_the_same_update_twice_makes_one_ticket(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    lawyer = await world.mentor("Ирина", "legal")
    await tg.send(olga, group, f"/ask {QUESTION}")
    await tg.redeliver()
    tickets = await all_tickets(db)
    assert len(tickets) == 1
    assert len([m for m in tg.messages(group) if "принят" in m.content]) == 1
    assert len(cards(tg, lawyer, tickets[0].id)) == 1


async def test_editing_the_request_updates_the_ticket_and_the_card(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    lawyer = await world.mentor("Ирина", "legal")
    request = await tg.send(olga, group, "/ask Как зарегистрировать АНО?")
    n = number_in(tg.last(group).content)
    await tg.edit(olga, request, "/ask Как зарегистрировать АНО, если учредитель один?")
    stored = await ticket(db, n)
    assert stored.text == "Как зарегистрировать АНО, если учредитель один?"
    assert await event_kinds(db, n) == [
        TicketEventKind.created,
        TicketEventKind.topic_set,
        TicketEventKind.edited,
    ]
    assert "учредитель один" in card(tg, lawyer, n).content


async def test_a_private_request_step_by_step(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/topics")  # writing in the group makes her one of its activists
    fundraiser = await world.mentor("Анна", "grants")

    await tg.send(olga, olga, "/new")
    await tg.press(olga, tg.last(olga), "Гранты и конкурсы")
    assert "одним сообщением" in tg.last(olga).content
    request = await tg.send(olga, olga, "Можно ли заложить в смету гранта аренду помещения?")
    confirm = tg.last(olga)
    assert "смету гранта" in confirm.content and "Гранты и конкурсы" in confirm.content
    await tg.press(olga, confirm, "Отправить")
    n = number_in(tg.message(confirm).content)
    stored = await ticket(db, n)
    assert (stored.chat_telegram_id, stored.request_message_id) == (olga.id, request.message_id)
    assert stored.group_id is None
    assert card(tg, fundraiser, n).buttons == ["Взять"]


async def test_the_private_dialogue_can_be_cancelled_at_any_step(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/topics")
    await tg.send(olga, olga, "/new")
    await tg.press(olga, tg.last(olga), "Отмена")
    assert "ничего не отправлено" in tg.last(olga).content
    await tg.send(olga, olga, "/ask Как написать устав?")
    await tg.press(olga, tg.last(olga), "Юридические вопросы")
    await tg.send(olga, olga, "/cancel")
    assert "ничего не отправлено" in tg.last(olga).content
    assert await all_tickets(db) == []


async def test_a_mentor_who_never_started_the_bot_does_not_break_intake(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Наталья")
    silent = await world.mentor("Сергей", "legal", started=False)
    lawyer = await world.mentor("Ирина", "legal")

    first = await ask(tg, olga, group, "Как зарегистрировать АНО?")
    second = await ask(tg, olga, group, "Какой договор аренды заключить с администрацией?")
    assert card(tg, lawyer, first) and card(tg, lawyer, second)
    alerts = [m for m in tg.messages(coordinator) if "Не могу написать наставнику" in m.content]
    assert len(alerts) == 1 and "Сергей" in alerts[0].content
    async with db() as session:
        failures = (await session.execute(select(DeliveryFailure))).scalars().all()
    assert {f.chat_telegram_id for f in failures} == {silent.id}


async def test_a_ticket_is_stored_before_anyone_hears_of_it(
    world: World, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    """When the bot says "accepted" (or sends a card), another connection already sees it."""
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await world.mentor("Ирина", "legal")
    seen: list[tuple[str, int]] = []

    async def committed_tickets(method: str, params: dict[str, Any]) -> None:
        text = str(params.get("text") or "")
        if method in ("sendMessage", "editMessageText") and ("принят" in text or "#" in text):
            seen.append((method, len(await all_tickets(db))))

    server.observers.append(committed_tickets)
    await tg.send(olga, group, f"/ask {QUESTION}")
    await tg.send(olga, olga, "/new")
    await tg.press(olga, tg.last(olga), "Юридические вопросы")
    await tg.send(olga, olga, "Нужен образец устава АНО")
    await tg.press(olga, tg.last(olga), "Отправить")
    # A card to the mentor and the acknowledgement, for each of the two tickets (the chats
    # are served side by side, so the two messages of a ticket may come in either order).
    assert sorted(seen) == [
        ("editMessageText", 2),
        ("sendMessage", 1),
        ("sendMessage", 1),
        ("sendMessage", 2),
    ]
    assert "#2" in tg.last(olga).content
