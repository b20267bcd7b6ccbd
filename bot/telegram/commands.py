"""The command menu: which commands exist, for whom, and their descriptions in each language.

``/help`` and the menu Telegram shows next to the input field both read this one list, so a
feature adds its commands here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

from bot.domain.access import Actor
from bot.i18n import locale
from bot.languages import LANGUAGES
from models import RoleKind

EVERYONE = "everyone"
ADMIN = "admin"


@dataclass(frozen=True)
class Command:
    name: str
    description: LazyProxy
    audience: frozenset[str]
    private: bool = True
    group: bool = False
    # What the command does for those who manage the programme, where it does more for them.
    for_coordinators: LazyProxy | None = None

    def described_for(self, actor: Actor) -> str:
        """The description in ``/help``: each person reads only what they can do."""
        manages = actor.is_admin or RoleKind.coordinator in actor.kinds()
        if manages and self.for_coordinators is not None:
            return str(self.for_coordinators)
        return str(self.description)

    def allowed(self, actor: Actor) -> bool:
        if EVERYONE in self.audience:
            return True
        if ADMIN in self.audience and actor.is_admin:
            return True
        return any(kind.value in self.audience for kind in actor.kinds())


def _for(*who: str) -> frozenset[str]:
    return frozenset(who)


COMMANDS: list[Command] = [
    Command("start", __("start the bot or accept an invitation"), _for(EVERYONE)),
    Command("help", __("what you can do here"), _for(EVERYONE), group=True),
    Command(
        "topics",
        __("topics and their hashtags"),
        _for(EVERYONE),
        group=True,
        for_coordinators=__("topics and their hashtags; change them in private"),
    ),
    Command("lang", __("language: Russian, English or Polish"), _for(EVERYONE), group=True),
    Command("tz", __("your time zone, e.g. /tz Omsk"), _for(EVERYONE), group=True),
    Command("profile", __("your town and organisation"), _for(EVERYONE)),
    Command("mydata", __("what the bot keeps about you, as a file"), _for(EVERYONE)),
    Command("forget", __("erase everything the bot keeps about you"), _for(EVERYONE)),
    Command(
        "register",
        __("bind this group to a programme"),
        _for(ADMIN, RoleKind.coordinator.value),
        private=False,
        group=True,
    ),
    Command(
        "invite",
        __("invite a mentor: /invite mentor legal grants, or /invite general"),
        _for(ADMIN, RoleKind.coordinator.value),
        group=True,
    ),
    Command(
        "triage",
        __("general consultants first, then specialists: /triage on|off"),
        _for(ADMIN, RoleKind.coordinator.value),
        group=True,
    ),
    Command(
        "programmes", __("programmes and their groups"), _for(ADMIN, RoleKind.coordinator.value)
    ),
    Command(
        "replies",
        __("quiet groups, or every reply visible: /replies quiet|visible"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "privacy",
        __("who keeps the data and the consent notice: /privacy operator|notice|default"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "consultations",
        __("the week's consultations: /consultations next"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command("newprogramme", __("create a programme: /newprogramme Title"), _for(ADMIN)),
    Command("ask", __("ask the mentors: /ask your question"), _for(EVERYONE), group=True),
    Command("new", __("a new request, step by step"), _for(EVERYONE)),
    Command("my", __("your requests"), _for(EVERYONE)),
    Command("ticket", __("a request's history: /ticket 42"), _for(EVERYONE)),
    Command("queue", __("open requests on your topics"), _for(RoleKind.mentor.value)),
    Command("reply", __("answer a request: /reply 42 text"), _for(RoleKind.mentor.value)),
    Command(
        "escalate",
        __("pass a request to a specialist: /escalate 42 legal note"),
        _for(RoleKind.mentor.value),
    ),
    Command("hours", __("your office hours: /hours Mon 18:00-20:00"), _for(RoleKind.mentor.value)),
    Command(
        "noshow", __("nobody came to a booked consultation: /noshow 7"), _for(RoleKind.mentor.value)
    ),
    Command(
        "resolve",
        __("mark a request resolved: /resolve 42"),
        _for(RoleKind.mentor.value, RoleKind.coordinator.value, ADMIN),
    ),
    Command(
        "tickets",
        __("all requests: /tickets [status] [topic]"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "assign",
        __("give a request to a mentor: /assign 42"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "stats",
        __("figures and a chart: /stats [week|month|quarter|all]"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "export",
        __("requests as XLSX and CSV files: /export [period]"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "report",
        __("a PDF report for funders: /report [period]"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "people",
        __("the programme's people: /people [town|organisation|topic]"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command(
        "mentors",
        __("mentors: topics, capacity, load"),
        _for(ADMIN, RoleKind.coordinator.value),
    ),
    Command("audit", __("who did what: /audit [N]"), _for(ADMIN)),
    Command(
        "schedule",
        __("schedule a video conference: /schedule 27.02 15:00 Title"),
        _for(ADMIN, RoleKind.coordinator.value, RoleKind.mentor.value),
        group=True,
    ),
    Command("meetings", __("upcoming meetings, in your time zone"), _for(EVERYONE), group=True),
    Command(
        "reschedule",
        __("move a meeting: /reschedule 7 28.02 16:00"),
        _for(ADMIN, RoleKind.coordinator.value, RoleKind.mentor.value),
        group=True,
    ),
    Command(
        "cancel_meeting",
        __("cancel a meeting: /cancel_meeting 7"),
        _for(ADMIN, RoleKind.coordinator.value, RoleKind.mentor.value),
        group=True,
    ),
]


def commands_for(actor: Actor, *, private: bool) -> list[Command]:
    return [
        command
        for command in COMMANDS
        if command.allowed(actor) and (command.private if private else command.group)
    ]


async def publish_commands(bot: Bot, i18n: I18n) -> None:
    """Set the command menu in every language (the default one for all others), for private chats
    and groups."""
    for language in LANGUAGES:
        with locale(i18n, language):
            private = [
                BotCommand(command=c.name, description=str(c.description))
                for c in COMMANDS
                if c.private and EVERYONE in c.audience
            ]
            group = [
                BotCommand(command=c.name, description=str(c.description))
                for c in COMMANDS
                if c.group
            ]
        code = None if language == i18n.default_locale else language
        await bot.set_my_commands(
            private, scope=BotCommandScopeAllPrivateChats(), language_code=code
        )
        await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(), language_code=code)
