"""The KPI history: one row per programme, period and KPI, kept in any database SQLAlchemy reaches.

A review loads each new quarter's KPIs (`features.kpi.programme_kpis`) here. Loads are all or nothing and
idempotent: the same figures again change nothing (no row, no load record), so a re-run of a review is harmless.
Different figures for a period already stored are refused, naming the programme, period, KPI and both values,
unless the caller says they are a correction: then the old rows move to `kpi_replaced` with the load that replaced
them, so the history says what was corrected and when, and nothing stored is lost.

Non-finite figures (a rate over no episodes, a cost with no outcome, an unbounded upper cost) are stored as NULL:
PostgreSQL and SQLite disagree on NaN, and NULL means "not defined" in both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    insert,
    select,
    tuple_,
)

from features.kpi import KPI_NAMES

METADATA = MetaData()
LOADS = Table(
    "kpi_loads", METADATA,
    Column("load_id", Integer, primary_key=True, autoincrement=True),
    Column("loaded_at", String(32), nullable=False),
    Column("source", String(500), nullable=False),
    Column("periods", String(500), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("replaced", Integer, nullable=False),
)


def _value_columns(*, keyed: bool) -> list[Column[object]]:
    """The figures of one KPI; `keyed`: (programme, period, KPI) is the primary key (the current values)."""
    return [Column("program_id", String(200), primary_key=keyed, nullable=False),
            Column("period", String(20), primary_key=keyed, nullable=False),
            Column("kpi", String(64), primary_key=keyed, nullable=False),
            Column("value", Float), Column("lower", Float), Column("upper", Float),
            Column("n", Integer, nullable=False)]


VALUES = Table("kpi_values", METADATA, *_value_columns(keyed=True),
               Column("load_id", Integer, ForeignKey("kpi_loads.load_id"), nullable=False))
REPLACED = Table(
    "kpi_replaced", METADATA,
    Column("replaced_id", Integer, primary_key=True, autoincrement=True),
    *_value_columns(keyed=False),
    Column("load_id", Integer, ForeignKey("kpi_loads.load_id"), nullable=False),
    Column("replaced_by", Integer, ForeignKey("kpi_loads.load_id"), nullable=False),
)
FIGURES = ("value", "lower", "upper", "n")


@dataclass(frozen=True)
class Difference:
    program_id: str
    period: str
    kpi: str
    figure: str
    stored: float | None
    new: float | None

    def __str__(self) -> str:
        return (f"programme {self.program_id}, period {self.period}, {self.kpi} {self.figure}: "
                f"stored {self.stored}, new {self.new}")


class PeriodConflictError(ValueError):
    """The new figures disagree with ones already stored and were not declared a correction; nothing was written."""

    def __init__(self, differences: list[Difference], total: int):
        self.differences = differences
        shown = "\n".join(f"  {d}" for d in differences)
        more = f"\n  ... and {total - len(differences)} more" if total > len(differences) else ""
        super().__init__(f"{total} figure(s) differ from the stored history; load them as a correction to replace "
                         f"the stored ones (the replaced figures are kept):\n{shown}{more}")


@dataclass(frozen=True)
class LoadReport:
    """What a load did, and what the reviewer should know about the programmes in it."""

    load_id: int | None
    """None when nothing was written (every figure was already stored)."""
    added: int
    unchanged: int
    replaced: int
    new_programmes: tuple[str, ...] = ()
    """Programmes the history had never seen: a new service, or a renamed id (then its trend is broken)."""
    missing_programmes: tuple[str, ...] = ()
    """Programmes in the history but absent from the loaded periods: closed, or left out of the file."""


def _clean(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


class KpiHistory:
    def __init__(self, url: str):
        self.engine: Engine = create_engine(url)
        METADATA.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def load(self, kpis: pd.DataFrame, *, source: str, correction: bool = False) -> LoadReport:
        """Store `kpis` (the long table of `programme_kpis`); see the module docstring for what is refused."""
        unknown = sorted(set(kpis["kpi"]) - set(KPI_NAMES))
        if unknown:
            raise ValueError(f"unknown KPI name(s) {unknown}; expected one of {list(KPI_NAMES)}")
        Key = tuple[str, str, str]
        rows: dict[Key, dict[str, Any]] = {}
        for r in kpis.itertuples(index=False):
            key = (str(r.program_id), str(r.period), str(r.kpi))
            if key in rows:
                raise ValueError(f"the KPI table gives programme {key[0]}, period {key[1]}, {key[2]} more than once")
            rows[key] = {"program_id": key[0], "period": key[1], "kpi": key[2], "value": _clean(r.value),
                         "lower": _clean(r.lower), "upper": _clean(r.upper), "n": int(r.n)}  # type: ignore[arg-type]
        periods = sorted({key[1] for key in rows})
        with self.engine.begin() as connection:
            stored = {(s.program_id, s.period, s.kpi): s for s in connection.execute(
                select(VALUES).where(VALUES.c.period.in_(periods)))}
            known = set(connection.execute(select(VALUES.c.program_id).distinct()).scalars())
            differences = [Difference(*key, figure, getattr(stored[key], figure), row[figure])
                           for key, row in rows.items() if key in stored
                           for figure in FIGURES if not _same(getattr(stored[key], figure), row[figure])]
            changed = sorted({(d.program_id, d.period, d.kpi) for d in differences})
            if changed and not correction:
                raise PeriodConflictError(differences[:10], len(differences))
            fresh = [row for key, row in rows.items() if key not in stored]
            loaded = {key[0] for key in rows}
            new_programmes = tuple(sorted(loaded - known)) if known else ()
            missing_programmes = tuple(sorted(known - loaded))
            if not fresh and not changed:
                return LoadReport(None, 0, len(rows), 0, new_programmes, missing_programmes)
            load_id = int(connection.execute(insert(LOADS).values(
                loaded_at=datetime.now(UTC).isoformat(timespec="seconds"), source=source[:500],
                periods=",".join(periods)[:500], rows=len(fresh) + len(changed),
                replaced=len(changed))).inserted_primary_key[0])  # type: ignore[index]
            if changed:
                old = [{**{c: getattr(stored[key], c) for c in ("program_id", "period", "kpi", *FIGURES)},
                        "load_id": stored[key].load_id, "replaced_by": load_id} for key in changed]
                connection.execute(insert(REPLACED), old)
                for chunk in _chunks(changed, 500):
                    connection.execute(VALUES.delete().where(
                        tuple_(VALUES.c.program_id, VALUES.c.period, VALUES.c.kpi).in_(chunk)))
                connection.execute(insert(VALUES), [{**rows[key], "load_id": load_id} for key in changed])
            if fresh:
                connection.execute(insert(VALUES), [{**row, "load_id": load_id} for row in fresh])
        return LoadReport(load_id, len(fresh), len(rows) - len(fresh) - len(changed), len(changed),
                          new_programmes, missing_programmes)

    def values(self, *, program_id: str | None = None, kpi: str | None = None) -> pd.DataFrame:
        """The current history as a long table (NaN where a figure is not defined), oldest period first."""
        query = select(*(VALUES.c[c] for c in ("program_id", "period", "kpi", *FIGURES)), VALUES.c.load_id)
        conditions = [c for c in (VALUES.c.program_id == program_id if program_id is not None else None,
                                  VALUES.c.kpi == kpi if kpi is not None else None) if c is not None]
        if conditions:
            query = query.where(and_(*conditions))
        with self.engine.connect() as connection:
            frame = pd.DataFrame(connection.execute(query.order_by(VALUES.c.period, VALUES.c.program_id,
                                                                   VALUES.c.kpi)).mappings().all())
        if frame.empty:
            return pd.DataFrame(columns=["program_id", "period", "kpi", *FIGURES, "load_id"])
        for figure in ("value", "lower", "upper"):
            frame[figure] = frame[figure].astype(float)
        return frame

    def loads(self) -> pd.DataFrame:
        """Every load that wrote something, with how many figures it replaced."""
        with self.engine.connect() as connection:
            return pd.DataFrame(connection.execute(select(LOADS).order_by(LOADS.c.load_id)).mappings().all(),
                                columns=[c.name for c in LOADS.columns])

    def replaced(self) -> pd.DataFrame:
        """Figures a correction replaced, with the load that stored them and the one that replaced them."""
        with self.engine.connect() as connection:
            return pd.DataFrame(connection.execute(select(REPLACED).order_by(REPLACED.c.replaced_id))
                                .mappings().all(), columns=[c.name for c in REPLACED.columns])


def _chunks(items: list[tuple[str, str, str]], size: int) -> Iterable[list[tuple[str, str, str]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

