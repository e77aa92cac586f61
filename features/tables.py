"""Reading a data folder (CSV or Parquet) into validated tables, and describing what was read.

This is the only place user files are opened. CSV is read as text so that the contract, not the parser, decides
what counts as a number; Parquet keeps its stored types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import ContractError, Problem, validate_tables

TABLES = ("programs", "episodes")
SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class DataSnapshot:
    """What a model was trained on or a recommendation was computed from: enough to find the data again."""

    sha256: str
    periods: tuple[str, ...]
    programs_rows: int
    episodes_rows: int

    def to_dict(self) -> dict[str, object]:
        return {"sha256": self.sha256, "periods": list(self.periods), "programs_rows": self.programs_rows,
                "episodes_rows": self.episodes_rows}


@dataclass(frozen=True)
class Tables:
    programs: pd.DataFrame
    episodes: pd.DataFrame
    snapshot: DataSnapshot


def _locate(folder: Path) -> tuple[dict[str, Path], list[Problem]]:
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    if not folder.is_dir():
        return found, [Problem(str(folder), None, "is not a directory")]
    for table in TABLES:
        candidates = [folder / f"{table}{s}" for s in SUFFIXES if (folder / f"{table}{s}").is_file()]
        if not candidates:
            problems.append(Problem(str(folder), None, f"has no {table}.csv or {table}.parquet"))
        elif len(candidates) > 1:
            problems.append(Problem(str(folder), None, f"has both {table}.csv and {table}.parquet; "
                                    "keep one so it is clear which is meant"))
        else:
            found[table] = candidates[0]
    return found, problems


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], engine="pyarrow")
        return pd.read_parquet(path)
    except Exception as exc:  # a malformed file of any kind becomes one readable problem
        if path.suffix == ".csv" and path.stat().st_size == 0:
            return pd.DataFrame()
        raise ContractError([Problem(str(path), None, f"could not be read: {exc}")]) from exc


def _row_numbers(name: str) -> Callable[[np.ndarray], tuple[int, ...]]:
    """CSV problems are reported as file line numbers (header is line 1); Parquet as 1-based row numbers."""
    offset = 2 if name.endswith(".csv") else 1
    return lambda positions: tuple(int(p) + offset for p in positions)


def file_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_tables(folder: str | Path) -> Tables:
    """Validated tables from a folder holding programs.* and episodes.*, or ContractError naming every problem."""
    folder = Path(folder)
    paths, problems = _locate(folder)
    if problems:
        raise ContractError(problems)
    raw = {table: _read(path) for table, path in paths.items()}
    programs, episodes = validate_tables(
        raw["programs"], raw["episodes"],
        programs_file=str(paths["programs"]), episodes_file=str(paths["episodes"]),
        row_numbers=_row_numbers,
    )
    snapshot = DataSnapshot(
        sha256=file_digest(list(paths.values())),
        periods=tuple(sorted(programs["period"].unique())),
        programs_rows=len(programs),
        episodes_rows=len(episodes),
    )
    return Tables(programs, episodes, snapshot)


def write_tables(folder: str | Path, programs: pd.DataFrame, episodes: pd.DataFrame, fmt: str = "parquet") -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("programs", programs), ("episodes", episodes)):
        for stale in SUFFIXES:
            (folder / f"{name}{stale}").unlink(missing_ok=True)
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
