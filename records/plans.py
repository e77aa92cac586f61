"""Every plan carealloc issues, kept so the next quarter can be scored against what it promised.

A plan is stored as issued: the request (constraints and objective), who asked (a key id or a command, never a
patient), the model version and the period it forecasts, and per programme the recommended and current funding
with each forecast metric and its interval. The whole response body is kept as the JSON text that was answered,
beside the long forecast table, so a later reader sees exactly what the allocator saw even after the response
format grows.

The forecast table is read a whole plan at a time (a review scores one plan), never row by row across plans, so
it is kept as one JSON value per plan: for 1,024 programmes that is one insert of ~4,000 rows' values instead
of ~4,000 indexed rows, which took tens of milliseconds of the serving process per recommendation. A database may
also hold plans whose forecasts are rows of `plan_forecasts`; `get` reads those from there.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pydantic_core
from sqlalchemy import Column, Engine, Float, ForeignKey, MetaData, String, Table, Text, create_engine, insert, select

METADATA = MetaData()
PLANS = Table(
    "plans", METADATA,
    Column("plan_id", String(36), primary_key=True),
    Column("issued_at", String(32), nullable=False),
    Column("issued_by", String(200), nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("forecast_period", String(20), nullable=False, index=True),
    Column("request", Text, nullable=False),
    Column("body", Text, nullable=False),
)
FORECAST_TABLES = Table(
    "plan_forecast_tables", METADATA,
    Column("plan_id", String(36), ForeignKey("plans.plan_id"), primary_key=True),
    Column("forecasts", Text, nullable=False),  # JSON: {column: [value per row]}, the columns of FORECASTS
)
FORECASTS = Table(  # one row per programme and metric, as some databases hold their plans' forecasts
    "plan_forecasts", METADATA,
    Column("plan_id", String(36), ForeignKey("plans.plan_id"), primary_key=True),
    Column("program_id", String(200), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("current_funding", Float, nullable=False),
    Column("recommended_funding", Float, nullable=False),
    Column("value", Float),
    Column("lower", Float),
    Column("upper", Float),
    Column("status_quo_value", Float),
    Column("status_quo_lower", Float),
    Column("status_quo_upper", Float),
)
FORECAST_COLUMNS = tuple(c.name for c in FORECASTS.columns if c.name != "plan_id")
_NUMERIC = [c.name for c in FORECASTS.columns if isinstance(c.type, Float)]


@dataclass(frozen=True)
class IssuedPlan:
    plan_id: str
    issued_at: str
    issued_by: str
    model_version: str
    forecast_period: str
    request: dict[str, Any]
    body: dict[str, Any]
    forecasts: pd.DataFrame
    """program_id, metric, current_funding, recommended_funding, value/lower/upper under the plan and under the
    status quo (current funding); NaN where the plan gave no figure."""


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def forecast_columns(body: dict[str, Any]) -> dict[str, list[Any]]:
    """The long forecast table of a recommendation body, column by column (FORECAST_COLUMNS): one row per
    programme and metric with an interval. Built by column since it is built on every recommendation: ~4,000
    rows at 1,024 programmes, where a dict per row cost several milliseconds more."""
    columns: dict[str, list[Any]] = {name: [] for name in FORECAST_COLUMNS}
    for allocation in body["allocations"]:
        plan, now = allocation["metrics_recommended"], allocation["metrics_current"]
        names = [m for m in plan if not m.endswith(("_lower", "_upper"))]
        columns["program_id"] += [allocation["program_id"]] * len(names)
        columns["metric"] += names
        columns["current_funding"] += [float(allocation["current_funding"])] * len(names)
        columns["recommended_funding"] += [float(allocation["recommended_funding"])] * len(names)
        for side, prefix in ((plan, ""), (now, "status_quo_")):
            for suffix, figure in (("", "value"), ("_lower", "lower"), ("_upper", "upper")):
                columns[prefix + figure] += [_number(side.get(name + suffix)) for name in names]
    return columns


def forecast_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The long forecast table of a recommendation body as one dict per row."""
    columns = forecast_columns(body)
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


