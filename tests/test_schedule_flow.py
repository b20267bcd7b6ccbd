"""Scheduling through the fake Telegram: announcements, refusals, RSVP, dialogues, changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeUser
from models import MeetingStatus
from tests.conftest import PROGRAMME, World
from tests.schedule_steps import (
    MOSCOW,
    TITLE,
    all_meetings,
    announcements_in,
    calendar_file,
    reminder_rows,
)
from tests.ticket_steps import ask, card


def next_27_february() -> int:
    """The year of the next 27 February 15:00 in Moscow, so the test never goes stale."""
    now = datetime.now(MOSCOW)
    this_year = datetime(now.year, 2, 27, 15, 0, tzinfo=MOSCOW)
    return now.year if this_year > now + timedelta(days=1) else now.year + 1


async def coordinated_groups(
    world: World, *members: FakeUser
) -> tuple[FakeUser, FakeChat, FakeChat]:
    """A coordinator, and the Luhansk and Donetsk groups of one programme with them in both."""
    tg, admin = world.tg, world.admin
    coordinator = tg.user("Марина", started=True)
    first = await world.registered_group("Луганская группа", members=(coordinator, *members))
    await tg.start(coordinator, await world.invitation_token(admin, "/invite coordinator"))
    second = tg.group("Донецкая группа", members=(admin, coordinator, *members), admins=(admin,))
    await tg.add_bot_to(second, by=admin)
    # Registered by choosing the existing programme, as an admin would with two groups.
    await tg.send(admin, second, "/register")
    await tg.press(admin, tg.last(second), PROGRAMME[:60])
    assert "зарегистрирована" in tg.last(second).content
    return coordinator, first, second


async def test_a_coordinator_schedules_the_conference_in_a_group(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    await tg.start(olga)  # she has opened the bot, so reminders can reach her in private
    coordinator, group, _other = await coordinated_groups(world, olga)
    year = next_27_february()

    await tg.send(coordinator, group, f"/schedule 27.02.{year} 15:00 MSK {TITLE}")

    announcement = announcements_in(tg, group)[-1]
    text = announcement.content
    assert TITLE in text
    assert "15:00 МСК" in text
    assert "1 ч" in text
    assert "https://meet.jit.si/MentorDesk-" in text
    assert announcement.buttons == ["✅ Приду · 0", "❌ Не смогу · 0"]
    [meeting] = await all_meetings(db)
    assert meeting.starts_at == datetime(year, 2, 27, 12, 0, tzinfo=UTC)
    assert meeting.video_url in text

    event = calendar_file(tg, group)
    assert event.decoded("dtstart") == datetime(year, 2, 27, 12, 0, tzinfo=UTC)
    assert event.decoded("duration") == timedelta(hours=1)
    assert str(event["url"]) == meeting.video_url
    assert str(event["uid"]).startswith(meeting.uid)
    assert event.walk("VALARM")[0].decoded("trigger") == -timedelta(minutes=10)

    # The coordinator, in Omsk, sees the same meeting at 18:00 in /meetings.
    await tg.send(coordinator, coordinator, "/tz Asia/Omsk")
    await tg.send(coordinator, coordinator, "/meetings")
    *_earlier, listed, all_of_them = tg.inbox(coordinator)
    listing = listed.content
    assert TITLE in listing and "18:00 Омск (UTC+6)" in listing
    assert "15:00" not in listing.split("(")[0]
    # With one .ics of every upcoming meeting, for her calendar.
    assert all_of_them.document is not None and all_of_them.file_bytes is not None
    events = icalendar.Calendar.from_ical(all_of_them.file_bytes).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == [TITLE]

    # Answers change the counts on the announcement.
    await tg.press(olga, announcement, "✅ Приду · 0")
    assert "напомню" in (tg.last_answer(olga).text or "").lower()
    assert tg.message(announcement).buttons == ["✅ Приду · 1", "❌ Не смогу · 0"]
    await tg.press(olga, tg.message(announcement), "✅ Приду · 1")
    assert tg.message(announcement).buttons == ["✅ Приду · 1", "❌ Не смогу · 0"]
    await tg.press(coordinator, tg.message(announcement), "❌ Не смогу · 0")
    assert tg.message(announcement).buttons == ["✅ Приду · 1", "❌ Не смогу · 1"]


@pytest.mark.parametrize(
    ("arguments", "answer"),
    [
        ("01.01.2020 15:00 Прошедшая встреча", "уже прошло"),
        ("31.02 15:00 Встреча", "Такой даты нет: «31.02»"),
        ("27.02 15:00 UTC+99 Встреча", "Не знаю часовой пояс «UTC+99»"),
        ("27.02 15:00", "нужно название"),
        ("27.02 15:00 " + "Я" * 5000, "не больше 200 символов"),
        ("когда-нибудь потом", "Не нашёл в начале дату и время"),
    ],
)
async def test_bad_input_gets_a_clear_answer_and_stores_nothing(
    world: World,
    tg: TelegramClient,
    db: async_sessionmaker[AsyncSession],
    arguments: str,
    answer: str,
) -> None:
    group = await world.registered_group()
    await tg.send(world.admin, group, f"/schedule {arguments}")
    reply = tg.last(group).content
    assert answer in reply
    assert "27.02.2027 15:00" in reply  # the accepted forms are quoted
    assert "Ничего не назначено" in reply
    assert await all_meetings(db) == []


async def test_only_coordinators_schedule_conferences(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина")
    for person in (olga, irina):
        await tg.send(person, group, f"/schedule завтра 15:00 {TITLE}")
        assert "только координаторы" in tg.last(group).content
    await tg.send(olga, olga, f"/schedule завтра 15:00 {TITLE}")
    assert "назначают координаторы" in tg.last(olga).content
    assert await all_meetings(db) == []


async def test_in_private_a_coordinator_picks_the_groups(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    coordinator, luhansk, donetsk = await coordinated_groups(world)
    await tg.send(coordinator, coordinator, "/schedule завтра 15:00 90m Разбор грантовых заявок")
    picker = tg.last(coordinator)
    assert "Для каких групп?" in picker.content
    assert picker.buttons[:3] == ["▫️ Луганская группа", "▫️ Донецкая группа", "Все группы"]

    await tg.press(coordinator, picker, "📣 Объявить")
    assert "хотя бы одну группу" in (tg.last_answer(coordinator).text or "")
    await tg.press(coordinator, tg.message(picker), "▫️ Донецкая группа")
    assert "✅ Донецкая группа" in tg.message(picker).buttons
    # A forged toggle for a group this coordinator does not run is refused.
    await tg.press_data(coordinator, tg.message(picker), "mg:999999")
    assert "устарела" in (tg.last_answer(coordinator).text or "")
    await tg.press(coordinator, tg.message(picker), "📣 Объявить")

    assert "объявлена в: Донецкая группа" in tg.message(picker).content
    assert announcements_in(tg, luhansk) == []
    [announcement] = announcements_in(tg, donetsk)
    assert "1 ч 30 мин" in announcement.content
    [meeting] = await all_meetings(db)
    assert meeting.duration == timedelta(minutes=90)
    tomorrow = datetime.now(MOSCOW).date() + timedelta(days=1)
    assert meeting.starts_at == datetime.combine(
        tomorrow, datetime.min.time().replace(hour=15), tzinfo=MOSCOW
    )
    assert calendar_file(tg, coordinator).decoded("dtstart") == meeting.starts_at

    await tg.send(coordinator, coordinator, "/schedule послезавтра 10:00 Общая встреча")
    picker = tg.last(coordinator)
    await tg.press(coordinator, picker, "Все группы")
    await tg.press(coordinator, tg.message(picker), "📣 Объявить")
    assert len(announcements_in(tg, luhansk)) == 1
    assert len(announcements_in(tg, donetsk)) == 2


async def test_the_guided_dialogue_in_private(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    coordinator, luhansk, _donetsk = await coordinated_groups(world)
    await tg.send(coordinator, coordinator, "/schedule")
    await tg.press(coordinator, tg.last(coordinator), "Завтра")
    assert "во сколько?" in tg.last(coordinator).content
    await tg.send(coordinator, coordinator, "25:00")
    assert "не время суток" in tg.last(coordinator).content
    await tg.send(coordinator, coordinator, "15:30")
    assert "Как называется встреча?" in tg.last(coordinator).content
    await tg.send(coordinator, coordinator, "Консультация по уставу АНО")
    await tg.press(coordinator, tg.last(coordinator), "1 ч 30 мин")
    picker = tg.last(coordinator)
    await tg.press(coordinator, picker, "▫️ Луганская группа")
    await tg.press(coordinator, tg.message(picker), "📣 Объявить")
    [meeting] = await all_meetings(db)
    tomorrow = datetime.now(MOSCOW).date() + timedelta(days=1)
    assert meeting.starts_at == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 15, 30, tzinfo=MOSCOW
    )
    assert meeting.title == "Консультация по уставу АНО"
    assert meeting.duration_minutes == 90
    assert len(announcements_in(tg, luhansk)) == 1


async def test_the_guided_dialogue_in_a_group_is_not_taken_for_a_request(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group = await world.registered_group()
    admin = world.admin
    await tg.send(admin, group, "/schedule")
    prompt = tg.last(group)
    await tg.send(admin, group, "послезавтра 11:00 Asia/Omsk 45m", reply_to=prompt)
    await tg.send(admin, group, "Планёрка наставников", reply_to=tg.last(group))
    confirm = tg.last(group)
    assert "Планёрка наставников" in confirm.content
    await tg.press(admin, confirm, "📣 Объявить")
    [meeting] = await all_meetings(db)
    assert meeting.zone == "Asia/Omsk" and meeting.duration_minutes == 45
    assert "11:00 Омск (UTC+6)" in announcements_in(tg, group)[-1].content
    assert not any("принят" in m.content for m in tg.messages(group) if m.by_bot)


async def test_a_mentor_schedules_a_call_about_the_ticket_they_hold(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    sergey = await world.mentor("Сергей", "legal")
    n = await ask(tg, olga, group, "Как зарегистрировать АНО? Нужна консультация юриста")
    await tg.press(irina, card(tg, irina, n), "Взять")

    await tg.send(sergey, sergey, f"/schedule #{n} завтра 11:00 Созвон")
    assert f"по запросу #{n} может только наставник" in tg.last(sergey).content

    await tg.send(irina, irina, f"/schedule #{n} завтра 14:00 Asia/Omsk")
    confirmation = [m for m in tg.messages(irina) if "📞 Созвон #" in m.content][-1]
    assert "Ольга" in confirmation.content and "14:00 Омск (UTC+6)" in confirmation.content
    invitation = announcements_in(tg, olga)[-1]
    assert f"Созвон по запросу #{n}" in invitation.content
    assert "11:00 МСК" in invitation.content  # Olga's zone is Moscow
    assert "Наставник: Ирина" in invitation.content
    [meeting] = await all_meetings(db)
    assert meeting.ticket_id == n
    assert calendar_file(tg, olga).decoded("dtstart") == meeting.starts_at
    await tg.press(olga, invitation, "✅ Приду · 0")
    assert tg.message(invitation).buttons[0] == "✅ Приду · 1"
    # The call is in both people's /meetings, not in the group's.
    await tg.send(olga, olga, "/meetings")
    assert f"Созвон по запросу #{n}" in tg.inbox(olga)[-2].content
    assert tg.last(olga).document is not None  # the .ics of them all
    await tg.send(olga, group, "/meetings")
    assert "Ближайших встреч нет" in tg.last(group).content


async def test_a_call_with_an_author_who_never_opened_the_bot_is_announced_in_the_group(
    world: World, tg: TelegramClient
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Ирина", "legal")
    n = await ask(tg, olga, group, "Как оформить устав АНО?")
    await tg.press(irina, card(tg, irina, n), "Взять")
    await tg.send(irina, irina, f"/schedule #{n} завтра 12:00")
    confirmation = [m for m in tg.messages(irina) if "📞 Созвон #" in m.content][-1]
    assert "Не могу написать Ольга в личку" in confirmation.content
    note = tg.last(group)
    assert f"созвон по вашему запросу #{n}" in note.content and "/meetings" in note.content


async def test_reschedule_and_cancel_tell_everyone_and_move_or_drop_reminders(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    petr = tg.user("Пётр", started=True)
    coordinator, group, _other = await coordinated_groups(world, olga, petr)
    await tg.send(coordinator, group, f"/schedule послезавтра 15:00 {TITLE}")
    announcement = announcements_in(tg, group)[-1]
    await tg.press(olga, announcement, "✅ Приду · 0")
    await tg.press(petr, tg.message(announcement), "❌ Не смогу · 0")
    [meeting] = await all_meetings(db)
    before = [r.due_at for r in await reminder_rows(db, meeting.id)]

    await tg.send(petr, group, f"/reschedule {meeting.id} послезавтра 17:00")
    assert "только координаторы программы или организатор" in tg.last(group).content

    await tg.send(coordinator, group, f"/reschedule {meeting.id} послезавтра 17:00")
    moved = [m for m in tg.messages(group) if m.by_bot and m.content.startswith("🔁")]
    assert len(moved) == 1 and "17:00 МСК" in moved[0].content
    assert "придут — 1, не смогут — 1" in moved[0].content
    assert tg.inbox(olga)[-1].content.startswith("🔁")
    assert not any(m.content.startswith("🔁") for m in tg.inbox(petr))
    assert "17:00 МСК" in tg.message(announcement).content
    assert tg.message(announcement).buttons == ["✅ Приду · 1", "❌ Не смогу · 1"]
    event = calendar_file(tg, group)
    assert event.decoded("sequence") == 1
    [moved_meeting] = await all_meetings(db)
    assert event.decoded("dtstart") == moved_meeting.starts_at
    after = [r.due_at for r in await reminder_rows(db, meeting.id)]
    assert [b + timedelta(hours=2) for b in before] == after

    await tg.send(coordinator, coordinator, f"/cancel_meeting {meeting.id}")
    assert f"Встреча #{meeting.id} отменена" in tg.last(coordinator).content
    assert tg.last(group).content.startswith("🚫 Встреча") and "отменена" in tg.last(group).content
    assert "отменена" in tg.inbox(olga)[-1].content
    assert tg.message(announcement).buttons == []
    [cancelled] = await all_meetings(db)
    assert cancelled.status == MeetingStatus.cancelled
    assert await reminder_rows(db, meeting.id) == []
    await tg.press_data(olga, tg.message(announcement), f"mr:{meeting.id}:1")
    assert "прошла или отменена" in (tg.last_answer(olga).text or "")


async def test_forged_rsvp_buttons_change_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    coordinator, luhansk, donetsk = await coordinated_groups(world, olga)
    await tg.send(coordinator, luhansk, f"/schedule завтра 15:00 {TITLE}")
    [meeting] = await all_meetings(db)
    await tg.send(coordinator, donetsk, "/meetings")
    other_chat_message = tg.last(donetsk)
    await tg.press_data(olga, other_chat_message, f"mr:{meeting.id}:1")
    assert "не для этого чата" in (tg.last_answer(olga).text or "")
    await tg.press_data(olga, other_chat_message, "mr:424242:1")
    assert "устарела" in (tg.last_answer(olga).text or "")
    await tg.press_data(olga, other_chat_message, "mr:x:y")
    assert "устарела" in (tg.last_answer(olga).text or "")
    assert announcements_in(tg, luhansk)[-1].buttons == ["✅ Приду · 0", "❌ Не смогу · 0"]
