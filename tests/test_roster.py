"""``/mentors``: the roster, topics and capacity, deactivation returning requests to the queue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeUser
from bot.views.roster import MentorAction, RosterPage
from models import AuditAction, AuditEntry, Person, Role, RoleKind, TicketEventKind, TicketStatus
from tests.conftest import World
from tests.test_stats_flow import OMSK, coordinator_of
from tests.ticket_steps import ask, card, cards, event_kinds, ticket

PROGRAMME = "Школа социального предпринимательства на Донбассе"


async def mentor_role(db: async_sessionmaker[AsyncSession], user: FakeUser) -> Role:
    async with db() as session:
        return (
            await session.execute(
                select(Role)
                .join(Person, Person.id == Role.person_id)
                .where(Person.telegram_id == user.id, Role.kind == RoleKind.mentor)
            )
        ).scalar_one()


async def audit_actions(db: async_sessionmaker[AsyncSession]) -> list[AuditEntry]:
    async with db() as session:
        return list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())


async def test_a_coordinator_changes_a_mentors_topics_and_capacity(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    coordinator = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    irina_role = await mentor_role(db, irina)
    sergey = await world.mentor("Sergey", "legal grants", language="en")

    await tg.send(coordinator, coordinator, "/mentors")
    roster = tg.last(coordinator)
    assert f"Mentors of «{PROGRAMME}»: 2 active" in roster.content
    assert "Topics: Legal matters · in progress 0 of 5" in roster.content
    assert "Topics: Legal matters, Grants and competitions · in progress 0 of 5" in roster.content
    assert "gets cards in private" in roster.content
    assert roster.buttons == ["Irina (0/5)", "Sergey (0/5)"]

    await tg.press(coordinator, roster, "Irina (0/5)")
    view = tg.message(roster)
    assert view.content.startswith(f"Mentor of «{PROGRAMME}» · active")
    assert view.buttons == ["Topics", "Capacity", "Deactivate", "« All mentors"]

    await tg.press(coordinator, view, "Topics")
    assert "✅ Legal matters" in tg.message(view).buttons
    await tg.press(coordinator, view, "Grants and competitions")
    assert tg.last_answer(coordinator).text == "Added: Grants and competitions"
    assert "✅ Grants and competitions" in tg.message(view).buttons
    await tg.press(coordinator, view, "✅ Legal matters")
    assert tg.last_answer(coordinator).text == "Removed: Legal matters"
    await tg.press(coordinator, view, "✅ Grants and competitions")
    refusal = tg.last_answer(coordinator)
    assert refusal.show_alert and "at least one topic" in (refusal.text or "")
    async with db() as session:
        role = await session.get_one(Role, irina_role.id)
        assert [t.code for t in role.topics] == ["grants"]

    await tg.press(coordinator, view, "« Done")
    await tg.press(coordinator, view, "Capacity")
    assert "How many requests may Irina hold at once?" in tg.message(view).content
    assert "✅ 5" in tg.message(view).buttons
    await tg.press(coordinator, view, "3")
    assert tg.last_answer(coordinator).text == "Capacity: 3"
    assert "in progress 0 of 3" in tg.message(view).content
    assert (await mentor_role(db, sergey)).capacity == 5
    async with db() as session:
        assert (await session.get_one(Role, irina_role.id)).capacity == 3

    await tg.press(coordinator, view, "« All mentors")
    assert "Irina (0/3)" in tg.message(view).buttons
    changes = [e for e in await audit_actions(db) if e.action == AuditAction.mentor_changed]
    assert [e.details for e in changes] == [
        {"topics": ["legal", "grants"]},
        {"topics": ["grants"]},
        {"capacity": 3, "previous": 5},
    ]


async def test_deactivating_a_mentor_returns_their_requests_to_the_queue(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    sergey = await world.mentor("Sergey", "legal", language="en")
    blocked = await world.mentor("Pavel", "legal", language="en", started=False)
    first = await ask(tg, olga, group, "How do I register an NGO?")
    second = await ask(tg, olga, group, "Which contract do we sign with the landlord?")
    await tg.press(irina, card(tg, irina, first), "Claim")
    await tg.press(irina, card(tg, irina, second), "Claim")

    await tg.send(coordinator, coordinator, "/mentors")
    roster = tg.last(coordinator)
    assert "has not opened the bot" in roster.content  # Pavel's cards came back refused
    await tg.press(coordinator, roster, "Irina (2/5)")
    await tg.press(coordinator, roster, "Deactivate")
    prompt = tg.message(roster)
    assert "Their 2 requests in progress go back to the queue" in prompt.content
    await tg.press(coordinator, prompt, "Yes, deactivate")
    assert tg.last_answer(coordinator).text == "Deactivated."
    done = tg.message(roster)
    assert (
        f"Irina is deactivated. Back in the queue: #{first}, #{second}; cards went to 2 mentors."
        in done.content
    )
    assert "Reactivate" in done.buttons

    for n in (first, second):
        stored = await ticket(db, n)
        assert stored.status == TicketStatus.open and stored.assignee_id is None
        assert (await event_kinds(db, n))[-1] == TicketEventKind.reassigned
        assert card(tg, sergey, n).buttons == ["Claim"]
        assert any(f"#{n} is waiting for a new mentor" in m.content for m in tg.messages(group))
    assert not cards(tg, blocked, first)
    await tg.send(coordinator, coordinator, f"/ticket {first}")
    assert "Natalia returned the request to the queue" in tg.last(coordinator).content
    notice = tg.last(irina).content
    assert "Natalia deactivated you as a mentor" in notice and f"#{first}, #{second}" in notice
    assert not (await mentor_role(db, irina)).active
    await tg.send(irina, irina, "/queue")
    assert "you are not one yet" in tg.last(irina).content

    await tg.press(sergey, card(tg, sergey, first), "Claim")
    assert (await ticket(db, first)).status == TicketStatus.claimed

    removed = [e for e in await audit_actions(db) if e.action == AuditAction.role_removed]
    assert len(removed) == 1 and removed[0].details["returned"] == [first, second]

    await tg.press(coordinator, done, "Reactivate")
    assert tg.last_answer(coordinator).text == "Reactivated."
    assert (await mentor_role(db, irina)).active
    granted = [e for e in await audit_actions(db) if e.action == AuditAction.role_granted]
    assert granted[-1].details["reactivated"] is True


async def test_only_a_programmes_coordinators_manage_its_mentors(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    await world.registered_group("Омская группа", programme=OMSK)
    irina = await world.mentor("Irina", "legal", language="en")
    await ask(tg, olga, group, "How do I register an NGO?")
    for person in (olga, irina):
        await tg.send(person, person, "/mentors")
        assert tg.last(person).content == "The list of mentors is for programme coordinators."
    await tg.send(olga, group, "/mentors")
    assert "in private only" in tg.last(group).content

    role = await mentor_role(db, irina)
    outsider = tg.user("Omsk coordinator", language="en")
    await coordinator_of(world, outsider, OMSK)
    for person in (irina, outsider):
        for data in (
            MentorAction(role=role.id, action="off_yes").pack(),
            MentorAction(role=role.id, action="cap", value=3).pack(),
            RosterPage(programme=role.programme_id).pack(),
        ):
            await tg.press_data(person, tg.last(person), data)
            answer = tg.last_answer(person)
            assert answer.show_alert and "coordinators manage its mentors" in (answer.text or "")
    assert (await mentor_role(db, irina)).active and (await mentor_role(db, irina)).capacity == 5

    coordinator = await world.coordinator("Natalia", language="en")
    await tg.send(coordinator, coordinator, "/mentors")
    for data in (
        MentorAction(role=role.id, action="cap", value=7).pack(),
        MentorAction(role=role.id, action="explode").pack(),
        MentorAction(role=role.id, action="topic", value=999).pack(),
        MentorAction(role=10**9, action="card").pack(),
    ):
        await tg.press_data(coordinator, tg.last(coordinator), data)
        assert tg.last_answer(coordinator).show_alert
    assert (await mentor_role(db, irina)).capacity == 5


async def test_someone_running_several_programmes_chooses_one(
    world: World, tg: TelegramClient
) -> None:
    await world.registered_group()
    await world.registered_group("Омская группа", programme=OMSK)
    await world.mentor("Irina", "legal", language="en")
    admin = world.admin
    await tg.send(admin, admin, "/lang en")
    await tg.send(admin, admin, "/mentors")
    choice = tg.last(admin)
    assert choice.content == "Mentors of which programme?"
    assert choice.buttons == [PROGRAMME, OMSK]
    await tg.press(admin, choice, OMSK)
    assert tg.message(choice).content == (
        f"«{OMSK}» has no mentors yet. Invite one: /invite mentor legal grants"
    )
    await tg.send(admin, admin, "/mentors")
    await tg.press(admin, tg.last(admin), PROGRAMME)
    assert f"Mentors of «{PROGRAMME}»: 1 active" in tg.last(admin).content
    assert tg.last(admin).buttons == ["Irina (0/5)"]
