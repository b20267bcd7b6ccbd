"""Gettext catalogues (Russian by default, English, Polish), compiled from ``bot/locales``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


def compile_catalogs(path: Path = LOCALES_DIR) -> None:
    """Write ``.mo`` files next to ``.po`` files that are newer, so a checkout needs no build."""
    for po_path in path.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        # A file of its own to write, then renamed into place: several processes starting at
        # once (tests, replicas) may compile the same catalogue, and each rename is whole.
        with tempfile.NamedTemporaryFile(
            "wb", dir=mo_path.parent, prefix=f".{DOMAIN}-", suffix=".mo", delete=False
        ) as mo_file:
            write_mo(mo_file, catalog)
        Path(mo_file.name).replace(mo_path)


def create_i18n(default_locale: str = "ru") -> I18n:
    compile_catalogs()
    return I18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)


@contextmanager
def locale(i18n: I18n, language: str) -> Iterator[None]:
    """Render text in a language outside an update, e.g. in a scheduled job."""
    with i18n.context(), i18n.use_locale(language):
        yield
