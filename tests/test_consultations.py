"""``/consultations``: a coordinator's week of consultations, as text, a PNG and one ``.ics``."""

from __future__ import annotations

import io
from datetime import date, datetime

import icalendar
import pytest
from PIL import Image

from bot.domain.consultations import parse_week
from bot.domain.errors import InvalidInput
from bot.sandbox.emulator.models import FakeMessage
from tests.conftest import World
from tests.ticket_steps import ask

BOOKED = (0xD5, 0x5E, 0x00)
FREE = (0x00, 0x9E, 0x73)


def test_which_week() -> None:
    wednesday = date(2026, 12, 2)
    assert parse_week("", wednesday) == date(2026, 11, 30)
    assert parse_week("next", wednesday) == date(2026, 12, 7)
    assert parse_week("следующая", wednesday) == date(2026, 12, 7)
    assert parse_week("27.02.2027", wednesday) == date(2027, 2, 22)
    assert parse_week("03.12", wednesday) == date(2026, 11, 30)
    for text in ("31.02", "soon", "2027-02-27", "1.2.3.4"):
        with pytest.raises(InvalidInput):
            parse_week(text, wednesday)


def _colours(png: bytes) -> set[tuple[int, int, int]]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    found = image.getcolors(maxcolors=image.width * image.height) or []
    return {tuple(colour)[:3] for _count, colour in found if isinstance(colour, tuple)}  # type: ignore[misc]


async def test_a_coordinator_sees_the_week_of_consultations(world: World) -> None:
    tg = world.tg
    activist = tg.user("Активистка", started=True)
    group = await world.registered_group(members=(activist,))
    coordinator = await world.coordinator("Координатор")
    busy = await world.mentor("Анна Наставница")
    other = await world.mentor("Борис Наставник")
    await tg.send(busy, busy, "/tz Asia/Omsk")
    await tg.send(busy, busy, "/hours Пн 18:00-20:00")
    await tg.send(other, other, "/hours Вт 10:00-11:00")
    n = await ask(tg, activist, group, "Как подать заявку на грант? #юрист")
    await tg.send(activist, activist, f"/ticket {n}")
    await tg.press(activist, tg.last(activist), "Записаться на консультацию")
    days = tg.last(activist)
    booked_day = days.buttons[0].split()[1]  # "Пн 07.12" -> "07.12"
    await tg.press(activist, days, days.buttons[0])
    await tg.press(activist, tg.message(days), "15:00")
    assert "✅ Записано" in tg.message(days).text

    mark = len(tg.inbox(coordinator))
    await tg.send(coordinator, coordinator, f"/consultations {booked_day}")
    sent: list[FakeMessage] = tg.inbox(coordinator)[mark:]
    text, picture, calendar = sent[-3:]
    assert "Консультации, неделя" in text.text and "время — МСК" in text.text
    assert "15:00 #" in text.text and f"Консультация по запросу #{n}" in text.text
    assert "Анна Наставница: записано 1, свободно 3" in text.text
    assert "Борис Наставник: записано 0, свободно 2" in text.text  # 10:00 and 10:30

    assert picture.photo and picture.file_bytes is not None
    image = Image.open(io.BytesIO(picture.file_bytes))
    assert image.format == "PNG"
    assert image.size == (1440, round((1.6 + 0.55 * 2) * 160))  # one row per mentor
    assert {BOOKED, FREE} <= _colours(picture.file_bytes)

    assert calendar.document is not None and calendar.file_bytes is not None
    parsed = icalendar.Calendar.from_ical(calendar.file_bytes)
    events = list(parsed.walk("VEVENT"))
    assert [str(e["summary"]) for e in events] == [f"Консультация по запросу #{n}"]
    starts = events[0].decoded("dtstart")
    assert isinstance(starts, datetime) and starts.hour == 12  # 15:00 in Moscow, in UTC


async def test_consultations_refuse_bad_input_and_people_without_the_role(world: World) -> None:
    tg = world.tg
    await world.registered_group()
    coordinator = await world.coordinator("Координатор")
    await tg.send(coordinator, coordinator, "/consultations послезавтра")
    assert "Не понимаю «послезавтра»" in tg.last(coordinator).text
    assert len([m for m in tg.inbox(coordinator) if m.photo]) == 0
    activist = tg.user("Активист", started=True)
    await tg.send(activist, activist, "/consultations")
    assert "для координаторов программы" in tg.last(activist).text
