"""The allocation downloads: rounded as people read them, a header block saying where the plan came from, and no
cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pandas as pd
import pytest

from serving.pages.export import COLUMNS, allocation_csv, header_lines
from serving.sessions import CSRF_HEADER
from tests.serving.test_pages import sign_in

ROW = {"program_id": "P001", "current_funding": 100_000.4, "recommended_funding": 112_345.678, "change": 12_345.278,
       "change_pct": 0.1234567, "lower_limit": 70_000.0, "upper_limit": 130_000.49, "marginal_gain_per_1000": 0.04567,
       "flags": ["at_upper_limit"],
       "expected_reliable_improvements": {"value": 31.26, "lower": 24.04, "upper": 38.951}}
RESULT = {"model_version": "12", "budget": 5_000_000.0, "budget_mode": "exact",
          "provenance": {"forecast_period": "2026-Q1"}, "allocations": [ROW]}
REQUEST = {"budget": 5_000_000, "budget_mode": "exact", "max_change": 0.3, "objective": {"kind": "risk_averse"},
           "groups": [{"column": "region", "value": "rural", "min_share": 0.15, "max_share": None}],
           "programs": {"P002": {"min": 450_000, "max": 700_000}, "P003": {"locked": True}}}


def _split(text: str) -> tuple[list[str], list[list[str]]]:
    lines = list(csv.reader(io.StringIO(text)))
    return [r[0] for r in lines if r[0].startswith("#")], [r for r in lines if not r[0].startswith("#")]


def test_values_are_rounded_money_counts_and_percentages() -> None:
    _, table = _split(allocation_csv(RESULT, REQUEST, date(2026, 3, 4)))
    assert table[0] == list(COLUMNS)
    shown = dict(zip(table[0], table[1], strict=True))
    assert {k: shown[k] for k in ("current_funding", "recommended_funding", "change", "lower_limit", "upper_limit")} \
        == {"current_funding": "100000", "recommended_funding": "112346", "change": "12345",
            "lower_limit": "70000", "upper_limit": "130000"}
    assert (shown["change_percent"], shown["expected_reliable_improvements"], shown["interval_lower"],
            shown["interval_upper"], shown["marginal_gain_per_1000"]) == ("12.3", "31.3", "24.0", "39.0", "0.05")
    assert shown["flags"] == "at_upper_limit"


def test_header_block_names_model_constraints_and_date() -> None:
    header, _ = _split(allocation_csv(RESULT, REQUEST, date(2026, 3, 4)))
    assert header == ["# model version: 12", "# forecast period: 2026-Q1", "# budget: exactly 5 000 000",
                      "# max change per programme: 30.0 %", "# objective: risk_averse",
                      "# group limits: region=rural >= 15.0 %",
                      "# programme bounds: P002 450 000 to 700 000; P003 locked", "# date: 2026-03-04"]
    defaults = dict(header_lines({**RESULT, "budget_mode": "at_most"}, {"budget_mode": "at_most"}, date(2026, 3, 4)))
    assert defaults["budget"] == "at most 5 000 000 (the current total spend)"
    assert defaults["max change per programme"] == "no limit" and "group limits" not in defaults
    many = {"programs": {f"P{i:03d}": {"min": 1000} for i in range(15)}}
    assert dict(header_lines(RESULT, many, date(2026, 3, 4)))["programme bounds"].endswith("; and 5 more")


def test_header_lines_are_skipped_by_a_comment_aware_reader_and_never_start_a_formula() -> None:
    hostile = {**RESULT, "model_version": "=1+1", "allocations": [{**ROW, "program_id": "@SUM(A1)",
                                                                   "flags": ["=cmd"]}]}
    text = allocation_csv(hostile, {**REQUEST, "groups": [{"column": "a,b", "value": '"=x"', "min_share": 0.1}]},
                          date(2026, 3, 4))
    for line in text.split("\r\n")[:8]:
        assert line.startswith("#"), line  # never quoted: no comma or quote survives in the block
    table = pd.read_csv(io.StringIO(text), comment="#")
    assert list(table.columns) == list(COLUMNS)
    assert table.loc[0, "program_id"] == "'@SUM(A1)" and table.loc[0, "flags"] == "'=cmd"


def test_csv_download_carries_the_header_and_rounded_values(client: Any, keys: Any) -> None:
    token = sign_in(client, keys, "allocator")
    body = {"max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.1}]}
    response = client.post("/pages/allocator/allocation.csv", json=body, headers={CSRF_HEADER: token})
    assert response.status_code == 200, response.text
    header, _ = _split(response.text)
    assert header[0] == "# model version: 7" and "# max change per programme: 30.0 %" in header
    assert "# group limits: region=rural >= 10.0 %" in header and header[-1].startswith("# date: 20")
    table = pd.read_csv(io.StringIO(response.text), comment="#")
    assert (table["recommended_funding"] == table["recommended_funding"].round()).all()
    assert (table["expected_reliable_improvements"] * 10 == (table["expected_reliable_improvements"] * 10).round()
            ).all()
    assert table["change_percent"].abs().max() <= 30.0 + 0.05
    assert table["recommended_funding"].sum() == pytest.approx(table["current_funding"].sum(), abs=len(table))


def _workbook(content: bytes) -> tuple[dict[str, Any], list[list[Any]], Any]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content))["Allocation"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    top = next(i for i, r in enumerate(rows) if r[0] == "program_id")
    header = {str(r[0]).removeprefix("# "): r[1] for r in rows[:top] if r[0] is not None}
    return header, rows[top:], sheet


def test_workbook_holds_the_header_the_rounded_values_and_number_formats() -> None:
    from serving.pages.workbook import allocation_xlsx

    hostile = {**RESULT, "allocations": [ROW, {**ROW, "program_id": "=HYPERLINK(\"http://x\")", "flags": ["+1"]}]}
    header, table, sheet = _workbook(allocation_xlsx(hostile, REQUEST, date(2026, 3, 4)))
    assert header == dict(header_lines(hostile, REQUEST, date(2026, 3, 4)))
    assert header["model version"] == "12" and header["date"] == "2026-03-04"
    assert table[0] == list(COLUMNS)
    shown = dict(zip(table[0], table[1], strict=True))
    assert (shown["recommended_funding"], shown["change"], shown["change_percent"],
            shown["expected_reliable_improvements"], shown["marginal_gain_per_1000"]) == (112346, 12345, 12.3, 31.3,
                                                                                          0.05)
    assert table[2][0] == "'=HYPERLINK(\"http://x\")" and table[2][-1] == "'+1"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula anywhere
    top = len(header) + 2
    formats = {sheet.cell(row=top, column=i).value: sheet.cell(row=top + 1, column=i).number_format
               for i in range(1, len(COLUMNS) + 1)}
    assert formats["recommended_funding"] == "#,##0" and formats["expected_reliable_improvements"] == "0.0"
    assert formats["change_percent"] == "0.0" and formats["program_id"] == "General"
    assert sheet.freeze_panes == f"A{top + 1}"


def test_xlsx_download(client: Any, keys: Any) -> None:
    token = sign_in(client, keys, "allocator")
    response = client.post("/pages/allocator/allocation.xlsx", json={"max_change": 0.3},
                           headers={CSRF_HEADER: token})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert 'filename="allocation-model-v7.xlsx"' in response.headers["content-disposition"]
    header, table, _ = _workbook(response.content)
    assert header["model version"] == "7" and header["max change per programme"] == "30.0 %"
    frame = pd.DataFrame(table[1:], columns=table[0])
    csv_table = pd.read_csv(io.StringIO(client.post("/pages/allocator/allocation.csv", json={"max_change": 0.3},
                                                    headers={CSRF_HEADER: token}).text), comment="#")
    assert frame["recommended_funding"].tolist() == csv_table["recommended_funding"].tolist()  # the same rounding
    assert frame["program_id"].tolist() == csv_table["program_id"].tolist()
    refused = client.post("/pages/allocator/allocation.xlsx", json={"max_change": 0.3})  # no CSRF token
    assert refused.status_code == 403
    infeasible = client.post("/pages/allocator/allocation.xlsx", headers={CSRF_HEADER: token},
                             json={"max_change": 0.01, "budget": 1.0})
    assert infeasible.status_code == 422 and infeasible.headers["content-type"] == "application/problem+json"
    bad = client.post("/pages/allocator/allocation.xlsx", headers={CSRF_HEADER: token}, json={"max_change": -1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.max_change"
