"""The recommended allocation as a CSV an allocator can open in a spreadsheet, safely.

Spreadsheets run a cell that starts with = + - @ (or a tab / carriage return before one) as a formula, so a
programme name like `=HYPERLINK(...)` in someone's data could execute on the allocator's machine (OWASP "CSV
injection"). Every text cell that could start a formula gets a leading apostrophe; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("program_id", "current_funding", "recommended_funding", "change", "change_pct", "lower_limit",
           "upper_limit", "expected_reliable_improvements", "interval_lower", "interval_upper",
           "marginal_gain_per_1000", "flags")


def safe_cell(value: Any) -> Any:
    """Numbers pass through; text that a spreadsheet would evaluate is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def allocation_rows(result: dict[str, Any]) -> Iterable[list[Any]]:
    for row in result["allocations"]:
        interval = row.get("expected_reliable_improvements") or {}
        yield [row["program_id"], row["current_funding"], row["recommended_funding"], row["change"],
               row.get("change_pct"), row["lower_limit"], row["upper_limit"], interval.get("value"),
               interval.get("lower"), interval.get("upper"), row.get("marginal_gain_per_1000"),
               ";".join(row.get("flags") or [])]


def allocation_csv(result: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in allocation_rows(result):
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()
