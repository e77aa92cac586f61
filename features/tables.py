"""Reading a data folder (CSV or Parquet) into validated tables, and describing what was read.

This is the only place user files are opened. CSV is read as text so that the contract, not the parser, decides
what counts as a number; Parquet keeps its stored types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
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
        if table == "episodes" and (folder / table).is_dir():
            if not partition_files(folder / table):
                problems.append(Problem(str(folder / table), None, "holds no .parquet files; expected the parts "
                                        "of a partitioned episodes table"))
                continue
            candidates.append(folder / table)
        if not candidates:
            problems.append(Problem(str(folder), None, f"has no {table}.csv or {table}.parquet" + (
                " (or episodes/, a folder of Parquet parts)" if table == "episodes" else "")))
        elif len(candidates) > 1:
            names = [c.name + ("/" if c.is_dir() else "") for c in candidates]
            problems.append(Problem(str(folder), None, f"has both {' and '.join(names)}; "
                                    "keep one so it is clear which is meant"))
        else:
            found[table] = candidates[0]
    return found, problems


def partition_files(folder: Path) -> list[Path]:
    """The parts of a partitioned table, in order (the order their rows are numbered in)."""
    return sorted(folder.glob("*.parquet"))


SNIFFED_BYTES = 8192
PARQUET_MAGIC = b"PAR1"


def not_text(head: bytes) -> str | None:
    """Why a file meant as CSV is not text at all, judged from its first bytes; None when it may be CSV. Such a file
    is refused before parsing and never echoed: its bytes would come back raw (NULs included) as "columns" or in
    the parser's message."""
    if head.startswith(PARQUET_MAGIC):
        return "is a Parquet file, not CSV; name it .parquet"
    if b"\x00" in head:
        return "is not a text CSV file (it holds binary data); save it as comma-separated text"
    return None


def parser_message(exc: Exception) -> str:
    """The CSV parser's complaint: its first line, control characters shown as escapes, at most 200 characters."""
    first = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in first)
    return f"could not be read as CSV: {shown[:200]}" + ("..." if len(shown) > 200 else "")


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv" and path.is_file():
        with path.open("rb") as handle:
            why = not_text(handle.read(SNIFFED_BYTES))
        if why:
            raise ContractError([Problem(str(path), None, why)])
    try:
        if path.is_dir():
            return pd.concat([pd.read_parquet(p) for p in partition_files(path)], ignore_index=True)
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], engine="pyarrow")
        return pd.read_parquet(path)
    except Exception as exc:  # a malformed file of any kind becomes one readable problem
        if path.suffix == ".csv" and path.stat().st_size == 0:
            return pd.DataFrame()
        message = parser_message(exc) if path.suffix == ".csv" else f"could not be read: {exc}"
        raise ContractError([Problem(str(path), None, message)]) from exc


def _row_numbers(name: str) -> Callable[[np.ndarray], tuple[int, ...]]:
    """CSV problems are reported as file line numbers (header is line 1); Parquet as 1-based row numbers."""
    offset = 2 if name.endswith(".csv") else 1
    return lambda positions: tuple(int(p) + offset for p in positions)


def file_digest(paths: list[Path]) -> str:
    """SHA-256 over the files' names and bytes; a partitioned table counts as its parts."""
    paths = [part for path in paths for part in (partition_files(path) if path.is_dir() else [path])]
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


def _clear(folder: Path, name: str) -> None:
    """Remove an earlier copy of a table in any layout, so a folder never holds two versions of it."""
    for stale in SUFFIXES:
        (folder / f"{name}{stale}").unlink(missing_ok=True)
    if (folder / name).is_dir():
        for part in partition_files(folder / name):
            part.unlink()
        if not any((folder / name).iterdir()):
            (folder / name).rmdir()


def locate_tables(folder: str | Path) -> dict[str, Path]:
    """Where programs and episodes are in a data folder (a file each, or episodes/ as Parquet parts)."""
    paths, problems = _locate(Path(folder))
    if problems:
        raise ContractError(problems)
    return paths


def read_raw(path: Path) -> pd.DataFrame:
    """A table as stored, before validation (what `part_problems` and `read_part` take for programs)."""
    return _read(path)


def part_problems(programs: pd.DataFrame, path: Path, *, programs_file: str = "programs") -> list[Problem]:
    """Every contract problem of one part of a partitioned episodes table, rows numbered within that part.

    Checks within the part (types, ranges, episode_id repeats, keys against the whole programs table); repeats
    across parts are the caller's to check, since no single part sees them.
    """
    try:
        validate_tables(programs, _read(path), programs_file=programs_file, episodes_file=str(path),
                        row_numbers=_row_numbers)
    except ContractError as exc:
        return [p for p in exc.problems if p.file == str(path)] or exc.problems
    return []


def read_part(path: Path, programs: pd.DataFrame) -> pd.DataFrame:
    """One part of a partitioned episodes table, typed by the contract (ContractError if it does not hold)."""
    return validate_tables(programs, _read(path), episodes_file=str(path), row_numbers=_row_numbers)[1]


def write_partitioned(folder: str | Path, programs: pd.DataFrame, episode_parts: Iterable[pd.DataFrame]) -> int:
    """programs.parquet and episodes/part-NNNNN.parquet, one part at a time; returns the number of episodes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        _clear(folder, name)
    programs.to_parquet(folder / "programs.parquet", index=False)
    (folder / "episodes").mkdir(exist_ok=True)
    rows = 0
    for k, part in enumerate(episode_parts):
        part.to_parquet(folder / "episodes" / f"part-{k:05d}.parquet", index=False)
        rows += len(part)
    return rows


def write_tables(folder: str | Path, programs: pd.DataFrame, episodes: pd.DataFrame, fmt: str = "parquet") -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("programs", programs), ("episodes", episodes)):
        _clear(folder, name)
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