@dataclass(frozen=True)
class PlanDocument:
    """An issued recommendation ready to store: its body as JSON text, the fields the plans table indexes and the
    forecast table packed as one JSON value. Built where the body is built (a compute worker for the service), so
    the process that stores and answers it parses and serialises nothing."""

    body: str
    model_version: str
    forecast_period: str
    forecasts: str

    @classmethod
    def of(cls, body: dict[str, Any], text: str | None = None) -> PlanDocument:
        """The document of `body`; `text` is its JSON exactly as answered (default: `body` serialised here)."""
        provenance = body.get("provenance", {})
        return cls(body=json.dumps(body, sort_keys=True, default=str) if text is None else text,
                   model_version=str(provenance.get("model_version", "unknown")),
                   forecast_period=str(provenance.get("forecast_period", "unknown")),
                   # pydantic's encoder writes floats shortest-exact too: ~1 ms at 1,024 programmes, json.dumps ~8
                   forecasts=pydantic_core.to_json(forecast_columns(body)).decode())


class PlanStore:
    def __init__(self, url: str):
        self.engine: Engine = create_engine(url)
        METADATA.create_all(self.engine)
        # One SQLite writer at a time from this process, queued here: SQLite's busy handler lets concurrent
        # writers starve, and under 8 clients asking for 1,024-cell plans some plans were lost after the 5 s busy
        # timeout. A server database takes concurrent writers itself.
        self._writing: AbstractContextManager[Any] = threading.Lock() if url.startswith("sqlite") else nullcontext()

    def close(self) -> None:
        self.engine.dispose()

    def save(self, body: dict[str, Any], request: dict[str, Any], *, issued_by: str) -> str:
        """Store an issued recommendation (its response body and the request behind it); returns the plan id."""
        return self.store(PlanDocument.of(body), request, issued_by=issued_by)

    def store(self, document: PlanDocument, request: dict[str, Any], *, issued_by: str) -> str:
        """Store an issued recommendation already in its stored form; returns the plan id."""
        plan_id = str(uuid.uuid4())
        with self._writing, self.engine.begin() as connection:
            connection.execute(insert(PLANS).values(
                plan_id=plan_id, issued_at=datetime.now(UTC).isoformat(timespec="microseconds"),  # orders plans
                issued_by=issued_by[:200], model_version=document.model_version,
                forecast_period=document.forecast_period, request=json.dumps(request, sort_keys=True, default=str),
                body=document.body))
            connection.execute(insert(FORECAST_TABLES).values(plan_id=plan_id, forecasts=document.forecasts))
        return plan_id

    def get(self, plan_id: str) -> IssuedPlan:
        with self.engine.connect() as connection:
            plan = connection.execute(select(PLANS).where(PLANS.c.plan_id == plan_id)).mappings().first()
            if plan is None:
                raise KeyError(f"no issued plan with id {plan_id}")
            packed = connection.execute(select(FORECAST_TABLES.c.forecasts)
                                        .where(FORECAST_TABLES.c.plan_id == plan_id)).scalar()
            if packed is None:
                forecasts = pd.DataFrame(connection.execute(
                    select(*(FORECASTS.c[name] for name in FORECAST_COLUMNS)).where(FORECASTS.c.plan_id == plan_id)
                    .order_by(FORECASTS.c.program_id, FORECASTS.c.metric)).mappings().all(),
                    columns=list(FORECAST_COLUMNS))
        if packed is not None:
            forecasts = (pd.DataFrame(json.loads(packed), columns=list(FORECAST_COLUMNS))
                         .sort_values(["program_id", "metric"], kind="stable", ignore_index=True))
        forecasts[_NUMERIC] = forecasts[_NUMERIC].astype(float)
        return IssuedPlan(plan["plan_id"], plan["issued_at"], plan["issued_by"], plan["model_version"],
                          plan["forecast_period"], json.loads(plan["request"]), json.loads(plan["body"]), forecasts)

    def latest(self, forecast_period: str) -> IssuedPlan | None:
        """The last plan issued for `forecast_period` (the one a review of that period scores), if any."""
        with self.engine.connect() as connection:
            plan_id = connection.execute(
                select(PLANS.c.plan_id).where(PLANS.c.forecast_period == forecast_period)
                .order_by(PLANS.c.issued_at.desc(), PLANS.c.plan_id.desc()).limit(1)).scalar()
        return None if plan_id is None else self.get(plan_id)

    def listing(self) -> pd.DataFrame:
        """Every issued plan, newest first, without the bodies."""
        columns = [PLANS.c.plan_id, PLANS.c.issued_at, PLANS.c.issued_by, PLANS.c.model_version,
                   PLANS.c.forecast_period]
        with self.engine.connect() as connection:
            return pd.DataFrame(connection.execute(select(*columns).order_by(PLANS.c.issued_at.desc()))
                                .mappings().all(), columns=[c.name for c in columns])
