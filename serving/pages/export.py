"""The recommended allocation as a table an allocator can open in a spreadsheet, safely: what the CSV and the
XLSX downloads share (the rows, rounded as people read them, and the block naming where the plan came from).

Figures are rounded for reading, not for further computation (the JSON answer keeps full precision): money to
whole units, counts of people to one decimal, percentages to one decimal (as percent, -12.5 for a 12.5 % cut).
A gain per extra 1,000 keeps two decimals, since it is often below 0.1 and one decimal would show 0.

Above the table a block of lines starting with `#` names the model version, the constraints in short form and
the date, so a file passed around still says what it is. Spreadsheets run a cell that starts with = + - @ (or a
tab / carriage return before one) as a formula, so a programme name like `=HYPERLINK(...)` in someone's data could
execute on the allocator's machine (OWASP "CSV injection"). Every text cell that could start a formula gets a
leading apostrophe; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from features.contract import GROUPING_COLUMNS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("program_id", "modality", *GROUPING_COLUMNS, "current_funding", "recommended_funding", "units", "unit",
           "change", "change_percent", "lower_limit", "upper_limit", "expected_reliable_improvements",
           "interval_lower", "interval_upper", "marginal_gain_per_1000", "flags")
"""The programme's modality (or budget category) and grouping columns come first, so a spreadsheet can pivot a
clinic x category plan by clinic; `units` and `unit` give a cell funded in whole steps in the units a manager
executes (3, FTE); blank for cells in plain money."""
MONEY_COLUMNS = frozenset({"current_funding", "recommended_funding", "change", "lower_limit", "upper_limit"})
COUNT_COLUMNS = frozenset({"expected_reliable_improvements", "interval_lower", "interval_upper"})
PERCENT_COLUMNS = frozenset({"change_percent"})
GAIN_COLUMNS = frozenset({"marginal_gain_per_1000"})
SHOWN_BOUNDS = 10
"""Per-programme bounds named in the header block; more are counted ("and 40 more")."""


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


def _rounded(value: Any, digits: int, scale: float = 1.0) -> float | int | None:
    if value is None:
        return None
    number = round(float(value) * scale, digits)
    return int(number) if digits == 0 else number + 0.0  # + 0.0: no "-0.0" in the file


def with_programmes(result: dict[str, Any], programmes: Mapping[str, Any]) -> dict[str, Any]:
    """The result with each allocation carrying its programme's `modality` and `groups` (the bundle's programme
    summaries, `programmes[program_id]`), which the recommendation's own answer leaves to /v1/programs."""
    rows = []
    for row in result["allocations"]:
        known = programmes.get(row["program_id"])
        rows.append({**row, "modality": getattr(known, "modality", None),
                     "groups": dict(getattr(known, "groups", None) or {})})
    return {**result, "allocations": rows}


def allocation_rows(result: dict[str, Any]) -> Iterable[list[Any]]:
    """One row per programme in COLUMNS order, rounded for reading."""
    for row in result["allocations"]:
        interval = row.get("expected_reliable_improvements") or {}
        groups = row.get("groups") or {}
        yield [row["program_id"], row.get("modality"), *(groups.get(column) for column in GROUPING_COLUMNS),
               _rounded(row["current_funding"], 0), _rounded(row["recommended_funding"], 0), row.get("units"),
               row.get("unit"), _rounded(row["change"], 0), _rounded(row.get("change_pct"), 1, 100.0),
               _rounded(row["lower_limit"], 0), _rounded(row["upper_limit"], 0),
               _rounded(interval.get("value"), 1), _rounded(interval.get("lower"), 1),
               _rounded(interval.get("upper"), 1), _rounded(row.get("marginal_gain_per_1000"), 2),
               ";".join(row.get("flags") or [])]


def _money(value: float) -> str:
    """Thousands apart by spaces: a comma would make the CSV quote the line, and a reader skipping `#` lines
    would then read it as data."""
    return f"{value:,.0f}".replace(",", " ")


def _share(value: float) -> str:
    return f"{value * 100:.1f} %"


def _bounds(request: dict[str, Any]) -> str:
    named = []
    for program_id, limits in sorted((request.get("programs") or {}).items()):
        if limits.get("locked"):
            text = "locked"
        else:
            low, high = limits.get("min"), limits.get("max")
            text = (f"{_money(low) if low is not None else '0'} to {_money(high) if high is not None else 'any'}"
                    if low is not None or high is not None else "")
            if limits.get("no_decrease"):
                text = f"{text} no decrease" if text else "no decrease"
            if limits.get("step"):
                text = f"{text} in steps of {_money(limits['step'])}" if text else f"steps of {_money(limits['step'])}"
        named.append(f"{program_id} {text or 'as given'}")
    shown = "; ".join(named[:SHOWN_BOUNDS])
    return shown + (f"; and {len(named) - SHOWN_BOUNDS} more" if len(named) > SHOWN_BOUNDS else "")


def _groups(request: dict[str, Any]) -> str:
    parts = []
    for group in request.get("groups") or []:
        limits = [f">= {_share(group['min_share'])}" if group.get("min_share") is not None else "",
                  f"<= {_share(group['max_share'])}" if group.get("max_share") is not None else ""]
        parts.append(f"{group['column']}={group['value']} {' and '.join(x for x in limits if x)}")
    return "; ".join(parts)


def header_lines(result: dict[str, Any], request: dict[str, Any], today: date) -> list[tuple[str, str]]:
    """(label, text) pairs naming the plan's origin: model version, constraints in short form, the date."""
    budget = result.get("budget")
    mode = "exactly" if (request.get("budget_mode") or result.get("budget_mode")) == "exact" else "at most"
    given = "" if request.get("budget") is not None else " (the current total spend)"
    change = request.get("max_change")
    lines = [("model version", str(result.get("model_version", "unknown"))),
             ("forecast period", str((result.get("provenance") or {}).get("forecast_period", "unknown"))),
             ("budget", f"{mode} {_money(budget)}{given}" if budget is not None else "unknown"),
             ("max change per programme", _share(change) if change is not None else "no limit"),
             ("objective", str((request.get("objective") or {}).get("kind", "reliable_improvements")))]
    if request.get("groups"):
        lines.append(("group limits", _groups(request)))
    if request.get("programs"):
        lines.append(("programme bounds", _bounds(request)))
    if request.get("within_observed_range"):
        lines.append(("within observed range", "yes"))
    if request.get("resources"):
        lines.append(("resource limits", f"{len(request['resources'])} (see the request)"))
    lines.append(("date", today.isoformat()))
    return lines


def allocation_csv(result: dict[str, Any], request: dict[str, Any], today: date) -> str:
    """The header block (one `# label: text` cell per line, never quoted, so `pandas.read_csv(comment="#")` and
    similar readers skip it), then the table with its column names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for label, text in header_lines(result, request, today):
        writer.writerow([safe_cell(f"# {label}: {text}".replace(",", ";").replace('"', "'"))])
    writer.writerow(COLUMNS)
    for row in allocation_rows(result):
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()
