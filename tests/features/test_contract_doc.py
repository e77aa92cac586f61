"""docs/CONTRACT.md says what features/contract.py and features/instruments.py check, column by column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.contract import EPISODE_COLUMNS, PROGRAM_COLUMNS, Column
from features.instruments import INSTRUMENTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONTRACT.md"


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table after the heading that starts with `heading`."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {heading}"))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # the header row


def _as_documented(column: Column) -> list[str]:
    kind = column.kind
    if column.minimum is not None and column.maximum is not None:
        kind += f" {column.minimum:g}..{column.maximum:g}"
    elif column.minimum is not None:
        kind += f" >= {column.minimum:g}"
    return [column.name, kind, "yes" if column.required else "no"]


@pytest.mark.parametrize(("heading", "columns"), [("programs", PROGRAM_COLUMNS), ("episodes", EPISODE_COLUMNS)])
def test_column_tables_match_the_code(heading: str, columns: tuple[Column, ...]) -> None:
    assert [row[:3] for row in _table(heading)] == [_as_documented(c) for c in columns]


def test_outcome_measures_match_the_registry() -> None:
    expected = [[i.name, f"{i.min_score:g}-{i.max_score:g}", i.direction.split("_")[0], f"{i.reliable_change:g}",
                 f">= {i.caseness:g}" if i.caseness is not None else "-",
                 f"< {i.remission:g}" if i.remission is not None else "-"] for i in INSTRUMENTS.values()]
    assert _table("Outcome measures") == expected


def test_readme_points_inside_the_repository() -> None:
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "](docs/CONTRACT.md)" in readme and "../shared/design" not in readme
    assert re.search(r"`tests/features/test_contract_doc.py`", DOC.read_text(encoding="utf-8"))
