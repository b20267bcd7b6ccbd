"""The catalogues: every string has a Russian translation, and placeholders survive it."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def test_every_message_is_translated_to_russian_with_the_same_placeholders() -> None:
    with (LOCALES_DIR / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ru")
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if not message.string or "fuzzy" in message.flags:
            problems.append(f"untranslated: {message.id!r}")
        elif sorted(PLACEHOLDER.findall(str(message.id))) != sorted(
            PLACEHOLDER.findall(str(message.string))
        ):
            problems.append(f"placeholders differ: {message.id!r}")
    assert problems == []
    assert len(catalog) > 50
