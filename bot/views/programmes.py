"""How a programme's groups hear the bot (``/replies``), in the reader's words."""

from __future__ import annotations

import html

from aiogram.utils.i18n import gettext as _

from models import Programme

# What a coordinator may write after /replies, in each language the bot speaks.
QUIET_WORDS = frozenset({"quiet", "тихо", "cicho"})
VISIBLE_WORDS = frozenset({"visible", "всем", "wszystkim"})


def replies_state(programme: Programme) -> str:
    title = html.escape(programme.title)
    if programme.quiet_groups:
        return _(
            "«{title}»: quiet groups. What concerns one person (the acknowledgement, "
            "confirmations, refusals, the rating request) reaches that person alone; everyone "
            "sees the mentors' answers and meeting announcements, and each request shows its "
            "state as a reaction: 👀 received, ✍ taken, 👌 resolved."
        ).format(title=title)
    return _("«{title}»: every reply of the bot is visible to the whole group.").format(title=title)


def replies_usage() -> str:
    return _(
        "/replies quiet: what concerns one person goes to that person alone.\n"
        "/replies visible: every reply is posted for the whole group."
    )
