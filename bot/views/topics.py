"""A programme's topics as people see them: the list with hashtags (everyone), and the
coordinator's ``/topics``: the list with buttons, one topic's card, and the answers to
changes that were refused."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.errors import DomainError
from bot.domain.topics import (
    MAX_CODE,
    MAX_KEYWORD,
    MAX_TITLE,
    BadTag,
    BadTitle,
    LastActiveTopic,
    TagTaken,
    TooMany,
    UnknownTopics,
)
from models import Programme, Topic

# The card shows this much of the keywords; a programme's own are much shorter.
KEYWORDS_SHOWN = 1500
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_POLISH_LETTERS = re.compile(r"[ąćęłńóśźż]", re.IGNORECASE)


class TopicsAction(CallbackData, prefix="tp"):
    """programme: pick the programme; list; add; card, up, down, archive, restore, and edit
    (``field``: ru, en, pl, tags, words) of one topic."""

    action: str
    programme: int
    topic: int = 0
    field: str = ""


def tags_of(topic: Topic) -> str:
    tags = [topic.code, *(tag for tag in topic.hashtags if tag != topic.code)]
    return " ".join(f"#{html.escape(tag)}" for tag in tags)


def _written_in(tag: str, language: str) -> bool:
    """Whether a reader of ``language`` would write this hashtag: by its alphabet, since hashtags
    are kept without a language (Cyrillic for Russian; Latin for English and Polish, Polish
    letters for Polish only)."""
    if _CYRILLIC.search(tag):
        return language == "ru"
    if _POLISH_LETTERS.search(tag):
        return language == "pl"
    return language != "ru"


def reader_tags(topic: Topic, language: str) -> str:
    """The code (it always works) and the hashtags in the reader's alphabet: ``#legal #юрист``."""
    tags = [topic.code]
    tags += [tag for tag in topic.hashtags if tag != topic.code and _written_in(tag, language)]
    return " ".join(f"#{html.escape(tag)}" for tag in tags)


def public_list(topics: Sequence[Topic], language: str) -> str:
    """The programme's active topics with the hashtags of the reader's language, for anyone."""
    lines = [
        f"• <b>{html.escape(topic.title(language))}</b> — {reader_tags(topic, language)}"
        for topic in topics
    ]
    return (
        _("Consultation topics. Add a hashtag to your request to choose one:")
        + "\n"
        + "\n".join(lines)
    )


def manage_text(programme: Programme, topics: Sequence[Topic], language: str) -> str:
    active = [topic for topic in topics if topic.active]
    archived = [topic for topic in topics if not topic.active]
    lines = [_("Topics of «{programme}»:").format(programme=html.escape(programme.title))]
    lines += [
        f"{n}. <b>{html.escape(topic.title(language))}</b> — {tags_of(topic)}"
        for n, topic in enumerate(active, start=1)
    ]
    if archived:
        lines.append("")
        lines.append(_("Archived (kept in history and figures):"))
        lines += [f"• {html.escape(topic.title(language))} ({topic.code})" for topic in archived]
    lines.append("")
    lines.append(
        _(
            "Press a topic to rename it, set its hashtags or keywords, move or archive it. "
            "Add one with «Add a topic» or:\n"
            "<code>/topics add code Title</code>\n"
            "Also: <code>/topics archive code code …</code>, <code>/topics restore code</code>."
        )
    )
    # Whether a topic's specialists see a request first, or only when a general consultant
    # passes it on: how the topics are used depends on it.
    lines.append(
        _("Triage is on: general consultants see new requests first. Switch: /triage off")
        if programme.triage
        else _("Triage is off: requests go straight to their topic's mentors. Switch: /triage on")
    )
    return "\n".join(lines)


def manage_keyboard(
    programme_id: int, topics: Sequence[Topic], language: str, *, switch: bool = False
) -> InlineKeyboardMarkup:
    """A button per topic, then «Add a topic», and «Another programme» for a coordinator of
    several (``switch``)."""
    builder = InlineKeyboardBuilder()
    # The active topics in their order, then the archived ones.
    for topic in sorted(topics, key=lambda t: not t.active):
        mark = "" if topic.active else "🗄 "
        builder.button(
            text=(mark + topic.title(language))[:60],
            callback_data=TopicsAction(action="card", programme=programme_id, topic=topic.id),
        )
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(
            text="➕ " + _("Add a topic"),
            callback_data=TopicsAction(action="add", programme=programme_id).pack(),
        )
    )
    if switch:
        builder.row(
            InlineKeyboardButton(
                text="🔀 " + _("Another programme"),
                callback_data=TopicsAction(action="switch", programme=programme_id).pack(),
            )
        )
    return builder.as_markup()


