"""How the audit trail reads in ``/audit``: one line per entry, in the reader's language."""

from __future__ import annotations

import html
from typing import Any

from aiogram.utils.i18n import gettext as _

from bot.domain.audit import AuditLine
from bot.views.tickets import when
from models import AuditAction, Person, RoleKind

# Telegram's limit is 4096 characters; a long trail is split into several messages.
MESSAGE_LIMIT = 3800


def _who(person: Person | None) -> str:
    return html.escape(person.display_name) if person is not None else _("the bot")


def _role(value: Any) -> str:
    titles = {
        RoleKind.activist.value: _("activist"),
        RoleKind.mentor.value: _("mentor"),
        RoleKind.coordinator.value: _("coordinator"),
    }
    return titles.get(str(value), html.escape(str(value)))


def _numbers(values: Any) -> str:
    if not isinstance(values, list) or not values:
        return "—"
    return ", ".join(f"#{int(n)}" for n in values)


def audit_text(line: AuditLine) -> str:
    """What happened, without the time: «Наталья deactivated mentor Ирина in «…»»."""
    entry, details = line.entry, line.entry.details or {}
    who = _who(line.actor)
    person = html.escape(line.person.display_name) if line.person is not None else "—"
    programme = html.escape(line.programme.title) if line.programme is not None else "—"
    ticket = f"#{entry.ticket_id}" if entry.ticket_id is not None else "#?"
    action = entry.action
    if action == AuditAction.role_granted:
        if details.get("reactivated"):
            return _("{who} reactivated {person} as a mentor of «{programme}»").format(
                who=who, person=person, programme=programme
            )
        return _("{who} made {person} a {role} of «{programme}» (invitation)").format(
            who=who, person=person, role=_role(details.get("role")), programme=programme
        )
    if action == AuditAction.role_removed:
        return _(
            "{who} deactivated {role} {person} in «{programme}»; back in the queue: {numbers}"
        ).format(
            who=who,
            role=_role(details.get("role")),
            person=person,
            programme=programme,
            numbers=_numbers(details.get("returned")),
        )
    if action == AuditAction.mentor_changed:
        if "capacity" in details:
            return _("{who} set the capacity of mentor {person} to {capacity}").format(
                who=who, person=person, capacity=int(details["capacity"])
            )
        topics = ", ".join(html.escape(str(t)) for t in details.get("topics") or []) or "—"
        return _("{who} set the topics of mentor {person}: {topics}").format(
            who=who, person=person, topics=topics
        )
    if action == AuditAction.topics_changed:
        sentences = {
            "added": _("{who} added topics to «{programme}»: {topics}"),
            "renamed": _("{who} renamed topics of «{programme}»: {topics}"),
            "hashtags": _("{who} set the hashtags of topics of «{programme}»: {topics}"),
            "keywords": _("{who} set the keywords of topics of «{programme}»: {topics}"),
            "archived": _("{who} archived topics of «{programme}»: {topics}"),
            "restored": _("{who} restored topics of «{programme}»: {topics}"),
            "moved": _("{who} moved topics of «{programme}»: {topics}"),
        }
        sentence = sentences.get(str(details.get("change")), sentences["renamed"])
        topics = ", ".join(html.escape(str(t)) for t in details.get("topics") or []) or "—"
        return sentence.format(who=who, programme=programme, topics=topics)
    if action == AuditAction.group_registered:
        return _("{who} registered the group «{group}» to «{programme}»").format(
            who=who, group=html.escape(str(details.get("group") or "?")), programme=programme
        )
    if action == AuditAction.ticket_reassigned:
        return _("{who} gave request {ticket} to {person}").format(
            who=who, ticket=ticket, person=person
        )
    if action == AuditAction.ticket_cancelled:
        return _("{who} cancelled request {ticket}").format(who=who, ticket=ticket)
    if action == AuditAction.privacy_changed:
        return _privacy(details, who, programme)
    if action in _SWITCHES:
        # Extra names a sentence does not use are ignored by format.
        return _switched(action, details).format(
            who=who,
            programme=programme,
            filter=html.escape(str(details.get("filter") or "")),
            people=int(details.get("people") or 0),
        )
    return _("{who} exported «{programme}» ({period}): {tickets} requests").format(
        who=who,
        programme=programme,
        period=html.escape(str(details.get("period") or "")),
        tickets=int(details.get("tickets") or 0),
    )


_SWITCHES = (
    AuditAction.triage_changed,
    AuditAction.replies_changed,
    AuditAction.register_viewed,
)


def _privacy(details: dict[str, Any], who: str, programme: str) -> str:
    """A change of a programme's consent notice or of its health topics."""
    change = str(details.get("change"))
    version = int(details.get("version") or 0)
    topics = ", ".join(html.escape(str(t)) for t in details.get("topics") or []) or "—"
    if change == "operator":
        text = _("{who} set who keeps the data of «{programme}» (notice version {version})")
    elif change == "notice":
        text = _("{who} set the notice of «{programme}» (version {version})")
    elif change == "default":
        text = _("{who} returned «{programme}» to the default notice (version {version})")
    elif change == "health":
        text = _("{who} marked topics of «{programme}» as health: {topics}")
    else:
        text = _("{who} unmarked topics of «{programme}» as health: {topics}")
    return text.format(who=who, programme=programme, version=version, topics=topics)


def _switched(action: AuditAction, details: dict[str, Any]) -> str:
    """A programme's switch turned, or its register read, as a sentence with {who} and
    {programme}."""
    if action == AuditAction.register_viewed:
        if details.get("filter"):
            return _("{who} viewed the register of «{programme}» ({filter}): {people} people")
        return _("{who} viewed the register of «{programme}»: {people} people")
    if action == AuditAction.replies_changed:
        if details.get("quiet"):
            return _("{who} made the groups of «{programme}» quiet")
        return _("{who} made every reply in the groups of «{programme}» visible")
    if details.get("triage"):
        return _("{who} turned triage on in «{programme}»")
    return _("{who} turned triage off in «{programme}»")


def audit_lines(lines: list[AuditLine], zone_name: str) -> list[str]:
    return [f"{when(line.entry.created_at, zone_name)} · {audit_text(line)}" for line in lines]


def audit_messages(lines: list[AuditLine], zone_name: str) -> list[str]:
    """The trail, newest first, cut into messages that fit Telegram's limit."""
    if not lines:
        return [_("The audit trail is empty so far.")]
    heading = _("Audit trail: the latest {count} entries, newest first.").format(count=len(lines))
    messages: list[str] = []
    current = heading
    for text in audit_lines(lines, zone_name):
        if len(current) + len(text) + 1 > MESSAGE_LIMIT:
            messages.append(current)
            current = text
        else:
            current += "\n" + text
    messages.append(current)
    return messages
