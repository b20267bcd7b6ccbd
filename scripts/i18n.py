"""Maintain the gettext catalogues: ``extract``, ``fill ru FILE.json``, ``check``.

``extract`` collects every translatable string from bot/ and handlers/ into messages.pot and
updates the Russian and English catalogues; ``fill`` merges translations given as a JSON object
{msgid: translation}; ``check`` lists strings still untranslated in Russian and exits 1 if any.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "bot" / "locales"
POT = LOCALES / "messages.pot"
BABEL = [sys.executable, "-m", "babel.messages.frontend"]


def _catalog_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def extract() -> None:
    subprocess.run(
        [*BABEL, "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_", "-k", "__",
         "-k", "lazy_gettext", "--no-location", "--sort-output", "--project=MentorDesk",
         "-o", str(POT), str(ROOT)],
        check=True,
    )  # fmt: skip
    for language in ("ru", "en"):
        subprocess.run(
            [*BABEL, "update", "-i", str(POT), "-d", str(LOCALES), "-l", language,
             "--no-fuzzy-matching", "--ignore-obsolete"],
            check=True,
        )  # fmt: skip


def fill(language: str, source: Path) -> None:
    translations: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    path = _catalog_path(language)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    unknown = [msgid for msgid in translations if msgid not in catalog]
    for message in catalog:
        if message.id and message.id in translations:
            message.string = translations[message.id]
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False)
    if unknown:
        print("not in the catalogue (run extract first):", *unknown, sep="\n  ")  # noqa: T201


def untranslated(language: str = "ru") -> list[str]:
    with _catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return [str(m.id) for m in catalog if m.id and (not m.string or "fuzzy" in m.flags)]


def main(argv: list[str]) -> int:
    match argv:
        case ["extract"]:
            extract()
        case ["fill", language, source]:
            fill(language, Path(source))
        case ["check"]:
            missing = untranslated()
            for msgid in missing:
                print("untranslated:", msgid)  # noqa: T201
            return 1 if missing else 0
        case _:
            print(__doc__)  # noqa: T201
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
