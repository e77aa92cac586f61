"""The recommended allocation as an XLSX workbook: the CSV's header block and table (serving/pages/export.py), with
number formats a CSV cannot carry (thousands separators on money, one decimal on counts and percentages).

openpyxl stores any string starting with `=` as a formula, so text goes through the same `safe_cell` as the CSV
(a leading apostrophe on anything a spreadsheet would evaluate), and characters XML cannot hold are dropped.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from serving.pages.export import (
    COLUMNS,
    COUNT_COLUMNS,
    GAIN_COLUMNS,
    MONEY_COLUMNS,
    PERCENT_COLUMNS,
    allocation_rows,
    header_lines,
    safe_cell,
)

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = "Allocation"
FORMATS = {**dict.fromkeys(MONEY_COLUMNS, "#,##0"), **dict.fromkeys(COUNT_COLUMNS, "0.0"),
           **dict.fromkeys(PERCENT_COLUMNS, "0.0"), **dict.fromkeys(GAIN_COLUMNS, "0.00")}


def _cell(value: Any) -> Any:
    safe = safe_cell(value)
    return ILLEGAL_CHARACTERS_RE.sub("", safe) if isinstance(safe, str) else safe


def allocation_xlsx(result: dict[str, Any], request: dict[str, Any], today: date) -> bytes:
    """One sheet: the header block (label, text) on top, a blank row, then the table with its column names, frozen
    below them and filterable."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = SHEET
    bold = Font(bold=True)
    lines = header_lines(result, request, today)
    for label, text in lines:
        sheet.append([_cell(f"# {label}"), _cell(text)])
        sheet.cell(row=sheet.max_row, column=1).font = bold
    sheet.append([])
    top = len(lines) + 2
    sheet.append(list(COLUMNS))
    for column in range(1, len(COLUMNS) + 1):
        sheet.cell(row=top, column=column).font = bold
    for row in allocation_rows(result):
        sheet.append([_cell(v) for v in row])
    for index, name in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, len(name) + 2)
        if name in FORMATS:
            for (cell,) in sheet.iter_rows(min_row=top + 1, min_col=index, max_col=index):
                cell.number_format = FORMATS[name]
    sheet.column_dimensions["B"].width = max(sheet.column_dimensions["B"].width, 16)
    sheet.freeze_panes = sheet.cell(row=top + 1, column=1)
    sheet.auto_filter.ref = f"A{top}:{get_column_letter(len(COLUMNS))}{sheet.max_row}"
    book.properties.creator = "carealloc"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
