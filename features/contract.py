"""The input contract (v1): what `programs` and `episodes` must hold, checked column by column.

Every check is vectorised and reports the file, the column, how many rows fail, the first few offending rows and
what was expected. Nothing is coerced silently: text that is not a number stays an error rather than becoming
NaN, and no row is dropped. All problems in a pair of tables are collected before anything is raised, so a user
fixes their data in one pass rather than one error at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS

EXAMPLE_ROWS = 5
PERIOD_PATTERN = re.compile(r"^\d{4}-(Q[1-4]|(0[1-9]|1[0-2]))$")
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
INSTRUMENT_NAMES: tuple[str, ...] = tuple(sorted(INSTRUMENTS))
"""What the `instrument` column may hold: the registered instruments (features/instruments.py)."""

Kind = Literal["string", "number", "integer", "boolean"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool
    minimum: float | None = None
    maximum: float | None = None

    def expectation(self) -> str:
        text = {"string": "non-empty text", "number": "a number", "integer": "a whole number",
                "boolean": "true/false (or 1/0, yes/no)"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            text += f" between {self.minimum:g} and {self.maximum:g}"
        elif self.minimum is not None:
            text += f" >= {self.minimum:g}"
        return text


PROGRAM_COLUMNS = (
    Column("program_id", "string", True),
    Column("period", "string", True),
    Column("modality", "string", True),
    Column("funding", "number", True, minimum=0),
    Column("referrals", "integer", False, minimum=0),
)
EPISODE_COLUMNS = (
    Column("episode_id", "string", True),
    Column("patient_id", "string", True),
    Column("program_id", "string", True),
    Column("period", "string", True),
    Column("instrument", "string", True),
    Column("baseline_score", "number", True),
    Column("final_score", "number", False),
    Column("dropped_out", "boolean", True),
    Column("sessions_attended", "integer", True, minimum=0),
    Column("age", "integer", False, minimum=0, maximum=120),
    Column("sex", "string", False),
    Column("region", "string", False),
    Column("payer", "string", False),
    Column("diagnosis", "string", False),
    Column("satisfaction", "number", False, minimum=0, maximum=10),
)
GROUPING_COLUMNS = ("region", "site_id")


@dataclass(frozen=True)
class Problem:
    """One way a table breaks the contract, phrased for the person who has to fix the file."""

    file: str
    column: str | None
    message: str
    rows: tuple[int, ...] = ()
    count: int = 0
    unit: str = "row"
    """'line' for CSV files (the header is line 1), 'row' (1-based) for Parquet."""

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column else "")
        if not self.rows:
            return f"{where}: {self.message}"
        shown = ", ".join(str(r) for r in self.rows)
        return f"{where}: {self.count} row(s) {self.message} (first at {self.unit}s {shown})"


class ContractError(ValueError):
    """Raised with every problem found, so callers can print them all at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __reduce__(self) -> tuple[type[ContractError], tuple[list[Problem]]]:
        """Keep the problems when the error crosses processes (raised on a Dask worker, read on the client)."""
        return (type(self), (self.problems,))


@dataclass
class _Checker:
    """Collects problems for one file; `row_numbers` maps positions to what the user sees in the file."""

    file: str
    row_numbers: Callable[[np.ndarray], tuple[int, ...]]
    problems: list[Problem] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "line" if self.file.endswith(".csv") else "row"

    def flag(self, column: str | None, bad: np.ndarray, message: str) -> None:
        positions = np.flatnonzero(bad)
        if len(positions):
            self.problems.append(
                Problem(self.file, column, message, self.row_numbers(positions[:EXAMPLE_ROWS]), len(positions),
                        self.unit)
            )

    def note(self, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, column, message))


