"""The XLSX file of an export, written with openpyxl in write-only mode.

Imported with the first export (see ``bot.views.export``), so the bot starts without openpyxl.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.views.sheets import Figures, Table, Value, printable

DATE_FORMAT = "DD.MM.YYYY HH:MM"
MAX_COLUMN_WIDTH = 60


def _cell(sheet: WriteOnlyWorksheet, value: Value, *, bold: bool = False) -> Value | Cell:
    """The value as the sheet gets it: plain when openpyxl writes it right, else a styled cell.

    Wrapping every value in a cell costs a third of the time on big exports, so only text that
    openpyxl would take for a formula, text on several lines, dates and bold cells are wrapped.
    """
    if isinstance(value, str):
        value = printable(value)
        formula = value.startswith("=")
        multiline = "\n" in value
        if not (formula or multiline or bold):
            return value
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # never a formula, whatever the text begins with
        if multiline:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    elif isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
    elif bold:
        cell = WriteOnlyCell(sheet, value=value)
    else:
        return value
    if bold:
        cell.font = Font(bold=True)
    return cell


def _width(values: Sequence[Value]) -> float:
    longest = 0
    for value in values:
        if isinstance(value, datetime):
            longest = max(longest, 16)
        elif value is not None:
            longest = max(longest, *(len(line) for line in str(value).split("\n")))
    return min(MAX_COLUMN_WIDTH, max(8, longest + 2))


def _table(workbook: Workbook, table: Table) -> None:
    sheet = workbook.create_sheet(table.title[:31])
    sheet.freeze_panes = "A2"
    for index, header in enumerate(table.headers, start=1):
        sample = [header, *(row[index - 1] for row in table.rows[:200])]
        sheet.column_dimensions[get_column_letter(index)].width = _width(sample)
    sheet.append([_cell(sheet, header, bold=True) for header in table.headers])
    for row in table.rows:
        sheet.append([_cell(sheet, value) for value in row])


def _figures(workbook: Workbook, figures: Figures) -> None:
    sheet = workbook.create_sheet(figures.title[:31])
    sheet.column_dimensions["A"].width = 40
    for column in "BCDE":
        sheet.column_dimensions[column].width = 18
    for row, bold in figures.rows:
        sheet.append([_cell(sheet, value, bold=bold) for value in row])


def build_xlsx(sheets: Sequence[Table | Figures]) -> bytes:
    """The sheets, in this order, as one workbook."""
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        if isinstance(sheet, Table):
            _table(workbook, sheet)
        else:
            _figures(workbook, sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
