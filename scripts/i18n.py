"""Maintain the gettext catalogues: ``extract``, ``init LANG``, ``fill LANG FILE.json``, ``check``.

``extract`` collects every translatable string from bot/ and handlers/ into messages.pot and
updates every catalogue under bot/locales (ru, en, pl); ``init`` starts a catalogue for a new
language; ``fill`` merges translations given as a JSON object {msgid: translation}; ``check``
lists every problem and exits 1 if there is any: a string of the code missing from messages.pot
or from a catalogue, a string left untranslated (English is the language of the msgids, so its
catalogue may leave them empty), or a translation whose placeholders ({name}, %(name)s) or HTML
tags differ from its msgid's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "bot" / "locales"
POT = LOCALES / "messages.pot"
BABEL = [sys.executable, "-m", "babel.messages.frontend"]
# The msgids are English: an empty English msgstr shows the msgid itself.
SOURCE_LANGUAGE = "en"
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:[:!][^{}]*)?\}|%\(\w+\)[sd]")
TAG = re.compile(r"</?[a-z]+(?:\s[^<>]*)?>")


def _catalog_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def languages() -> list[str]:
    """Every language with a catalogue."""
    return sorted(path.parent.parent.name for path in LOCALES.glob("*/LC_MESSAGES/messages.po"))


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _extract_to(target: Path) -> None:
    subprocess.run(
        [*BABEL, "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_", "-k", "__",
         "-k", "lazy_gettext", "--no-location", "--sort-output", "--project=MentorDesk",
         "-o", str(target), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip


def extract() -> None:
    _extract_to(POT)
    for language in languages():
        subprocess.run(
            [*BABEL, "update", "-i", str(POT), "-d", str(LOCALES), "-l", language,
             "--no-fuzzy-matching", "--ignore-obsolete"],
            check=True,
        )  # fmt: skip


def init(language: str) -> None:
    subprocess.run(
        [*BABEL, "init", "-i", str(POT), "-d", str(LOCALES), "-l", language], check=True
    )  # fmt: skip


def fill(language: str, source: Path) -> None:
    translations: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    path = _catalog_path(language)
    catalog = _read(path, language)
    unknown = [msgid for msgid in translations if msgid not in catalog]
    for message in catalog:
        if message.id and message.id in translations:
            message.string = translations[message.id]
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False)
    if unknown:
        print("not in the catalogue (run extract first):", *unknown, sep="\n  ")  # noqa: T201


def markup_differs(msgid: str, msgstr: str) -> str | None:
    """What a translation lost or gained of its msgid's placeholders and tags, or None."""
    for what, pattern in (("placeholders", PLACEHOLDER), ("HTML tags", TAG)):
        original = sorted(pattern.findall(msgid))
        translated = sorted(pattern.findall(msgstr))
        if original != translated:
            return f"{what} differ ({original} → {translated})"
    return None


def catalogue_problems(language: str, expected: set[str]) -> list[str]:
    """What is wrong with one language's catalogue, given the msgids the code uses."""
    catalog = _read(_catalog_path(language), language)
    problems = []
    ids = {str(message.id) for message in catalog if message.id}
    problems += [
        f"{language}: not in the catalogue (run extract): {m!r}" for m in sorted(expected - ids)
    ]
    for message in catalog:
        if not message.id:
            continue
        msgid, msgstr = str(message.id), str(message.string or "")
        if "fuzzy" in message.flags or (not msgstr and language != SOURCE_LANGUAGE):
            problems.append(f"{language}: untranslated: {msgid!r}")
        elif msgstr and (difference := markup_differs(msgid, msgstr)):
            problems.append(f"{language}: {difference}: {msgid!r}")
    return problems


def problems() -> list[str]:
    """Every problem of messages.pot and the catalogues against the strings in the code."""
    with tempfile.TemporaryDirectory() as folder:
        current = Path(folder) / "messages.pot"
        _extract_to(current)
        in_code = {str(message.id) for message in _read(current) if message.id}
    in_pot = {str(message.id) for message in _read(POT) if message.id}
    found = [f"messages.pot: missing (run extract): {m!r}" for m in sorted(in_code - in_pot)]
    for language in languages():
        found += catalogue_problems(language, in_code)
    return found


def main(argv: list[str]) -> int:
    match argv:
        case ["extract"]:
            extract()
        case ["init", language]:
            init(language)
        case ["fill", language, source]:
            fill(language, Path(source))
        case ["check"]:
            found = problems()
            for problem in found:
                print(problem)  # noqa: T201
            return 1 if found else 0
        case _:
            print(__doc__)  # noqa: T201
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
