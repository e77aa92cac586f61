"""Bodies of `POST /v1/pilots/evaluate` (kept apart from schemas.py so branches merge easily).

Allocators see aggregates only: the body carries the pilot spec (the same model as the CLI's spec file) and one
row of counts per programme-period, never an episode. Every row is bounded here; rules across rows (duplicates,
unknown programmes or periods) are checked by `pilots` and answered with 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.numbers import Number
from pilots.spec import Identifier, Period, PilotSpec
from serving.schemas import Public

MAX_AGGREGATE_ROWS = 6_000
"""300 programmes x 20 quarters. Sized so that a full request fits the default body limit: the largest realistic
row (36-character ids, six-digit counts, a 17-digit float sum) is 310 bytes as json.dumps writes it, and
(2,000,000 - 50,000 for a 500-programme spec) / 310 = 6,290 (tests/serving/test_schema_limits.py measures it).
The earlier 10,000 rows made 3.1 MB, so a client was refused with 413 long before reaching the limit."""
Count = Annotated[int, Field(ge=0, le=100_000_000)]
Amount = float | None


class AggregateRow(BaseModel):
    """One programme in one period: what `carealloc pilot` computes from episode records."""

    model_config = ConfigDict(extra="forbid")
    program_id: Identifier
    period: Period
    modality: Identifier
    region: Annotated[str, Field(max_length=100)] = ""
    funding: Annotated[Number, Field(ge=0, le=1e13)]
    episodes: Count
    completers: Count = Field(description="Episodes with a final score.")
    reliable_improvements: Count
    dropouts: Count
    score_change_sum: Annotated[Number, Field(ge=-1e10, le=1e10)] = Field(
        description="Summed score improvement of the completers, in points (+ = better).")

    @model_validator(mode="after")
    def _counts_nest(self) -> AggregateRow:
        for part, whole in (("completers", "episodes"), ("dropouts", "episodes"),
                            ("reliable_improvements", "completers")):
            if getattr(self, part) > getattr(self, whole):
                raise ValueError(f"{part} ({getattr(self, part)}) cannot exceed {whole} ({getattr(self, whole)})")
        return self


class PilotEvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "spec": {"pilot_programs": ["P001", "P002"], "pre_periods": ["2025-Q1", "2025-Q2"],
                 "post_periods": ["2025-Q3", "2025-Q4"], "controls": "auto", "expected_effect": 0.03},
        "aggregates": [{"program_id": "P001", "period": "2025-Q1", "modality": "individual_cbt", "region": "urban",
                        "funding": 120000, "episodes": 140, "completers": 80, "reliable_improvements": 52,
                        "dropouts": 60, "score_change_sum": 410.0}]}]})
    spec: PilotSpec
    aggregates: list[AggregateRow] = Field(min_length=1, max_length=MAX_AGGREGATE_ROWS)


class EstimatePublic(Public):
    estimate: float
    std_error: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    clusters: int
    method: str = Field(description="How the interval and p-value were computed (clusters = programmes).")


class EffectPublic(Public):
    metric: str
    label: str
    pilot_pre: Amount
    pilot_post: Amount
    control_pre: Amount
    control_post: Amount
    pre_post: EstimatePublic | None = Field(description="Pilot group's own change (no comparison group).")
    difference_in_differences: EstimatePublic | None
    programs_used: int


class PowerPublic(Public):
    mde: float
    std_error: float
    df: float
    basis: str


class PowerCheckPublic(Public):
    before: PowerPublic
    after: PowerPublic | None
    expected_effect: float | None


class MatchPublic(Public):
    pilot: str
    control: str
    distance: float


class PilotEvaluationPublic(Public):
    spec: PilotSpec
    pilot_programs: list[str]
    control_programs: list[str]
    matches: list[MatchPublic]
    effects: list[EffectPublic]
    power: PowerCheckPublic
    parallel_trends: EstimatePublic | None
    series: list[dict[str, Any]] = Field(description="Per period and group: pooled ITT reliable-improvement rate.")
    warnings: list[str]
