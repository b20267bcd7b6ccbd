"""The languages the bot speaks, and how Telegram's language codes map onto them."""

from __future__ import annotations

LANGUAGES = ("ru", "en", "pl")
# Each language by its own name, as the /lang buttons show it.
LANGUAGE_NAMES = {"ru": "Русский", "en": "English", "pl": "Polski"}


def spoken(code: str | None) -> str | None:
    """The bot's language for a Telegram language code (``pl``, ``pl-PL``), or None."""
    language = (code or "").split("-")[0].strip().lower()
    return language if language in LANGUAGES else None
