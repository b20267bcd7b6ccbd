"""The consent notice, its buttons and ``/privacy``, in the reader's language."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import timedelta

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from models import ConsentKind, Programme, Topic


class ConsentButton(CallbackData, prefix="cs"):
    """«Даю согласие» or «Не даю» to a programme's notice of a version; ``held``, the request
    that waits for the answer in a group (0: none, or the private dialogue's)."""

    yes: bool
    kind: ConsentKind
    programme: int
    version: int
    held: int = 0


def consent_keyboard(
    programme: Programme, kind: ConsentKind, held: int = 0
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for yes, label in ((True, _("I consent")), (False, _("I do not consent"))):
        builder.button(
            text=label,
            callback_data=ConsentButton(
                yes=yes, kind=kind, programme=programme.id, version=programme.notice_version,
                held=held,
            ),
        )  # fmt: skip
    builder.adjust(2)
    return builder.as_markup()


def operator_of(programme: Programme) -> str:
    if programme.privacy_operator:
        return html.escape(programme.privacy_operator)
    return _("the coordinators of «{programme}»").format(programme=html.escape(programme.title))


def default_notice(programme: Programme) -> str:
    return _(
        "<b>Your data in «{programme}»</b>\n"
        "Who keeps it: {operator}.\n"
        "What: your name and username in Telegram, your requests, the conversation with "
        "mentors, consultations and ratings.\n"
        "Why: to bring your request to a mentor, to answer it, and to report to the funders "
        "in figures without names.\n"
        "How long: while the programme runs, unless you withdraw your consent sooner.\n"
        "How to withdraw: send /forget to the bot; your data is erased within 30 days."
    ).format(programme=html.escape(programme.title), operator=operator_of(programme))


def notice_text(programme: Programme) -> str:
    """The programme's notice: its own, or the default one, with who keeps the data."""
    if programme.privacy_notice is None:
        return default_notice(programme)
    return (
        _("<b>Your data in «{programme}»</b>").format(programme=html.escape(programme.title))
        + "\n"
        + _("Who keeps it: {operator}.").format(operator=operator_of(programme))
        + "\n"
        + html.escape(programme.privacy_notice)
    )


def consent_question(
    programme: Programme, kind: ConsentKind, topic: Topic | None = None, language: str = "ru"
) -> str:
    """What a person is asked before their request reaches a mentor."""
    if kind == ConsentKind.health:
        return _(
            "Your request is on «{topic}», about health. Such data is a special category: "
            "«{programme}» handles it only with your explicit consent, shows it to the mentors "
            "of the topic alone and keeps it as its notice says.\n\n"
            "Do you consent to the processing of data about your health? Until you answer, "
            "the request reaches no mentor; if you do not, it is discarded."
        ).format(
            topic=html.escape(topic.title(language)) if topic is not None else "—",
            programme=html.escape(programme.title),
        )
    return (
        notice_text(programme)
        + "\n\n"
        + _(
            "Do you consent to the processing of your personal data? Until you answer, your "
            "request reaches no mentor; if you do not, it is discarded, text included."
        )
    )


def invitation_notice(programme: Programme) -> str:
    """What a new mentor or coordinator reads with their welcome."""
    return (
        notice_text(programme)
        + "\n\n"
        + _("Do you consent to the processing of your personal data?")
    )


def answered_text(kind: ConsentKind, *, given: bool) -> str:
    if not given:
        return _(
            "You did not consent. Nothing was sent to the mentors and the text of your request "
            "is not kept. You can write again whenever you like."
        )
    if kind == ConsentKind.health:
        return _("Thank you: your consent to the processing of health data is recorded.")
    return _("Thank you: your consent is recorded.")


def privacy_state(programme: Programme, health_topics: Sequence[Topic], language: str) -> str:
    """``/privacy`` for one programme: who keeps the data, the notice and its version, the
    health topics."""
    kind = _("default") if programme.privacy_notice is None else _("the programme's own")
    lines = [
        _("«{programme}»: operator {operator}; notice version {version} ({kind}).").format(
            programme=html.escape(programme.title),
            operator=operator_of(programme),
            version=programme.notice_version,
            kind=kind,
        ),
        _("Health topics (explicit consent): {topics}.").format(
            topics=", ".join(html.escape(t.title(language)) for t in health_topics) or "—"
        ),
        "",
        notice_text(programme),
    ]
    return "\n".join(lines)


def retention_text(retention: timedelta | None) -> str:
    """How long the personal content of ended requests is kept (``RETENTION``)."""
    if retention is None:
        return _(
            "Retention: the texts of requests are kept until a person asks to be forgotten "
            "(/forget)."
        )
    return _(
        "Retention: the texts and names of requests ended more than {days} days ago are "
        "erased every day."
    ).format(days=retention.days)


def privacy_usage() -> str:
    return _(
        "/privacy operator Name: who keeps the data.\n"
        "/privacy notice Text: the programme's own notice.\n"
        "/privacy default: back to the default notice.\n"
        "/privacy health code on|off: whether a topic's requests tell of health.\n"
        "A changed operator or notice is asked of everyone again at their next request."
    )
