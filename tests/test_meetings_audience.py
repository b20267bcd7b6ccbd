"""``/meetings`` in private lists the meetings whose audience includes the reader: those of
their groups, of their requests, those they were invited to; a programme's coordinators see
all of its conferences. A conference of one group is not shown to another group's activists."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.sandbox.emulator.client import TelegramClient
from tests.conftest import World
from tests.schedule_steps import TITLE, announcements_in
from tests.test_schedule_flow import coordinated_groups
from tests.ticket_steps import ask

NONE = "Ближайших встреч нет."


def listing(tg: TelegramClient, person: object) -> str:
    """The text of the last /meetings answer in the person's private chat."""
    return next(m.text for m in reversed(tg.inbox(person)) if m.text)  # type: ignore[arg-type]


async def test_a_groups_conference_is_shown_to_its_members_and_coordinators_only(
    world: World, tg: TelegramClient
) -> None:
    world.clock.set(datetime(2027, 3, 1, 6, tzinfo=UTC))
    olga = tg.user("Ольга", started=True)
    petr = tg.user("Пётр", started=True)
    coordinator, luhansk, donetsk = await coordinated_groups(world)
    luhansk.members[olga.id] = "member"
    donetsk.members[petr.id] = "member"
    await ask(tg, olga, luhansk, "Как зарегистрировать НКО? #юрист")
    await ask(tg, petr, donetsk, "Как подать заявку на грант? #гранты")

    await tg.send(coordinator, luhansk, f"/schedule 05.03.2027 15:00 MSK {TITLE}")
    assert announcements_in(tg, luhansk) and not announcements_in(tg, donetsk)

    await tg.send(olga, olga, "/meetings")
    assert TITLE in listing(tg, olga)
    await tg.send(coordinator, coordinator, "/meetings")
    assert TITLE in listing(tg, coordinator)
    # The Donetsk activist sees nothing of it, in private or in his group.
    await tg.send(petr, petr, "/meetings")
    assert listing(tg, petr) == NONE
    await tg.send(petr, donetsk, "/meetings")
    assert tg.last(donetsk).content == NONE

    # And the other way round: a Donetsk conference is his, not hers.
    await tg.send(coordinator, donetsk, "/schedule 06.03.2027 15:00 MSK Встреча в Донецке")
    await tg.send(petr, petr, "/meetings")
    assert "Встреча в Донецке" in listing(tg, petr) and TITLE not in listing(tg, petr)
    await tg.send(olga, olga, "/meetings")
    assert TITLE in listing(tg, olga) and "Встреча в Донецке" not in listing(tg, olga)
