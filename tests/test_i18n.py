"""The catalogues: every string is translated into Russian and Polish, every catalogue holds
every string of messages.pot, and translations keep their msgids' placeholders and HTML tags."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR
from bot.languages import LANGUAGES

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\(\w+\)[sd]")
TAG = re.compile(r"</?[a-z]+[^<>]*>")
TRANSLATED = ("ru", "pl")  # English is the language of the msgids


def _catalog(language: str | None) -> Catalog:
    path = (
        LOCALES_DIR / "messages.pot"
        if language is None
        else LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    )
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _ids(catalog: Catalog) -> set[str]:
    return {str(message.id) for message in catalog if message.id}


def _i18n_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "i18n_script", LOCALES_DIR.parent.parent / "scripts" / "i18n.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_is_a_catalogue_for_every_language_the_bot_offers() -> None:
    found = {path.parent.parent.name for path in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert found == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_holds_every_string_of_the_template(language: str) -> None:
    template = _ids(_catalog(None))
    assert len(template) > 500
    assert _ids(_catalog(language)) == template


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    untranslated = [
        str(message.id)
        for message in _catalog(language)
        if message.id and (not message.string or "fuzzy" in message.flags)
    ]
    assert untranslated == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_placeholders_tags_and_lines(language: str) -> None:
    problems = []
    for message in _catalog(language):
        if not message.id or not message.string:
            continue
        original, translated = str(message.id), str(message.string)
        for what, pattern in (("placeholders", PLACEHOLDER), ("tags", TAG)):
            if Counter(pattern.findall(original)) != Counter(pattern.findall(translated)):
                problems.append(f"{what}: {original!r} -> {translated!r}")
        if original.count("\n") != translated.count("\n"):
            problems.append(f"lines: {original!r} -> {translated!r}")
    assert problems == []


def test_the_check_finds_a_lost_placeholder_or_tag() -> None:
    script = _i18n_script()
    assert script.markup_differs("Request {number} is yours.", "Zgłoszenie jest Twoje.")
    assert script.markup_differs("<b>Ratings</b>: none yet", "Oceny: na razie brak")
    assert script.markup_differs("{n} of %(all)s", "{n} z {all}")
    assert script.markup_differs("<b>By topic</b>", "<b>Według tematów</b>") is None
    assert script.markup_differs("Topic: {topic}", "Temat: {topic}") is None


def test_polish_uses_its_own_words_not_copies_of_the_english() -> None:
    words = {
        PLACEHOLDER.sub("", str(message.id)).strip(" :()")
        for message in _catalog("pl")
        if message.id and message.string == message.id
    }
    # Names that read the same in Polish (a status, a role, a limit) are all that may repeat.
    assert {w for w in words if re.search("[A-Za-z]{4}", w)} <= {
        "Status", "Mentor", "Program", "mentor", "Limit"
    }  # fmt: skip