def programme_keyboard(programmes: Sequence[Programme]) -> InlineKeyboardMarkup:
    """A button per programme (the first 20) whose topics to show, one to a row."""
    builder = InlineKeyboardBuilder()
    for programme in programmes[:20]:
        builder.button(
            text=programme.title[:60],
            callback_data=TopicsAction(action="programme", programme=programme.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def card_text(topic: Topic, language: str, *, note: str = "") -> str:
    keywords = ", ".join(topic.keywords)
    if len(keywords) > KEYWORDS_SHOWN:
        keywords = keywords[:KEYWORDS_SHOWN] + "…"
    state = _("offered") if topic.active else _("archived")
    lines = [
        f"<b>{html.escape(topic.title(language))}</b> · {state}",
        _("Code: {code}").format(code=f"<code>{html.escape(topic.code)}</code>"),
        f"ru: {html.escape(topic.title_ru)}",
        f"en: {html.escape(topic.title_en)}",
        f"pl: {html.escape(topic.title_pl)}",
        _("Hashtags: {tags}").format(tags=tags_of(topic)),
        _("Keywords: {words}").format(words=html.escape(keywords) or "—"),
    ]
    if note:
        lines = [note, "", *lines]
    return "\n".join(lines)


def card_keyboard(topic: Topic) -> InlineKeyboardMarkup:
    def action(name: str, field: str = "") -> TopicsAction:
        return TopicsAction(action=name, programme=topic.programme_id, topic=topic.id, field=field)

    builder = InlineKeyboardBuilder()
    builder.button(text="✏️ RU", callback_data=action("edit", "ru"))
    builder.button(text="✏️ EN", callback_data=action("edit", "en"))
    builder.button(text="✏️ PL", callback_data=action("edit", "pl"))
    builder.button(text="# " + _("Hashtags"), callback_data=action("edit", "tags"))
    builder.button(text="🔑 " + _("Keywords"), callback_data=action("edit", "words"))
    builder.button(text="⬆️", callback_data=action("up"))
    builder.button(text="⬇️", callback_data=action("down"))
    if topic.active:
        builder.button(text="🗄 " + _("Archive"), callback_data=action("archive"))
    else:
        builder.button(text="♻️ " + _("Restore"), callback_data=action("restore"))
    builder.button(text="« " + _("All topics"), callback_data=action("list"))
    builder.adjust(3, 2, 2, 1, 1)
    return builder.as_markup()


def edit_prompt(topic: Topic | None, field: str, language: str) -> str:
    """What to send next for a change begun with a button (``topic`` None: a new topic)."""
    if topic is None:
        return _(
            "Send the new topic's code (one word: it is also its hashtag) and its Russian title, "
            "for example:\n<code>спорт Спорт и здоровый образ жизни</code>\nOr /cancel."
        )
    title = html.escape(topic.title(language))
    if field == "tags":
        return _(
            "Send the hashtags of «{topic}», for example: #спорт #sport. They replace the "
            "current ones ({tags}); the code {code} always works as one. Or /cancel."
        ).format(topic=title, tags=tags_of(topic), code=f"#{html.escape(topic.code)}")
    if field == "words":
        return _(
            "Send the keywords of «{topic}», separated by commas: words or word stems that "
            "point to this topic in a request without a hashtag. They replace the current "
            "ones. Send «-» for none, or /cancel."
        ).format(topic=title)
    names = {"ru": _("in Russian"), "en": _("in English"), "pl": _("in Polish")}
    return _(
        "Send the title of «{topic}» {in_language} (up to {limit} characters), or /cancel."
    ).format(topic=title, in_language=names.get(field, field), limit=MAX_TITLE)


def usage(codes: Sequence[str]) -> str:
    return _(
        "Usage:\n"
        "/topics — the topics, with buttons\n"
        "/topics add code Title\n"
        "/topics rename code [ru|en|pl] Title\n"
        "/topics tags code #tag #tag\n"
        "/topics keywords code word, word\n"
        "/topics archive code …, /topics restore code …\n"
        "/topics up code, /topics down code\n"
        "Codes: {codes}"
    ).format(codes=html.escape(", ".join(codes)) or "—")


def refusal(error: DomainError, language: str) -> str:
    """Why a change of topics was refused (and nothing changed)."""
    if isinstance(error, BadTitle):
        if error.empty:
            return _("The title is empty. Send a title of up to {limit} characters.").format(
                limit=MAX_TITLE
            )
        return _("A title is at most {limit} characters.").format(limit=MAX_TITLE)
    if isinstance(error, TagTaken):
        return _(
            "#{tag} already belongs to the topic «{topic}» of this programme. Choose another, "
            "or take it off that topic first."
        ).format(tag=html.escape(error.tag), topic=html.escape(error.topic.title(language)))
    if isinstance(error, BadTag):
        return _(
            "«{word}» cannot be a code, hashtag or keyword: codes and hashtags are one word of "
            "letters, digits and _ (up to {code} characters); a keyword is up to {keyword}."
        ).format(word=html.escape(error.tag), code=MAX_CODE, keyword=MAX_KEYWORD)
    if isinstance(error, LastActiveTopic):
        return _(
            "At least one topic must stay active: add or restore another before archiving "
            "the last one."
        )
    if isinstance(error, TooMany):
        return _("Too many: at most {limit}.").format(limit=error.limit)
    if isinstance(error, UnknownTopics):
        return _("This programme has no topic {codes}.").format(
            codes=html.escape(", ".join(f"«{word}»" for word in error.words))
        )
    return _("This change is not possible.")