def _empty_text(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        stripped = values.astype("str").str.strip()
        missing = missing | (stripped == "").to_numpy(na_value=True)
    return missing


def _parse(values: pd.Series, spec: Column, check: _Checker) -> pd.Series:
    """Typed copy of one column; unparseable entries are reported and left missing."""
    missing = _empty_text(values)
    if spec.required:
        check.flag(spec.name, missing, f"are empty; expected {spec.expectation()}")
    if spec.kind == "string":
        return values.astype("str").where(~missing)
    if spec.kind == "boolean":
        if pd.api.types.is_bool_dtype(values.dtype):
            return values.astype("boolean")
        words = values.astype("str").str.strip().str.lower()
        is_true = words.isin(TRUE_WORDS).to_numpy()
        is_false = words.isin(FALSE_WORDS).to_numpy()
        check.flag(spec.name, ~missing & ~is_true & ~is_false, f"are not {spec.expectation()}")
        return pd.Series(pd.arrays.BooleanArray(is_true, ~(is_true | is_false)), index=values.index)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.astype("float64")
    else:
        numbers = pd.to_numeric(values.astype("str").str.strip().where(~missing), errors="coerce")
        check.flag(spec.name, ~missing & numbers.isna().to_numpy(), f"are not {spec.expectation()}")
    arr = numbers.to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(arr)
    check.flag(spec.name, present & ~np.isfinite(arr), f"are infinite; expected {spec.expectation()}")
    if spec.kind == "integer":
        check.flag(spec.name, present & np.isfinite(arr) & (arr != np.round(arr)),
                   f"are not whole numbers; expected {spec.expectation()}")
    if spec.minimum is not None:
        check.flag(spec.name, present & (arr < spec.minimum), f"are out of range; expected {spec.expectation()}")
    if spec.maximum is not None:
        check.flag(spec.name, present & (arr > spec.maximum), f"are out of range; expected {spec.expectation()}")
    if spec.kind == "integer":
        return pd.Series(arr, index=values.index).round().astype("Int64")
    return pd.Series(arr, index=values.index, dtype="float64")


def _parse_table(frame: pd.DataFrame, specs: tuple[Column, ...], check: _Checker) -> pd.DataFrame | None:
    if len(frame) == 0:
        check.note(None, "has no data rows; expected at least one")
        return None
    missing = [s.name for s in specs if s.required and s.name not in frame.columns]
    for name in missing:
        kind = next(s for s in specs if s.name == name).expectation()
        check.note(name, f"required column is missing (expected {kind}); columns found: {list(frame.columns)}")
    if missing:
        return None
    out = frame.copy()
    for spec in specs:
        if spec.name in frame.columns:
            out[spec.name] = _parse(frame[spec.name], spec, check)
    for extra in frame.columns.difference([s.name for s in specs]):
        if frame[extra].dtype == object:
            out[extra] = frame[extra].astype("str")
    return out


def _check_periods(periods: pd.Series, check: _Checker) -> None:
    text = periods.fillna("")
    valid = text.str.match(PERIOD_PATTERN).to_numpy(dtype=bool, na_value=False)
    check.flag("period", ~valid, "are not periods like 2025-Q3 or 2025-07")
    quarterly = text[valid].str.contains("Q", regex=False)  # a malformed period is reported above, not as a mix
    if quarterly.any() and not quarterly.all():
        check.note("period", "mixes quarterly (2025-Q3) and monthly (2025-07) periods; use one form")


def validate_tables(
    programs: pd.DataFrame,
    episodes: pd.DataFrame,
    *,
    programs_file: str = "programs",
    episodes_file: str = "episodes",
    row_numbers: Callable[[str], Callable[[np.ndarray], tuple[int, ...]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed, validated copies of both tables, or ContractError listing every problem found."""
    numbering = row_numbers or (lambda _file: lambda pos: tuple(int(p) + 1 for p in pos))
    pcheck = _Checker(programs_file, numbering(programs_file))
    echeck = _Checker(episodes_file, numbering(episodes_file))
    progs = _parse_table(programs, PROGRAM_COLUMNS, pcheck)
    eps = _parse_table(episodes, EPISODE_COLUMNS, echeck)

    if progs is not None:
        _check_periods(progs["period"], pcheck)
        pcheck.flag("program_id, period", progs.duplicated(["program_id", "period"], keep=False).to_numpy(),
                    "repeat a (program_id, period) pair; expected each pair once")
    if eps is not None:
        _check_episode_rows(eps, echeck)
    if progs is not None and eps is not None:
        known = pd.MultiIndex.from_frame(progs[["program_id", "period"]].astype("str"))
        keys = pd.MultiIndex.from_frame(eps[["program_id", "period"]].astype("str"))
        echeck.flag("program_id, period", ~keys.isin(known),
                    f"point at a (program_id, period) not in {programs_file}; expected an existing pair")

    problems = pcheck.problems + echeck.problems
    if problems:
        raise ContractError(problems)
    assert progs is not None and eps is not None
    return progs.reset_index(drop=True), eps.reset_index(drop=True)


def _check_episode_rows(eps: pd.DataFrame, check: _Checker) -> None:
    _check_periods(eps["period"], check)
    check.flag("episode_id", eps["episode_id"].duplicated(keep=False).to_numpy() & eps["episode_id"].notna()
               .to_numpy(), "repeat an episode_id; expected each episode once")
    _check_scores(eps, check)


def _check_scores(eps: pd.DataFrame, check: _Checker) -> None:
    instrument = eps["instrument"]
    known = instrument.isin(INSTRUMENT_NAMES).to_numpy() | instrument.isna().to_numpy()
    check.flag("instrument", ~known, f"name an unregistered instrument; expected one of {list(INSTRUMENT_NAMES)}")
    for name, inst in INSTRUMENTS.items():
        rows = (instrument == name).to_numpy(na_value=False)
        if not rows.any():
            continue
        for column in ("baseline_score", "final_score"):
            if column not in eps.columns:  # final_score is optional
                continue
            values = eps[column].to_numpy(dtype=float, na_value=np.nan)
            out = rows & ~np.isnan(values) & ((values < inst.min_score) | (values > inst.max_score))
            check.flag(column, out, f"are outside the {name} range; expected {inst.min_score:g} to "
                       f"{inst.max_score:g}")


OPTIONAL_FOR_SCORING = ("patient_id", "final_score", "dropped_out", "sessions_attended", "satisfaction")
"""Outcomes are known only once an episode ends, and risk needs no patient identifier, so neither is required
when episodes are submitted for risk scoring at intake."""


def validate_episodes_for_scoring(
    episodes: pd.DataFrame, *, episodes_file: str = "episodes",
    row_numbers: Callable[[np.ndarray], tuple[int, ...]] | None = None,
) -> pd.DataFrame:
    """Typed episodes under the same column rules as `validate_tables`, without their programs table and with the
    outcome columns and patient_id optional (see OPTIONAL_FOR_SCORING); ContractError otherwise."""
    specs = tuple(replace(spec, required=False) if spec.name in OPTIONAL_FOR_SCORING else spec
                  for spec in EPISODE_COLUMNS)
    check = _Checker(episodes_file, row_numbers or (lambda pos: tuple(int(p) + 1 for p in pos)))
    eps = _parse_table(episodes, specs, check)
    if eps is not None:
        _check_episode_rows(eps, check)
    if check.problems:
        raise ContractError(check.problems)
    assert eps is not None
    return eps.reset_index(drop=True)
