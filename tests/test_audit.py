"""The audit trail: grants, removals, registrations, reassignments, cancellations and exports."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain import audit
from bot.sandbox.emulator.client import TelegramClient
from models import AuditAction, AuditEntry, Person
from tests.conftest import World
from tests.ticket_steps import ask, card


async def entries(db: async_sessionmaker[AsyncSession]) -> list[AuditEntry]:
    async with db() as session:
        return list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())


async def test_each_governed_action_is_recorded_with_who_and_when(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    await world.mentor("Sergey", "legal", language="en")
    first = await ask(tg, olga, group, "How do I register an NGO?")
    second = await ask(tg, olga, group, "Which contract do we sign with the landlord?")
    await tg.press(irina, card(tg, irina, first), "Claim")

    await tg.send(coordinator, coordinator, f"/assign {first}")
    await tg.press(coordinator, tg.last(coordinator), "Sergey (0/5)")
    await tg.send(coordinator, coordinator, f"/ticket {second}")
    view = tg.last(coordinator)
    await tg.press(coordinator, view, "Cancel request")
    await tg.press(coordinator, tg.message(view), f"Yes, cancel #{second}")
    await tg.send(coordinator, coordinator, "/export week")

    trail = await entries(db)
    assert [e.action for e in trail] == [
        AuditAction.group_registered,
        AuditAction.role_granted,  # Natalia, coordinator
        AuditAction.role_granted,  # Irina, mentor
        AuditAction.role_granted,  # Sergey, mentor
        AuditAction.ticket_reassigned,
        AuditAction.ticket_cancelled,
        AuditAction.exported,
    ]
    async with db() as session:
        people = {p.id: p.first_name for p in (await session.execute(select(Person))).scalars()}
    registered, natalia, irina_granted, _sergey, reassigned, cancelled, exported = trail
    assert people[registered.actor_id or 0] == "Админ"
    assert registered.details["group"] == "Луганская группа"
    assert (people[natalia.actor_id or 0], people[natalia.person_id or 0]) == ("Админ", "Natalia")
    assert natalia.details["role"] == "coordinator"
    assert irina_granted.details == {
        "role": "mentor",
        "topics": ["legal"],
        "invitation": irina_granted.details["invitation"],
    }
    assert people[reassigned.actor_id or 0] == "Natalia"
    assert people[reassigned.person_id or 0] == "Sergey" and reassigned.ticket_id == first
    assert cancelled.ticket_id == second and cancelled.details == {"by_author": False}
    assert people[exported.actor_id or 0] == "Natalia" and exported.details["period"] == "week"
    programme_id = registered.programme_id
    assert all(e.created_at is not None and e.programme_id == programme_id for e in trail)

    await tg.send(world.admin, world.admin, "/lang en")
    await tg.send(world.admin, world.admin, "/audit")
    shown = tg.last(world.admin).content
    assert shown.startswith("Audit trail: the latest 7 entries, newest first.")
    lines = shown.splitlines()[1:]
    assert "Natalia exported «Школа социального предпринимательства на Донбассе» (week)" in lines[0]
    assert lines[0].endswith(": 2 requests")
    assert f"Natalia cancelled request #{second}" in lines[1]
    assert f"Natalia gave request #{first} to Sergey" in lines[2]
    assert "Админ made Irina a mentor of «Школа" in lines[4]
    assert "Админ made Natalia a coordinator of" in lines[5]
    assert "Админ registered the group «Луганская группа» to «Школа" in lines[6]

    await tg.send(world.admin, world.admin, "/audit 2")
    assert len(tg.last(world.admin).content.splitlines()) == 3
    await tg.send(world.admin, world.admin, "/audit all")
    assert "Usage: /audit [N]" in tg.last(world.admin).content


async def test_only_admins_read_the_trail(world: World, tg: TelegramClient) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    for person in (coordinator, irina, olga):
        await tg.send(person, person, "/audit")
        assert tg.last(person).content == "The audit trail is for the bot's admins."
    await tg.send(world.admin, group, "/audit")
    assert "только в личных сообщениях" in tg.last(group).content


def test_the_number_shown_is_bounded() -> None:
    assert audit.clamp(None) == audit.DEFAULT_SHOWN
    assert audit.clamp(0) == audit.DEFAULT_SHOWN
    assert audit.clamp(7) == 7
    assert audit.clamp(10_000) == audit.MAX_SHOWN
