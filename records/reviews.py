"""Every quarterly review's figures (alert counts, the share of programmes inside the plan's interval, the plan's
gain), its alerts and the plan it proposed, kept in the outcomes database so the service can show the latest
review on the outcomes page and to Prometheus; each review is also an MLflow run (tracking/reviews.py).

Only aggregates: alerts name programmes, case-mix columns and rates, never a patient.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Engine, Float, ForeignKey, MetaData, String, Table, Text, create_engine, insert, select

METADATA = MetaData()
REVIEWS = Table(
    "reviews", METADATA,
    Column("review_id", String(36), primary_key=True),
    Column("reviewed_at", String(32), nullable=False, index=True),
    Column("period", String(20), nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("alerts", Text, nullable=False),
    Column("proposal_plan_id", String(36), nullable=True),
)
FIGURES = Table(
    "review_figures", METADATA,
    Column("review_id", String(36), ForeignKey("reviews.review_id"), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("value", Float, nullable=False),
)


@dataclass(frozen=True)
class ReviewFigures:
    review_id: str
    reviewed_at: datetime
    period: str
    model_version: str
    figures: dict[str, float]
    alerts: list[dict[str, Any]]
    proposal_plan_id: str | None


class ReviewLog:
    def __init__(self, url: str):
        self.engine: Engine = create_engine(url)
        METADATA.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def save(self, period: str, model_version: str, figures: dict[str, float], alerts: list[dict[str, Any]],
             proposal_plan_id: str | None) -> str:
        """One review's figures in one transaction; non-finite values are left out (Prometheus and SQL differ
        on NaN, and a missing figure says the same)."""
        review_id = str(uuid.uuid4())
        kept = {name: float(v) for name, v in figures.items() if math.isfinite(float(v))}
        with self.engine.begin() as conn:
            conn.execute(insert(REVIEWS), {"review_id": review_id, "reviewed_at": datetime.now(UTC).isoformat(),
                                           "period": period, "model_version": model_version,
                                           "alerts": json.dumps(alerts, default=float),
                                           "proposal_plan_id": proposal_plan_id})
            if kept:
                conn.execute(insert(FIGURES), [{"review_id": review_id, "name": n, "value": v}
                                               for n, v in kept.items()])
        return review_id

    def latest(self) -> ReviewFigures | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(REVIEWS).order_by(REVIEWS.c.reviewed_at.desc()).limit(1)).first()
            if row is None:
                return None
            figures = conn.execute(select(FIGURES.c.name, FIGURES.c.value)
                                   .where(FIGURES.c.review_id == row.review_id)).all()
        return ReviewFigures(row.review_id, datetime.fromisoformat(row.reviewed_at), row.period, row.model_version,
                             {name: float(value) for name, value in figures}, json.loads(row.alerts),
                             row.proposal_plan_id)
