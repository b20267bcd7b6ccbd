"""Consent first: a person's first request in a programme waits for their answer to the
programme's notice and reaches no mentor until then; «Не даю» leaves its text nowhere; a health
topic asks explicit consent once; coordinators set the operator and the notice (/privacy)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from models import AuditAction, AuditEntry, Base, Consent, ConsentKind, HeldRequest, Programme
from tests.conftest import World
from tests.ticket_steps import all_tickets, ask, card, cards, number_in, ticket

YES, NO = "Даю согласие", "Не даю"
QUESTION = "Как зарегистрировать АНО в ЛНР? #юрист"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ask_consent": True})


async def asked(tg: TelegramClient, author: FakeUser, group: FakeChat, text: str) -> FakeMessage:
    """Post ``/ask text``; the bot's answer is the question of consent, to the author alone."""
    await tg.send(author, group, f"/ask {text}")
    notice = tg.last(group)
    assert notice.buttons == [YES, NO], notice.content
    assert notice.receiver is author
    return notice


async def test_the_first_request_waits_for_consent_then_goes_as_if_just_sent(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    lawyer = await world.mentor("Ирина", "legal")
    before = len(tg.messages(lawyer))
    seen_before = len([m for m in tg.seen_by(neighbour, group) if m.by_bot])

    notice = await asked(tg, author, group, QUESTION)
    assert "Ваши данные" in notice.content and "/forget" in notice.content
    assert len(tg.messages(lawyer)) == before  # no card
    assert await all_tickets(db) == []
    assert len([m for m in tg.seen_by(neighbour, group) if m.by_bot]) == seen_before

    # Another member may not answer for the author.
    refused = await tg.press(neighbour, notice, YES)
    assert refused.show_alert and "Ольга" in (refused.text or "")
    assert await all_tickets(db) == [] and len(tg.messages(lawyer)) == before

    await tg.press(author, notice, YES)
    assert "согласие записано" in tg.message(notice).content
    ack = tg.last(group)
    assert "принят" in ack.content and ack.receiver is None  # the group hears replies
    n = number_in(ack.content)
    request = next(m for m in tg.messages(group) if m.from_user is author)
    assert ack.reply_to is not None and ack.reply_to.message_id == request.message_id
    assert card(tg, lawyer, n).buttons == ["Взять"]
    assert "АНО" in card(tg, lawyer, n).content

    async with db() as session:
        given = list((await session.execute(select(Consent))).scalars())
        assert [(c.kind, c.given, c.notice_version) for c in given] == [
            (ConsentKind.general, True, 1)
        ]
        assert list((await session.execute(select(HeldRequest))).scalars()) == []

    # Asked once: the next request goes straight on.
    second = await ask(tg, author, group, "А устав нужен нотариальный? #юрист")
    assert second == n + 1


def _readable(value: object) -> str:
    """A cell as text, JSON (an inbox payload, outbox parameters) with its letters unescaped."""
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), ensure_ascii=False)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, default=str)


async def _rows_with(db: async_sessionmaker[AsyncSession], words: str) -> list[str]:
    """Every table's rows that hold ``words`` anywhere (the inbox's payloads included)."""
    found: list[str] = []
    async with db() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            found.extend(
                f"{table.name}: {row}"
                for row in rows
                if any(words in _readable(value) for value in row)
            )
    return found


