"""A mentor facing a backlog of new requests gets one summary card, not a card per request.

The bot sends a mentor one message a second, as Telegram allows in a private chat. When the
requests come faster than that, the ones a mentor would wait several seconds for are listed
on a summary card with a «Claim #N» button each, edited as more arrive; claiming from it works
as from a card, and every mentor's card or summary then says who took the request.
"""

from __future__ import annotations

import re

import pytest

from bot.app import App
from bot.config import Settings
from bot.domain.summaries import SUMMARY_SIZE
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.markup import detect_entities
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from models import TicketStatus
from tests.conftest import World
from tests.ticket_steps import ticket

NUMBER = re.compile(r"#(\d+)(?!\d)")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Telegram's own pace in a private chat: one message a second.
    return settings.model_copy(update={"rate_private_per_second": 1.0})


def summaries(tg: TelegramClient, mentor: FakeUser) -> list[FakeMessage]:
    return [m for m in tg.inbox(mentor) if m.content.startswith("📋")]


def numbers_in(message: FakeMessage) -> list[int]:
    return [int(n) for n in NUMBER.findall(message.content)]


def acknowledged(tg: TelegramClient, group: FakeChat) -> list[int]:
    return [
        int(NUMBER.findall(m.content)[0]) for m in tg.bot_messages(group) if "принят" in m.content
    ]


async def burst(
    app: App, tg: TelegramClient, author: FakeUser, group: FakeChat, count: int
) -> list[int]:
    """``count`` requests at once, as a busy hour brings them; the numbers of their tickets."""
    pending = []
    for n in range(count):
        body = f"/ask Как оформить договор аренды? #юрист вопрос {n}"
        message = tg.server.new_message(group, author, body=body, entities=detect_entities(body))
        pending.append(tg.server.enqueue({"message": message.to_api()}))
    for update in pending:
        await tg.server.wait_processed(update, timeout=60)
    await app.idle(timeout=60)
    return acknowledged(tg, group)[-count:]


async def test_a_mentor_facing_a_backlog_gets_one_summary_card(
    world: World, tg: TelegramClient, app: App
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    before = len(tg.inbox(irina))
    numbers = await burst(app, tg, olga, group, 10)

    received = tg.inbox(irina)[before:]
    [summary] = summaries(tg, irina)
    cards = [m for m in received if m is not summary]
    # The first requests still came as cards; the rest wait on the summary, not in a queue. A
    # card goes while at most three wait before it (3 s at one a second): four, or five when the
    # first one had already reached Telegram by the fifth request (on PostgreSQL the sender
    # runs between a request's statements; on a busy machine it may get there in time).
    assert 1 <= len(cards) <= 5
    on_cards = {n for card in cards for n in numbers_in(card)}
    listed = numbers_in(summary)
    assert sorted(on_cards | set(listed)) == sorted(numbers)
    assert not on_cards & set(listed)
    assert summary.buttons == [f"Взять #{n}" for n in listed]
    assert f"ждут {len(listed)}" in summary.content
    # Telegram saw the summary at most a few times: it was sent as the requests joined it.
    assert len(received) == len(cards) + 1


async def test_claiming_from_a_summary_works_as_from_a_card(
    world: World, tg: TelegramClient, app: App
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    sergey = await world.mentor("Сергей", "legal")
    await burst(app, tg, olga, group, 10)
    [on_irinas] = summaries(tg, irina)
    [on_sergeys] = summaries(tg, sergey)
    n = numbers_in(on_irinas)[-1]
    assert n in numbers_in(on_sergeys)

    answer = await tg.press(irina, on_irinas, f"Взять #{n}")
    assert answer.text == f"Запрос #{n} ваш."
    assert (await ticket(app.session_factory, n)).status == TicketStatus.claimed
    # Irina gets the whole request to answer, on a card of its own.
    claimed = tg.last(irina)
    assert claimed.content.startswith(f"✅ Вы взяли запрос #{n}") and claimed.buttons == ["Решено"]
    assert "Как оформить договор аренды?" in claimed.content
    # Both summaries say what became of it, and neither offers it any more.
    line = next(line for line in tg.message(on_irinas).content.splitlines() if f"#{n} " in line)
    assert line.endswith("ваш")
    line = next(line for line in tg.message(on_sergeys).content.splitlines() if f"#{n} " in line)
    assert line.endswith("занимается Ирина")
    assert f"Взять #{n}" not in tg.message(on_sergeys).buttons
    assert f"Вашим запросом #{n} занимается Ирина" in tg.last(group).content

    # A press on a summary seen before the change is refused like a press on a stale card.
    late = await tg.press_data(sergey, on_sergeys, f"tc:{n}")
    assert late.show_alert and "Ирина" in (late.text or "")
    assert (await ticket(app.session_factory, n)).assignee_id is not None


async def test_a_summary_card_lists_a_bounded_number_of_requests(
    world: World, tg: TelegramClient, app: App
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    numbers = await burst(app, tg, olga, group, SUMMARY_SIZE + 10)
    found = summaries(tg, irina)
    assert len(found) == 2
    assert len(numbers_in(found[0])) == SUMMARY_SIZE
    seen = {n for m in tg.inbox(irina) for n in numbers_in(m)}
    assert set(numbers) <= seen
