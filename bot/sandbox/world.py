"""The sandbox's people and groups, and the programme seeded by driving the bot as they would.

The cast follows the school for social entrepreneurs of the seeds: a programme with a Luhansk
and a Donetsk group, an admin, a coordinator, two legal mentors and a grants mentor in Omsk
(UTC+6), and activists on Moscow time (UTC+3). Seeding does what a real deployment's people
do, through the emulator: the admin adds the bot to the groups and registers them, invites the
coordinator, who invites the mentors; they open their links and set their zones.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser

log = logging.getLogger(__name__)

PROGRAMME = "ШСП на Донбассе"
TOKEN_IN_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")
OMSK = "Asia/Omsk"


class SeedingFailed(RuntimeError):
    """The bot did not answer a seeding step as expected; the message says which."""


@dataclass(eq=False)
class Person:
    """Someone the visitor can act as: their Telegram account and who they are in the story."""

    user: FakeUser
    profile: LazyProxy  # "legal mentor, Omsk (UTC+6)", in the language it is shown in

    @property
    def id(self) -> int:
        return self.user.id


@dataclass
class Cast:
    admin: Person
    coordinator: Person
    lawyers: tuple[Person, Person]
    grants_mentor: Person
    luhansk_activists: tuple[Person, Person]
    donetsk_activist: Person
    luhansk: FakeChat
    donetsk: FakeChat
    people: list[Person] = field(default_factory=list)

    def person(self, user_id: int) -> Person | None:
        return next((p for p in self.people if p.id == user_id), None)


def create_cast(tg: TelegramClient) -> Cast:
    """The accounts and the two groups, as Telegram has them before the bot is added."""

    def person(name: str, profile: LazyProxy, *, language: str = "ru") -> Person:
        return Person(tg.user(name, language=language), profile)

    admin = person("Администратор", __("admin of the bot"))
    coordinator = person("Координатор ШСП", __("programme coordinator"))
    lawyers = (
        person("Юрист 1", __("legal mentor, Omsk (UTC+6)")),
        person("Юрист 2", __("legal mentor, Omsk (UTC+6)")),
    )
    grants_mentor = person("Grants mentor", __("grants mentor, Omsk (UTC+6)"), language="en")
    luhansk_activists = (
        person("Активист из Луганска", __("activist, Luhansk (UTC+3)")),
        person("Активистка из Стаханова", __("activist, Luhansk group (UTC+3)")),
    )
    donetsk_activist = person("Активист из Донецка", __("activist, Donetsk (UTC+3)"))
    luhansk = tg.group(
        "Луганская группа ШСП",
        members=(coordinator.user, *(p.user for p in luhansk_activists)),
        admins=(admin.user,),
    )
    donetsk = tg.group(
        "Донецкая группа ШСП",
        members=(coordinator.user, donetsk_activist.user),
        admins=(admin.user,),
    )
    cast = Cast(
        admin=admin,
        coordinator=coordinator,
        lawyers=lawyers,
        grants_mentor=grants_mentor,
        luhansk_activists=luhansk_activists,
        donetsk_activist=donetsk_activist,
        luhansk=luhansk,
        donetsk=donetsk,
    )
    cast.people = [
        admin,
        coordinator,
        *lawyers,
        grants_mentor,
        *luhansk_activists,
        donetsk_activist,
    ]
    return cast


def _expect(message: FakeMessage, pattern: str, step: str) -> re.Match[str]:
    found = re.search(pattern, message.content)
    if found is None:
        msg = f"{step}: the bot answered {message.content[:200]!r}"
        raise SeedingFailed(msg)
    return found


async def _invitation(tg: TelegramClient, inviter: FakeUser, command: str) -> str:
    await tg.send(inviter, inviter, command)
    found = _expect(tg.last(inviter), TOKEN_IN_LINK.pattern, command)
    return found.group(1)


# «Даю согласие» in each language the cast speaks.
_CONSENT = frozenset({"Даю согласие", "I consent", "Zgadzam się"})


async def _consent(tg: TelegramClient, person: FakeUser, chat: FakeChat | FakeUser) -> None:
    """Answer the programme's notice, when the bot asks (``ASK_CONSENT``)."""
    notice = tg.last(chat)
    button = next((b for b in notice.buttons if b in _CONSENT), None)
    if button is not None:
        await tg.press(person, notice, button)


