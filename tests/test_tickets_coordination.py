"""Coordinators steer tickets (reassign, cancel, topic, lists); the SLA job alerts once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.jobs.sla import SlaReport, check_tickets
from bot.sandbox.emulator.client import TelegramClient
from models import Person, TicketEventKind, TicketStatus
from tests.conftest import World
from tests.ticket_steps import ask, card, cards, event_kinds, ticket


async def test_a_coordinator_reassigns_changes_topic_and_cancels(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Наталья")
    irina = await world.mentor("Ирина", "legal")
    sergey = await world.mentor("Сергей", "legal grants")
    n = await ask(tg, olga, group, "Какой договор заключить с администрацией?")
    await tg.press(irina, card(tg, irina, n), "Взять")

    await tg.send(coordinator, coordinator, f"/assign {n}")
    choice = tg.last(coordinator)
    assert "Сергей (0/5)" in choice.buttons and not any("Ирина" in b for b in choice.buttons)
    await tg.press(coordinator, choice, "Сергей (0/5)")
    stored = await ticket(db, n)
    async with db() as session:
        sergey_row = await session.get(Person, stored.assignee_id)
    assert sergey_row is not None and sergey_row.telegram_id == sergey.id
    assert card(tg, sergey, n).buttons == ["Решено"]
    assert "передан наставнику" in tg.last(irina).content
    assert "теперь у наставника Сергей" in tg.last(group).content

    # The old assignee can no longer answer through the bot.
    await tg.send(irina, irina, f"/reply {n} Мой ответ")
    assert "может только наставник, который его взял" in tg.last(irina).content

    await tg.send(coordinator, coordinator, f"/ticket {n}")
    view = tg.last(coordinator)
    assert {"Назначить", "Тема", "Отменить запрос"} <= set(view.buttons)
    await tg.press(coordinator, view, "Тема")
    await tg.press(coordinator, tg.message(view), "Гранты и конкурсы")
    stored = await ticket(db, n)
    assert stored.assignee_id == sergey_row.id  # a new topic keeps the mentor

    await tg.send(coordinator, coordinator, f"/ticket {n}")
    view = tg.last(coordinator)
    await tg.press(coordinator, view, "Отменить запрос")
    await tg.press(coordinator, tg.message(view), f"Да, отменить #{n}")
    assert (await ticket(db, n)).status == TicketStatus.cancelled
    assert "отменён (Наталья)" in tg.last(group).content
    assert "отменён (Наталья)" in tg.last(sergey).content
    assert await event_kinds(db, n) == [
        TicketEventKind.created,
        TicketEventKind.topic_set,
        TicketEventKind.claimed,
        TicketEventKind.reassigned,
        TicketEventKind.topic_set,
        TicketEventKind.cancelled,
    ]


async def test_activists_and_mentors_cannot_steer(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    n = await ask(tg, olga, group, "Как зарегистрировать АНО?")
    for person in (olga, irina):
        await tg.send(person, person, f"/assign {n}")
        assert "только координатор" in tg.last(person).content
        await tg.send(person, person, "/tickets")
        assert "для координаторов" in tg.last(person).content
    # The author may withdraw her own request.
    await tg.send(olga, olga, f"/ticket {n}")
    view = tg.last(olga)
    assert "Назначить" not in view.buttons
    await tg.press(olga, view, "Отменить запрос")
    await tg.press(olga, tg.message(view), f"Да, отменить #{n}")
    assert (await ticket(db, n)).status == TicketStatus.cancelled
    assert "больше вас не ждёт" in cards(tg, irina, n)[-1].content


async def test_lists_filter_and_paginate(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Наталья")
    # Mentors with room: a guessed topic stands (without them the author would be asked).
    await world.mentor("Ирина", "legal")
    await world.mentor("Пётр", "grants")
    numbers = [await ask(tg, olga, group, f"Договор аренды, вопрос {i}") for i in range(12)]
    await ask(tg, olga, group, "Где найти фонд для заявки на грант?")

    await tg.send(olga, olga, "/my")
    mine = tg.last(olga)
    assert "Ваши запросы: 13" in mine.content and "Страница 1 из 2" in mine.content
    await tg.press(olga, mine, "Дальше »")
    assert (
        f"#{numbers[0]} " in tg.message(mine).content
        and "Страница 2 из 2" in tg.message(mine).content
    )

    await tg.send(coordinator, coordinator, "/tickets открытые legal")
    listed = tg.last(coordinator)
    assert "Запросы: 12" in listed.content and "фонд" not in listed.content
    await tg.send(coordinator, coordinator, "/tickets grants")
    assert "Запросы: 1" in tg.last(coordinator).content
    await tg.send(coordinator, coordinator, "/tickets решённые")
    assert "Таких запросов нет" in tg.last(coordinator).content
    await tg.send(coordinator, coordinator, "/tickets астрология")
    assert "Не понимаю «астрология»" in tg.last(coordinator).content
    # A forged page of the coordinators' list, pressed by an activist, is refused.
    await tg.press_data(olga, mine, "tl:all:0::0")
    assert tg.last_answer(olga).show_alert


async def test_sla_alerts_coordinators_once_and_reminds_the_mentor(
    world: World, tg: TelegramClient, app: App, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Наталья")
    irina = await world.mentor("Ирина", "grants")
    waiting = await ask(tg, olga, group, "Как зарегистрировать АНО?")  # no legal mentor at all
    taken = await ask(tg, olga, group, "Где найти фонд для заявки на грант?")
    await tg.press(irina, card(tg, irina, taken), "Взять")

    async def check(after: timedelta) -> SlaReport:
        moment = datetime.now(UTC) + after
        report = await check_tickets(
            app.session_factory, app.sender, app.i18n, app.settings, moment
        )
        await app.idle()
        return report

    assert await check(timedelta(minutes=10)) == SlaReport()
    past_claim_sla = app.settings.claim_sla + timedelta(minutes=1)
    assert await check(past_claim_sla) == SlaReport(unclaimed=1)
    alerts = [m for m in tg.messages(coordinator) if "⏰" in m.content]
    assert (
        len(alerts) == 1
        and f"#{waiting}" in alerts[0].content
        and f"/assign {waiting}" in alerts[0].content
    )
    # The next runs do not repeat it.
    assert await check(past_claim_sla) == SlaReport()

    past_answer_sla = app.settings.answer_sla + timedelta(minutes=1)
    assert (await check(past_answer_sla)).unanswered == 1
    assert (
        f"На запрос #{taken}" in tg.last(irina).content and "нет ответа" in tg.last(irina).content
    )
    assert (await check(past_answer_sla)).unanswered == 0
    assert len([m for m in tg.messages(coordinator) if "⏰" in m.content]) == 1
