"""Claiming: one winner among simultaneous presses, the queue, capacity, forged buttons."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiogram.types import Update
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, build_app
from bot.sandbox.emulator.client import TelegramClient
from models import Person, Role, RoleKind, TicketEvent, TicketEventKind, TicketStatus
from tests.conftest import World
from tests.ticket_steps import all_tickets, ask, card, cards, event_kinds, ticket

ROUNDS = 50
# Updates fed straight to a dispatcher get ids far from those the fake server hands out.
_FED_IDS = itertools.count(10**9)


async def _feed(app: App, update: dict[str, Any]) -> None:
    """Hand one update to a dispatcher, as a replica behind a webhook would get it."""
    data = {**update, "update_id": next(_FED_IDS)}
    await app.dispatcher.feed_update(app.bot, Update.model_validate(data, context={"bot": app.bot}))


async def test_simultaneous_claims_have_exactly_one_winner(
    world: World, tg: TelegramClient, app: App, db: async_sessionmaker[AsyncSession]
) -> None:
    """Two mentors press «Claim» at the same moment, on two replicas sharing the database."""
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    sergey = await world.mentor("Сергей", "legal")
    async with db.begin() as session:
        # Room for every round: the point here is the race, not the capacity.
        await session.execute(update(Role).values(capacity=ROUNDS + 1))
    replica = build_app(app.settings)
    try:
        for round_number in range(ROUNDS):
            n = await ask(tg, olga, group, f"Договор аренды помещения, вопрос {round_number}")
            first = tg.callback_update(irina, card(tg, irina, n), f"tc:{n}")
            second = tg.callback_update(sergey, card(tg, sergey, n), f"tc:{n}")
            pair = (first, second) if round_number % 2 else (second, first)
            await asyncio.gather(_feed(app, pair[0]), _feed(replica, pair[1]))
            await app.idle()

            stored = await ticket(db, n)
            assert stored.status == TicketStatus.claimed
            async with db() as session:
                claims = (
                    await session.execute(
                        select(func.count()).where(
                            TicketEvent.ticket_id == n, TicketEvent.kind == TicketEventKind.claimed
                        )
                    )
                ).scalar_one()
                winner = await session.get(Person, stored.assignee_id)
            assert claims == 1, f"round {round_number}: {claims} claims"
            assert winner is not None and winner.telegram_id in (irina.id, sergey.id)
            loser = sergey if winner.telegram_id == irina.id else irina
            assert "занимается" in cards(tg, loser, n)[-1].content
    finally:
        await replica.close()
    tickets = await all_tickets(db)
    assert len(tickets) == ROUNDS
    assert {t.status for t in tickets} == {TicketStatus.claimed}


async def test_the_loser_is_told_and_the_author_hears_who_took_it(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    sergey = await world.mentor("Сергей", "legal")
    n = await ask(tg, olga, group, "Как зарегистрировать АНО?")
    late_card = card(tg, sergey, n)
    await tg.press(irina, card(tg, irina, n), "Взять")
    assert f"Вашим запросом #{n} занимается Ирина" in tg.last(group).content
    assert tg.message(late_card).content.startswith(f"Запросом #{n}")
    assert (
        "занимается Ирина" in tg.message(late_card).content and tg.message(late_card).buttons == []
    )
    await tg.press_data(sergey, late_card, f"tc:{n}")
    assert "уже занимается Ирина" in (tg.last_answer(sergey).text or "")
    assert (await ticket(db, n)).assignee_id is not None
    assert await event_kinds(db, n) == [
        TicketEventKind.created,
        TicketEventKind.topic_set,
        TicketEventKind.claimed,
    ]


async def test_the_queue_and_who_may_claim_from_it(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    anna = await world.mentor("Анна", "grants")
    first = await ask(tg, olga, group, "Как зарегистрировать АНО?")
    second = await ask(tg, olga, group, "Какой договор аренды заключить?")
    await ask(tg, olga, group, "Где найти фонд для заявки на грант?")

    await tg.send(irina, irina, "/queue")
    queue = tg.last(irina)
    assert (
        f"#{first}" in queue.content
        and f"#{second}" in queue.content
        and "фонд" not in queue.content
    )
    await tg.press(irina, queue, f"Взять #{second}")
    assert (await ticket(db, second)).status == TicketStatus.claimed
    assert card(tg, irina, second).buttons == ["Решено"]

    # A grants mentor pressing a forged claim on a legal request is refused.
    await tg.press_data(anna, queue, f"tc:{first}")
    assert "только наставник по теме" in (tg.last_answer(anna).text or "")
    assert (await ticket(db, first)).status == TicketStatus.open

    # Over capacity: the mentor must resolve something first.
    async with db.begin() as session:
        await session.execute(update(Role).where(Role.kind == RoleKind.mentor).values(capacity=1))
    await tg.press_data(irina, queue, f"tc:{first}")
    assert "ваш предел — 1" in (tg.last_answer(irina).text or "")
    assert (await ticket(db, first)).status == TicketStatus.open

    await tg.send(olga, olga, "/queue")
    assert "для наставников" in tg.last(olga).content


async def test_forged_buttons_change_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    petr = tg.user("Пётр")
    group = await world.registered_group(members=(olga, petr))
    irina = await world.mentor("Ирина", "legal")
    mine = await ask(tg, olga, group, "Как зарегистрировать АНО?")
    ack = tg.last(group)
    theirs = await ask(tg, petr, group, "Нужен договор с волонтёрами?")
    await tg.press(irina, card(tg, irina, mine), "Взять")
    before = [(t.id, t.status, t.assignee_id, t.topic_id, t.rating) for t in await all_tickets(db)]

    forged = [
        (olga, ack, f"tt:{theirs}:2"),  # another ticket's id on the author's own topic buttons
        (olga, ack, f"ts:{mine}:5"),  # rating a ticket that is not resolved
        (petr, ack, f"tr:{mine}"),  # resolving someone else's ticket
        (olga, ack, f"tm:{mine}:explode"),  # a made-up action
        (olga, ack, f"tm:{theirs}:cancel_yes"),  # cancelling another person's ticket
        (petr, ack, f"ta:{mine}:1"),  # an activist reassigning
        (olga, ack, "tc:999999"),  # a ticket that does not exist
        (olga, ack, "tc:abc"),  # not even a number
        (olga, ack, "th:1:x:y"),
    ]
    for who, message, data in forged:
        await tg.press_data(who, message, data)
        answer = tg.last_answer(who)
        assert answer.show_alert, (data, answer)
    after = [(t.id, t.status, t.assignee_id, t.topic_id, t.rating) for t in await all_tickets(db)]
    assert after == before
