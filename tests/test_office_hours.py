"""A mentor's office hours: the parser, the slots they give in other zones, and ``/hours``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.office_hours import (
    DaysOff,
    HoursError,
    Problem,
    Stretch,
    WeeklyHours,
    parse_days_off,
    parse_hours,
    slots,
)
from models import OfficeHours, OfficeHoursOff
from tests.conftest import World

OMSK = ZoneInfo("Asia/Omsk")
MOSCOW = ZoneInfo("Europe/Moscow")
WARSAW = ZoneInfo("Europe/Warsaw")
TODAY = date(2026, 12, 1)


def test_the_forms_a_mentor_types() -> None:
    hours = parse_hours("Пн 18:00-20:00, Чт 10:00-12:00")
    assert hours == WeeklyHours(
        (Stretch(0, time(18), time(20)), Stretch(3, time(10), time(12))), timedelta(minutes=30)
    )
    assert parse_hours("Mon 18:00-20:00, Thu 10:00-12:00") == hours
    assert parse_hours("пн 18.00 – 20.00; ЧТ 10-12") == hours
    week = parse_hours("Mon-Fri 9-11 45m")
    assert [s.weekday for s in week.stretches] == [0, 1, 2, 3, 4]
    assert week.slot == timedelta(minutes=45)
    assert parse_hours("Sob 22:00-24:00, 1h").stretches == (Stretch(5, time(22), time.max),)
    # Polish calendars' short names: pn wt śr cz pt sb nd.
    polish = parse_hours("pn 9-10, wt 9-10, śr 9-10, cz 9-10, pt 9-10, sb 9-10, nd 9-10")
    assert [s.weekday for s in polish.stretches] == [0, 1, 2, 3, 4, 5, 6]
    across_the_weekend = parse_hours("Пт-Пн 10-11").stretches
    assert [s.weekday for s in across_the_weekend] == [0, 4, 5, 6]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem.empty),
        ("45m", Problem.empty),
        ("Xx 10:00-12:00", Problem.unknown_weekday),
        ("Пн-Хз 10:00-12:00", Problem.unknown_weekday),
        ("Пн 12:00-10:00", Problem.inverted),
        ("Пн 10:00-10:00", Problem.inverted),
        ("Пн 10:00-12:00, Пн 11:00-13:00", Problem.overlapping),
        ("Пн-Ср 10-12, Вт 11-12", Problem.overlapping),
        ("Пн 25:00-26:00", Problem.bad_time),
        ("Пн 10:75-11:00", Problem.bad_time),
        ("Пн", Problem.bad_time),
        ("10-12", Problem.bad_time),
        ("Пн 10-12 5m", Problem.bad_slot),
        ("Пн 10-12 9h", Problem.bad_slot),
        ("Пн 10:00-10:20 30m", Problem.slot_too_long),
        (", ".join(f"Пн {h}:00-{h}:40" for h in range(0, 23)) + ", Вт 1-2, Ср 1-2, Чт 1-2, "
         "Пт 1-2, Сб 1-2, Вс 1-2", Problem.too_many),
    ],
)  # fmt: skip
def test_what_cannot_be_hours_is_refused_with_its_reason(text: str, problem: Problem) -> None:
    with pytest.raises(HoursError) as refused:
        parse_hours(text)
    assert refused.value.problem == problem


def test_days_off() -> None:
    assert parse_days_off("01.05-10.05", TODAY) == DaysOff(date(2027, 5, 1), date(2027, 5, 10))
    assert parse_days_off("09.12", TODAY) == DaysOff(date(2026, 12, 9), date(2026, 12, 9))
    assert parse_days_off("28.12-08.01", TODAY) == DaysOff(date(2026, 12, 28), date(2027, 1, 8))
    for text, problem in [
        ("31.02", Problem.bad_date),
        ("soon", Problem.bad_date),
        ("", Problem.bad_date),
        ("01.01.2020", Problem.past),
        ("10.05.2027-01.05.2027", Problem.inverted),
        ("10.05-01.05", Problem.too_long_off),
    ]:
        with pytest.raises(HoursError) as refused:
            parse_days_off(text, TODAY)
        assert refused.value.problem == problem, text


_pieces = st.sampled_from(
    ["Пн", "Mon", "Чт", "-", "–", " ", ",", ";", "10", ":", "00", "18:00", "24", "30m", "1h",
     "off", ".", "\n", "99", "Sun", "Śr", "0"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_pieces, max_size=12).map("".join)))
def test_any_text_is_hours_or_a_reason(text: str) -> None:
    try:
        hours = parse_hours(text)
    except HoursError:
        return
    for stretch in hours.stretches:
        assert 0 <= stretch.weekday <= 6
        assert stretch.start < stretch.end


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_days_off_or_a_reason(text: str) -> None:
    try:
        off = parse_days_off(text, TODAY)
    except HoursError:
        return
    assert off.last >= TODAY and off.first <= off.last


def test_an_omsk_mentors_evening_is_a_moscow_afternoon() -> None:
    sunday = datetime(2026, 12, 6, 12, tzinfo=UTC)
    found = slots(parse_hours("Пн 18:00-20:00"), OMSK, now=sunday, days=7)
    shown = [f"{s.starts.astimezone(MOSCOW):%a %H:%M}" for s in found]
    assert shown == ["Mon 15:00", "Mon 15:30", "Mon 16:00", "Mon 16:30"]
    assert found[-1].ends.astimezone(MOSCOW).time() == time(17, 0)


def test_hours_across_midnight_in_the_viewers_zone() -> None:
    sunday = datetime(2026, 12, 6, 12, tzinfo=UTC)
    found = slots(parse_hours("Вт 01:00-02:00 1h"), OMSK, now=sunday, days=7)
    assert [f"{s.starts.astimezone(MOSCOW):%a %H:%M}" for s in found] == ["Mon 22:00"]


def test_summer_time_moves_the_slots_as_the_mentors_clock() -> None:
    # Poland moves its clocks forward on Sunday 28 March 2027.
    before = datetime(2027, 3, 21, 12, tzinfo=UTC)
    found = slots(parse_hours("Pon 10:00-11:00 1h"), WARSAW, now=before, days=9)
    assert [s.starts for s in found] == [
        datetime(2027, 3, 22, 9, tzinfo=UTC),
        datetime(2027, 3, 29, 8, tzinfo=UTC),
    ]
    assert {s.starts.astimezone(WARSAW).hour for s in found} == {10}


def test_no_slot_that_began_or_falls_on_a_day_off() -> None:
    monday_evening = datetime(2026, 12, 7, 12, 15, tzinfo=UTC)  # 18:15 in Omsk
    hours = parse_hours("Пн 18:00-20:00, Вт 18:00-19:00")
    found = slots(hours, OMSK, now=monday_evening, days=7)
    assert f"{found[0].starts.astimezone(OMSK):%a %H:%M}" == "Mon 18:30"
    off = [DaysOff(date(2026, 12, 8), date(2026, 12, 8))]
    without_tuesday = slots(hours, OMSK, now=monday_evening, days=7, off=off)
    assert all(s.starts.astimezone(OMSK).weekday() == 0 for s in without_tuesday)


# --- /hours, as a mentor uses it ----------------------------------------------------------------


async def _stored(db: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with db() as session:
        hours = await session.scalar(select(func.count()).select_from(OfficeHours))
        off = await session.scalar(select(func.count()).select_from(OfficeHoursOff))
    return int(hours or 0), int(off or 0)


async def test_a_mentor_sets_shows_and_clears_office_hours(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    mentor = await world.mentor("Наставница")
    tg = world.tg
    await tg.send(mentor, mentor, "/tz Asia/Omsk")
    await tg.send(mentor, mentor, "/hours Пн 18:00-20:00, Чт 10:00-12:00")
    saved = tg.last(mentor)
    assert "Часы консультаций сохранены" in saved.text
    assert "время — Омск (UTC+6); слоты по 30 мин" in saved.text
    assert "Пн 18:00–20:00" in saved.text and "Чт 10:00–12:00" in saved.text
    assert await _stored(db) == (2, 0)

    await tg.send(mentor, mentor, "/hours off 01.05-10.05")
    assert "Выходные: 01.05–10.05.2027" in tg.last(mentor).text
    assert await _stored(db) == (2, 1)

    await tg.send(mentor, mentor, "/hours")
    shown = tg.last(mentor)
    assert "Пн 18:00–20:00" in shown.text and "/hours off" in shown.text
    assert set(shown.buttons) == {"Изменить", "Удалить часы", "Удалить выходные"}
    await tg.press(mentor, shown, "Удалить часы")
    assert "Часы консультаций пока не заданы" in tg.message(shown).text
    assert await _stored(db) == (0, 1)
    await tg.press(mentor, tg.message(shown), "Удалить выходные")
    assert await _stored(db) == (0, 0)


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("/hours Xx 10:00-12:00", "Не знаю такого дня недели: «Xx»"),
        ("/hours Пн 12:00-10:00", "заканчивается раньше, чем начинается"),
        ("/hours Пн 10-12, Пн 11-13", "Эти часы пересекаются: 10:00-12:00, 11:00-13:00"),
        ("/hours Пн 10-12 5m", "Слот длится от 10 минут до 4 часов"),
        ("/hours off 01.01.2020", "Эти дни уже прошли"),
        ("/hours " + "Пн 10-12 <b>" * 500, "Не могу прочитать часы"),
    ],
)
async def test_bad_hours_get_a_clear_answer_and_change_nothing(
    world: World, db: async_sessionmaker[AsyncSession], typed: str, answer: str
) -> None:
    await world.registered_group()
    mentor = await world.mentor("Наставник")
    await world.tg.send(mentor, mentor, "/hours Ср 09:00-10:00")
    await world.tg.send(mentor, mentor, typed)
    reply = world.tg.last(mentor).text
    assert answer in reply and "Ничего не изменено" in reply
    if "<b>" in typed:
        assert "Пн 10-12 <b>" in reply  # shown as typed (escaped), not taken for markup
    assert await _stored(db) == (1, 0)


async def test_hours_are_for_mentors_and_shown_in_private(world: World) -> None:
    group = await world.registered_group()
    activist = world.tg.user("Активист")
    await world.tg.send(activist, activist, "/hours Пн 10-12")
    assert "Часы консультаций задают наставники" in world.tg.last(activist).text
    await world.tg.send(world.admin, group, "/hours")
    assert "Это я показываю только в личных сообщениях" in world.tg.last(group).text
