"""The consultation through the bot: relays both ways, history, resolution, rating, reopening."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeUser
from models import Ticket, TicketEventKind, TicketStatus
from tests.conftest import World
from tests.ticket_steps import ask, card, event_kinds, number_in, ticket

QUESTION = "Как зарегистрировать АНО в ЛНР по российскому законодательству?"
ANSWER = "Нужны устав, решение учредителя и заявление по форме Р11001. Подробнее — в личке."


async def _claimed(
    world: World, tg: TelegramClient, *, language: str = "ru"
) -> tuple[FakeChat, FakeUser, FakeUser, int]:
    olga = tg.user("Ольга", language=language)
    group = await world.registered_group(members=(olga,))
    lawyer = await world.mentor("Ирина", "legal", language=language)
    n = await ask(tg, olga, group, QUESTION)
    await tg.press(lawyer, card(tg, lawyer, n), "Взять" if language == "ru" else "Claim")
    return group, olga, lawyer, n


async def test_answers_and_questions_travel_through_the_bot(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group, olga, lawyer, n = await _claimed(world, tg)
    assert "занимается Ирина" in tg.last(group).content
    mentor_card = card(tg, lawyer, n)
    assert mentor_card.buttons == ["Решено"]

    await tg.send(lawyer, lawyer, ANSWER, reply_to=mentor_card)
    answer = tg.last(group)
    assert ANSWER in answer.content and "Ирина" in answer.content
    stored = await ticket(db, n)
    assert answer.reply_to is not None
    assert answer.reply_to.message_id == stored.request_message_id
    assert stored.first_answer_at is not None

    await tg.send(olga, group, "А если учредитель живёт в другом регионе?", reply_to=answer)
    question = tg.last(lawyer)
    assert "учредитель живёт в другом регионе" in question.content and "Ольга" in question.content

    await tg.send(lawyer, lawyer, f"/reply {n} Это не мешает, подаёте по месту нахождения АНО.")
    assert "по месту нахождения" in tg.last(group).content

    await tg.send(olga, olga, f"/ticket {n}")
    history = tg.last(olga).content
    assert (
        ANSWER[:40] in history and "другом регионе" in history and "по месту нахождения" in history
    )
    await tg.send(lawyer, lawyer, f"/ticket {n}")
    assert "другом регионе" in tg.last(lawyer).content

    stranger = tg.user("Пётр", started=True)
    await tg.send(stranger, group, "/topics")  # an activist of the same group
    await tg.send(stranger, stranger, f"/ticket {n}")
    refusal = tg.last(stranger).content
    assert "видят только" in refusal and ANSWER[:20] not in refusal
    assert await event_kinds(db, n) == [
        TicketEventKind.created,
        TicketEventKind.topic_set,
        TicketEventKind.claimed,
        TicketEventKind.mentor_message,
        TicketEventKind.author_message,
        TicketEventKind.mentor_message,
    ]


async def test_the_conversation_in_english(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group, olga, lawyer, n = await _claimed(world, tg, language="en")
    await tg.send(
        lawyer, lawyer, "You need a charter and a founder's decision.", reply_to=card(tg, lawyer, n)
    )
    answer = tg.last(group)
    assert "mentor, on" in answer.content and "charter" in answer.content
    await tg.send(olga, group, "Thank you! And the fee?", reply_to=answer)
    assert "author, on" in tg.last(lawyer).content
    await tg.send(olga, olga, f"/ticket {n}")
    assert "(mentor): You need a charter" in tg.last(olga).content


async def test_resolve_rate_comment_and_reopen(
    world: World,
    tg: TelegramClient,
    app: App,
    db: async_sessionmaker[AsyncSession],
) -> None:
    group, olga, lawyer, n = await _claimed(world, tg)
    await tg.send(lawyer, lawyer, ANSWER, reply_to=card(tg, lawyer, n))
    answer = tg.last(group)
    await tg.press(lawyer, card(tg, lawyer, n), "Решено")
    prompt = tg.last(group)
    assert "Насколько помог ответ" in prompt.content and len(prompt.buttons) == 5
    assert (await ticket(db, n)).status == TicketStatus.resolved

    await tg.press(olga, prompt, "4 ⭐")
    stored = await ticket(db, n)
    assert (stored.status, stored.rating) == (TicketStatus.resolved, 4)
    assert "4 ⭐" in tg.last(lawyer).content
    await tg.send(olga, group, "Всё понятно, спасибо!", reply_to=prompt)
    assert (await ticket(db, n)).rating_comment == "Всё понятно, спасибо!"

    await tg.send(olga, group, "Ой, а госпошлину платить?", reply_to=answer)
    stored = await ticket(db, n)
    assert stored.status == TicketStatus.claimed
    assert "открыт снова" in tg.last(lawyer).content
    assert TicketEventKind.reopened in await event_kinds(db, n)

    await tg.press(lawyer, card(tg, lawyer, n), "Решено")
    # Past the reopen window a reply is answered, and changes nothing.
    resolved_at = (await ticket(db, n)).resolved_at
    assert resolved_at is not None
    long_ago = resolved_at - app.settings.reopen_window - timedelta(hours=1)
    async with db.begin() as session:
        await session.execute(update(Ticket).where(Ticket.id == n).values(resolved_at=long_ago))
    await tg.send(olga, group, "И ещё вопрос", reply_to=answer)
    assert "запрос закрыт" in tg.last(group).content
    assert (await ticket(db, n)).status == TicketStatus.resolved


async def test_a_private_request_and_files_travel_both_ways(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/topics")  # writing in the group makes her one of its activists
    doctor = await world.mentor("Марина", "rehabilitation")
    await tg.send(olga, olga, "/ask Где взять коляску для мамы после инсульта?")
    await tg.press(olga, tg.last(olga), "Реабилитация и здоровье")
    await tg.press(olga, tg.last(olga), "Отправить")
    n = number_in(tg.last(olga).content)
    await tg.press(doctor, card(tg, doctor, n), "Взять")
    assert "занимается Марина" in tg.last(olga).content

    await tg.send_document(
        doctor, doctor, "prokat.pdf", b"%PDF-1.4", caption="Список пунктов проката",
        reply_to=card(tg, doctor, n),
    )  # fmt: skip
    relayed = tg.last(olga)
    assert relayed.document is not None and relayed.document["file_name"] == "prokat.pdf"
    assert "Марина" in (relayed.caption or "")

    await tg.send_photo(olga, olga, caption="Вот такая нужна?", reply_to=relayed)
    forwarded = [m for m in tg.messages(doctor) if m.photo]
    assert len(forwarded) == 1 and "Ольга" in (forwarded[0].caption or "")
    stored = await ticket(db, n)
    assert sorted(a.kind for a in stored.attachments) == ["document", "photo"]
    await tg.send(olga, olga, f"/ticket {n}")
    history = tg.last(olga).content
    assert "Список пунктов проката" in history and "Вот такая нужна?" in history
