"""Each quarterly review as an MLflow run beside the training runs, so drift and plan accuracy trend in the
tracking UI; the same for a review run by `carealloc review` and by POST /v1/review."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from tracking.runs import configure, provenance_tags, run


def log_review(settings: Settings, period: str, model_version: str, figures: dict[str, float],
               document: dict[str, Any], started_by: str) -> None:
    configure(settings)
    with run(f"review {period}", description=f"Quarterly review of {period} with model {model_version}, "
             f"started by {started_by}.") as log:
        log.tags({**provenance_tags(), "job": "review", "review.period": period, "model.version": model_version,
                  "review.started_by": started_by})
        log.metrics(figures)
        log.dict(document, "review.json")
