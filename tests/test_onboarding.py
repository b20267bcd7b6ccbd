"""Onboarding through the fake Telegram: groups, registration, invitations, roles, languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeUser
from models import GroupChat, Invitation, Person, Programme, Role, RoleKind
from tests.conftest import PROGRAMME, World


async def _roles(db: async_sessionmaker[AsyncSession], telegram_id: int) -> list[Role]:
    async with db() as session:
        person = (
            await session.execute(select(Person).where(Person.telegram_id == telegram_id))
        ).scalar_one_or_none()
        return [] if person is None else list(person.roles)


async def test_admin_adds_the_bot_and_registers_a_group(
    tg: TelegramClient, app: App, admin: FakeUser, db: async_sessionmaker[AsyncSession]
) -> None:
    activist = tg.user("Ольга")
    group = tg.group("Луганская группа", members=(admin, activist), admins=(admin,))
    await tg.add_bot_to(group, by=admin)
    greeting = tg.last(group)
    assert "/register" in greeting.text
    assert group.bot_status != "left"

    # An activist cannot register the group, and trying changes nothing.
    await tg.send(activist, group, "/register Чужая программа")
    assert "только администратор или координатор" in tg.last(group).text

    await tg.send(admin, group, f"/register {PROGRAMME}")
    assert f"зарегистрирована в программе «{PROGRAMME}»" in tg.last(group).text
    async with db() as session:
        chat = (await session.execute(select(GroupChat))).scalar_one()
        programme = (await session.execute(select(Programme))).scalar_one()
    assert chat.telegram_id == group.id
    assert chat.programme_id == programme.id
    assert programme.title == PROGRAMME

    # Registering again says so instead of creating anything.
    await tg.send(admin, group, f"/register {PROGRAMME}")
    assert "уже зарегистрирована" in tg.last(group).text
    async with db() as session:
        assert len((await session.execute(select(Programme))).all()) == 1


async def test_a_strangers_group_is_left_with_an_explanation(
    tg: TelegramClient, app: App, db: async_sessionmaker[AsyncSession]
) -> None:
    stranger = tg.user("Незнакомец")
    group = tg.group("Чужой чат", members=(stranger,), admins=(stranger,))
    await tg.add_bot_to(group, by=stranger)
    assert "ухожу" in tg.last(group).text
    assert group.bot_status == "left"
    async with db() as session:
        chat = (await session.execute(select(GroupChat))).scalar_one()
    assert not chat.registered


async def test_commands_in_an_unregistered_group_are_explained(
    tg: TelegramClient, app: App, admin: FakeUser
) -> None:
    activist = tg.user("Пётр")
    group = tg.group("Донецкая группа", members=(admin, activist), admins=(admin,))
    await tg.add_bot_to(group, by=admin)
    await tg.send(activist, group, "/invite mentor legal")
    assert "ещё не зарегистрирована" in tg.last(group).text


async def test_registration_survives_migration_to_a_supergroup(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group = await world.registered_group()
    supergroup = await tg.migrate_to_supergroup(group)
    async with db() as session:
        chats = list((await session.execute(select(GroupChat))).scalars())
    assert [c.telegram_id for c in chats] == [supergroup.id]
    assert chats[0].registered
    # The bot keeps serving the new chat: no "not registered" answer there.
    await tg.send(world.admin, supergroup, "/invite mentor legal")
    assert "ещё не зарегистрирована" not in tg.last(supergroup).text


async def test_invitation_makes_a_mentor_once(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    token = await world.invitation_token(world.admin, "/invite mentor legal grants")
    lawyer = tg.user("Ирина", language="ru")
    await tg.start(lawyer, token)
    welcome = tg.last(lawyer).text
    assert "наставник" in welcome and "Юридические вопросы" in welcome
    roles = await _roles(db, lawyer.id)
    assert [(r.kind, sorted(t.code for t in r.topics)) for r in roles] == [
        (RoleKind.mentor, ["grants", "legal"])
    ]

    # The same link does nothing for somebody else.
    other = tg.user("Сергей")
    await tg.start(other, token)
    assert "уже использована" in tg.last(other).text
    assert await _roles(db, other.id) == []


async def test_an_expired_invitation_grants_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    token = await world.invitation_token(world.admin, "/invite mentor rehabilitation")
    async with db.begin() as session:
        await session.execute(
            update(Invitation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    doctor = tg.user("Анна")
    await tg.start(doctor, token)
    assert "истёк" in tg.last(doctor).text
    assert await _roles(db, doctor.id) == []

    forged = tg.user("Хакер")
    await tg.start(forged, "x" * 40)
    assert "недействительна" in tg.last(forged).text
    assert await _roles(db, forged.id) == []


async def test_non_coordinators_cannot_invite(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group = await world.registered_group()
    mentor = await world.mentor("Ирина", "legal")
    activist = tg.user("Ольга")
    for person, chat in ((activist, activist), (mentor, mentor), (activist, group)):
        await tg.send(person, chat, "/invite mentor legal")
        assert "только координатор" in tg.last(chat).text.lower()
    # Coordinators may invite mentors but not coordinators.
    coordinator = await world.coordinator("Наталья")
    await tg.send(coordinator, coordinator, "/invite coordinator")
    assert "только администратор" in tg.last(coordinator).text.lower()
    async with db() as session:
        invitations = list((await session.execute(select(Invitation))).scalars())
    assert [i.kind for i in invitations] == [RoleKind.mentor, RoleKind.coordinator]


async def test_a_coordinator_invites_a_mentor_with_a_link_sent_in_private(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group = await world.registered_group()
    coordinator = await world.coordinator("Наталья")
    await tg.send(coordinator, group, "/invite mentor business")
    assert "в личные сообщения" in tg.last(group).text
    link = tg.last(coordinator)
    assert "?start=" in link.text
    # A coordinator who never opened the bot is told how to get the link instead.
    shy = await world.coordinator("Павел")
    shy.started = False
    await tg.send(shy, group, "/invite mentor business")
    assert "Не могу написать вам" in tg.last(group).text


async def test_bad_invite_arguments_get_usage_and_change_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    for args in ("", "mentor", "mentor astrology", "wizard legal", "coordinator legal"):
        await tg.send(world.admin, world.admin, f"/invite {args}".strip())
        assert "/invite mentor" in tg.last(world.admin).text
    async with db() as session:
        assert (await session.execute(select(Invitation))).first() is None


async def test_replies_follow_the_persons_language(world: World, tg: TelegramClient) -> None:
    english = tg.user("John", language="en", started=True)
    russian = tg.user("Мария", language="ru", started=True)
    await tg.send(english, english, "/help")
    assert "What you can do here" in tg.last(english).text
    await tg.send(russian, russian, "/help")
    assert "Что можно сделать" in tg.last(russian).text
    # /lang overrides Telegram's language, with buttons or an argument.
    await tg.send(russian, russian, "/lang")
    await tg.press(russian, tg.last(russian), "English")
    await tg.send(russian, russian, "/topics")
    assert "Legal matters" in tg.last(russian).text
    await tg.send(english, english, "/lang ru")
    assert tg.last(english).text == "Язык: русский."
    await tg.send(english, english, "/lang klingon")
    assert "Неизвестный язык" in tg.last(english).text


async def test_time_zones(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group = await world.registered_group()
    mentor = await world.mentor("Ирина", "legal")
    await tg.send(mentor, mentor, "/tz Asia/Omsk")
    assert "Омск (UTC+6)" in tg.last(mentor).text
    await tg.send(mentor, mentor, "/tz UTC+99")
    assert "Не знаю часового пояса" in tg.last(mentor).text
    await tg.send(world.admin, group, "/tz MSK")
    assert "Часовой пояс группы теперь МСК" in tg.last(group).text
    async with db() as session:
        person = (
            await session.execute(select(Person).where(Person.telegram_id == mentor.id))
        ).scalar_one()
        chat = (await session.execute(select(GroupChat))).scalar_one()
    assert person.timezone == "Asia/Omsk"
    assert chat.timezone == "Europe/Moscow"


async def test_start_and_help_show_what_roles_allow(world: World, tg: TelegramClient) -> None:
    await world.registered_group()
    newcomer = tg.user("Гость")
    await tg.start(newcomer)
    text = tg.last(newcomer).text
    assert "нет роли" in text
    assert "/invite" not in text
    await tg.start(world.admin)
    assert "/invite" in tg.last(world.admin).text and "администратор" in tg.last(world.admin).text