async def test_no_consent_keeps_no_text(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    lawyer = await world.mentor("Ирина", "legal")
    before = len(tg.messages(lawyer))
    words = "Жужелица ксилофонного пергамента"
    notice = await asked(tg, author, group, f"{words} #юрист")
    assert await _rows_with(db, "Жужелица")  # the request waits in the inbox

    yes = notice.callback_data(YES)
    await tg.press(author, notice, NO)
    assert "не сохранён" in tg.message(notice).content
    assert await _rows_with(db, "Жужелица") == []
    assert await _rows_with(db, "пергамента") == []
    assert await all_tickets(db) == [] and len(tg.messages(lawyer)) == before
    async with db() as session:
        answers = list((await session.execute(select(Consent))).scalars())
        assert [(c.kind, c.given) for c in answers] == [(ConsentKind.general, False)]
        assert list((await session.execute(select(HeldRequest))).scalars()) == []

    # The other button, pressed from an old screen, finds nothing waiting.
    again = await tg.press_data(author, tg.message(notice), yes)
    assert again.show_alert and "уже ответили" in (again.text or "")
    assert await all_tickets(db) == []


async def test_a_health_request_asks_explicit_consent_once(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    rehab = await world.mentor("Вера", "rehabilitation")
    before = len(tg.messages(rehab))

    notice = await asked(tg, author, group, "Где пройти реабилитацию после инсульта? #реабилитация")
    await tg.press(author, notice, YES)
    health = tg.last(group)
    assert health.buttons == [YES, NO] and "здоровь" in health.content
    assert health.receiver is author
    assert len(tg.messages(rehab)) == before and await all_tickets(db) == []

    await tg.press(author, health, YES)
    n = number_in(tg.last(group).content)
    assert card(tg, rehab, n).buttons == ["Взять"]

    # Asked once per person and programme.
    second = await ask(tg, author, group, "А массажиста на дом как найти? #реабилитация")
    assert card(tg, rehab, second).buttons == ["Взять"]
    async with db() as session:
        kinds = [c.kind for c in (await session.execute(select(Consent))).scalars()]
    assert kinds == [ConsentKind.general, ConsentKind.health]


async def test_in_a_quiet_group_the_notice_and_the_answer_are_the_authors(
    world: World, tg: TelegramClient, admin: FakeUser
) -> None:
    author, neighbour = tg.user("Ольга"), tg.user("Сосед")
    group = await world.registered_group(members=(author, neighbour))
    await world.mentor("Ирина", "legal")
    await tg.send(admin, admin, "/replies quiet")
    before = len([m for m in tg.seen_by(neighbour, group) if m.by_bot])
    notice = await asked(tg, author, group, QUESTION)
    await tg.press(author, notice, YES)
    ack = tg.last(group)
    assert "принят" in ack.content and ack.receiver is author
    assert len([m for m in tg.seen_by(neighbour, group) if m.by_bot]) == before


async def test_a_private_request_asks_consent_before_the_topic(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/topics")  # writing in the group makes her one of its activists
    fundraiser = await world.mentor("Анна", "grants")

    await tg.send(olga, olga, "/ask Можно ли заложить в смету гранта аренду помещения?")
    notice = tg.last(olga)
    assert notice.buttons == [YES, NO] and "Ваши данные" in notice.content
    await tg.press(olga, notice, YES)
    await tg.press(olga, tg.last(olga), "Гранты и конкурсы")
    confirm = tg.last(olga)
    await tg.press(olga, confirm, "Отправить")
    n = number_in(tg.message(confirm).content)
    assert card(tg, fundraiser, n).buttons == ["Взять"]

    # Refused in private: the dialogue ends and its text is kept nowhere.
    words = "Трапецеидальный ксилофон"
    await tg.send(world.admin, world.admin, "/privacy operator АНО «Свет»")  # asked again
    await tg.send(olga, olga, f"/ask {words} для гранта")
    notice = tg.last(olga)
    assert notice.buttons == [YES, NO]
    await tg.press(olga, notice, NO)
    assert "не сохранён" in tg.message(notice).content
    assert await _rows_with(db, "Трапецеидальный") == []
    assert len(await all_tickets(db)) == 1


async def test_a_coordinator_sets_the_operator_and_the_notice(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    await world.mentor("Ирина", "legal")
    coordinator = await world.coordinator("Наталья")
    notice = await asked(tg, author, group, QUESTION)
    assert "координаторы" in notice.content
    await tg.press(author, notice, YES)

    await tg.send(coordinator, coordinator, "/privacy")
    shown = tg.last(coordinator).content
    assert "версия 1" in shown and "Реабилитация" in shown and "/privacy operator" in shown
    assert "пока человек не попросит их удалить" in shown  # no RETENTION: kept until /forget

    await tg.send(coordinator, coordinator, "/privacy operator АНО «Свет»")
    assert "АНО «Свет»" in tg.last(coordinator).content
    assert "версия 2" in tg.last(coordinator).content
    # The notice changed: whoever consented to the old one is asked again.
    renewed = await asked(tg, author, group, "Второй вопрос про устав #юрист")
    assert "АНО «Свет»" in renewed.content
    await tg.press(author, renewed, YES)
    assert "принят" in tg.last(group).content

    await tg.send(coordinator, coordinator, "/privacy notice Мы храним только то, что нужно.")
    assert "версия 3" in tg.last(coordinator).content
    custom = await asked(tg, author, group, "Третий вопрос #юрист")
    assert "Мы храним только то, что нужно." in custom.content
    assert "АНО «Свет»" in custom.content

    # Bad input: the usage, and nothing changes.
    for bad in ("/privacy нечто", "/privacy operator", "/privacy health xyz on",
                "/privacy health legal maybe", "/privacy default now"):  # fmt: skip
        await tg.send(coordinator, coordinator, bad)
        assert "/privacy operator" in tg.last(coordinator).content, bad
    async with db() as session:
        programme = (await session.execute(select(Programme))).scalar_one()
        assert programme.notice_version == 3
        changes = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.action == AuditAction.privacy_changed)
            )
        ).scalars()
        assert [e.details["change"] for e in changes] == ["operator", "notice"]

    await tg.send(coordinator, coordinator, "/privacy default")
    assert "версия 4" in tg.last(coordinator).content
    await tg.send(world.admin, world.admin, "/audit")
    assert "новое уведомление «" in tg.last(world.admin).content

    activist = tg.user("Пётр", started=True)
    await tg.send(activist, activist, "/privacy")
    assert "координатор" in tg.last(activist).content


async def test_a_coordinator_marks_a_health_topic(
    world: World, tg: TelegramClient, admin: FakeUser
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    await world.mentor("Ирина", "legal")
    await tg.send(admin, admin, "/privacy health legal on")
    assert "Юридические" in tg.last(admin).content
    notice = await asked(tg, author, group, QUESTION)
    await tg.press(author, notice, YES)
    assert tg.last(group).buttons == [YES, NO]  # the legal topic now asks about health


async def test_a_mentor_accepting_an_invitation_reads_the_notice(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    lawyer = await world.mentor("Ирина", "legal")
    notice = tg.last(lawyer)
    assert notice.buttons == [YES, NO] and "Ваши данные" in notice.content
    await tg.press(lawyer, notice, YES)
    assert "согласие записано" in tg.message(notice).content
    async with db() as session:
        answers = list((await session.execute(select(Consent))).scalars())
    assert [(c.kind, c.given, c.notice_version) for c in answers] == [
        (ConsentKind.general, True, 1)
    ]
    assert cards(tg, lawyer, 1) == []


async def test_choosing_a_health_topic_for_a_vague_request_asks_health_consent_first(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    rehab = await world.mentor("Вера", "rehabilitation")
    notice = await asked(tg, author, group, "Подскажите, пожалуйста, что делать?")
    await tg.press(author, notice, YES)
    ack = tg.last(group)
    n = number_in(ack.content)
    before = len(tg.messages(rehab))

    chosen = await tg.press(author, ack, "Реабилитация")
    assert chosen.show_alert and "здоровь" in (chosen.text or "")
    health = tg.last(group)
    assert health.buttons == [YES, NO] and health.receiver is author
    assert len(tg.messages(rehab)) == before  # no card before the health consent
    assert (await ticket(db, n)).topic_id is None

    await tg.press(author, health, YES)
    await tg.press(author, tg.message(ack), "Реабилитация")
    assert card(tg, rehab, n).buttons == ["Взять"]
