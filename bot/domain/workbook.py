"""The XLSX file of an export, written with openpyxl in write-only mode.

Imported with the first export (see ``bot.domain.export``), so the bot starts without openpyxl.
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

from bot.domain.export import (
    DATE_FORMAT,
    MAX_COLUMN_WIDTH,
    ExportData,
    ExportText,
    Value,
    consultation_rows,
    meeting_rows,
    printable,
    ticket_rows,
)


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


def _table(workbook: Workbook, title: str, headers: list[str], rows: list[list[Value]]) -> None:
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    for index, header in enumerate(headers, start=1):
        sample = [header, *(row[index - 1] for row in rows[:200])]
        sheet.column_dimensions[get_column_letter(index)].width = _width(sample)
    sheet.append([_cell(sheet, header, bold=True) for header in headers])
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])


def _figures(workbook: Workbook, title: str, rows: list[tuple[list[Value], bool]]) -> None:
    """A sheet of figures: a label in the first column, numbers beside it, bold headings."""
    sheet = workbook.create_sheet(title[:31])
    sheet.column_dimensions["A"].width = 40
    for column in "BCDE":
        sheet.column_dimensions[column].width = 18
    for row, bold in rows:
        sheet.append([_cell(sheet, value, bold=bold) for value in row])


def build_xlsx(data: ExportData, text: ExportText) -> bytes:
    workbook = Workbook(write_only=True)
    _table(workbook, text.tickets_sheet, text.ticket_headers, ticket_rows(data, text))
    _table(workbook, text.meetings_sheet, text.meeting_headers, meeting_rows(data, text))
    _table(
        workbook,
        text.consultations_sheet,
        text.consultation_headers,
        consultation_rows(data, text),
    )
    _figures(workbook, text.consultation_figures_sheet, text.consultation_figures)
    _figures(workbook, text.summary_sheet, text.summary)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