async def _card_of(tg: TelegramClient, mentor: FakeUser, number: int) -> FakeMessage:
    about = re.compile(rf"#{number}(?!\d)")
    for message in reversed(tg.bot_messages(mentor)):
        if about.search(message.content) and message.buttons:
            return message
    msg = f"no card of #{number} reached {mentor.full_name}"
    raise SeedingFailed(msg)


async def onboard(tg: TelegramClient, cast: Cast) -> None:
    """Groups registered to the programme, the coordinator and the mentors in their roles."""
    admin = cast.admin.user
    await tg.start(admin)
    for group in (cast.luhansk, cast.donetsk):
        await tg.add_bot_to(group, by=admin)
        await tg.send(admin, group, f"/register {PROGRAMME}")
        _expect(tg.last(group), PROGRAMME, "/register")
    token = await _invitation(tg, admin, "/invite coordinator")
    await tg.start(cast.coordinator.user, token)
    await _consent(tg, cast.coordinator.user, cast.coordinator.user)
    coordinator = cast.coordinator.user
    for mentor, topics in (
        (cast.lawyers[0], "legal"),
        (cast.lawyers[1], "legal"),
        (cast.grants_mentor, "grants"),
    ):
        token = await _invitation(tg, coordinator, f"/invite mentor {topics}")
        await tg.start(mentor.user, token)
        await _consent(tg, mentor.user, mentor.user)
        await tg.send(mentor.user, mentor.user, f"/tz {OMSK}")
    for activist in (*cast.luhansk_activists, cast.donetsk_activist):
        await tg.start(activist.user)


async def first_weeks(tg: TelegramClient, cast: Cast, now: datetime) -> None:
    """A request answered and rated, and a video conference announced: something to look at."""
    activist = cast.donetsk_activist.user
    mentor = cast.grants_mentor.user
    await tg.send(
        activist,
        cast.donetsk,
        "/ask #гранты Где найти конкурс Фонда президентских грантов для АНО, и когда приём заявок?",
    )
    await _consent(tg, activist, cast.donetsk)
    number = int(_expect(tg.last(cast.donetsk), r"#(\d+)", "/ask").group(1))
    card = await _card_of(tg, mentor, number)
    await tg.press(mentor, card, card.buttons[0])
    await tg.send(
        mentor,
        mentor,
        "Конкурсы объявляются на сайте президентскиегранты.рф; весенний приём заявок обычно "
        "идёт с января по март. Пришлите черновик заявки — посмотрю.",
        reply_to=await _card_of(tg, mentor, number),
    )
    card = await _card_of(tg, mentor, number)
    resolve = next((text for text in card.buttons if text in ("Resolve", "Решено")), None)
    if resolve is not None:
        await tg.press(mentor, card, resolve)
        prompt = tg.last(activist)
        if prompt.buttons:
            await tg.press(activist, prompt, prompt.buttons[-1])
    moscow = now.astimezone(ZoneInfo("Europe/Moscow")) + timedelta(days=3)
    await tg.send(
        cast.coordinator.user,
        cast.luhansk,
        f"/schedule {moscow:%d.%m.%Y} 15:00 MSK Видеоконференция с координаторами "
        "Луганской и Донецкой групп",
    )


async def seed(tg: TelegramClient, cast: Cast, now: datetime) -> None:
    log.info("seeding the programme «%s» through the bot", PROGRAMME)
    await onboard(tg, cast)
    await first_weeks(tg, cast, now)
