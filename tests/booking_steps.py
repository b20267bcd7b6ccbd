"""Steps the booking tests share: a request with a mentor who has office hours, and booking
one of the offered times through the buttons, as an activist does."""

from __future__ import annotations

from dataclasses import dataclass

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from tests.conftest import World
from tests.ticket_steps import ask

BOOK = "Записаться на консультацию"


@dataclass
class Scene:
    activist: FakeUser
    group: FakeChat
    mentor: FakeUser
    ticket: int


async def request_with_hours(
    world: World, hours: str, *, mentor_zone: str | None = None, question: str = "Вопрос #юрист"
) -> Scene:
    """An activist's request in a registered group; a mentor of its topic with ``hours``."""
    tg = world.tg
    activist = tg.user("Активистка", started=True)
    group = await world.registered_group(members=(activist,))
    mentor = await world.mentor("Наставница")
    if mentor_zone is not None:
        await tg.send(mentor, mentor, f"/tz {mentor_zone}")
    await tg.send(mentor, mentor, f"/hours {hours}")
    return Scene(activist, group, mentor, await ask(tg, activist, group, question))


async def book_from_ticket(
    tg: TelegramClient, activist: FakeUser, ticket: int, *, day: int = 0, time: str | None = None
) -> FakeMessage:
    """From ``/ticket N``: the ``day``-th day offered, then ``time`` (else the first time);
    returns the picker message, which ends up saying what was booked."""
    await tg.send(activist, activist, f"/ticket {ticket}")
    await tg.press(activist, tg.last(activist), BOOK)
    picker = tg.last(activist)
    await tg.press(activist, picker, picker.buttons[day])
    times = tg.message(picker)
    await tg.press(activist, times, time or times.buttons[0])
    return tg.message(picker)
