"""The sheets of an exported file as plain values: what ``bot.views.export`` builds and
``bot.views.workbook`` writes, and the text a cell may hold in the CSV and in the workbook alike."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

Value = str | int | float | datetime | None
# The characters openpyxl refuses in a cell (its ILLEGAL_CHARACTERS_RE), dropped from the CSV too.
ILLEGAL_CHARACTERS = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def printable(text: str) -> str:
    """The text without the control characters an XLSX file cannot hold (tab and newline stay)."""
    return ILLEGAL_CHARACTERS.sub("", text)


@dataclass(frozen=True)
class Table:
    """A sheet of rows under a bold row of headers."""

    title: str
    headers: list[str]
    rows: list[list[Value]]


@dataclass(frozen=True)
class Figures:
    """A sheet of figures: a label in the first column, numbers beside it; bold or not, by row."""

    title: str
    rows: list[tuple[list[Value], bool]]
