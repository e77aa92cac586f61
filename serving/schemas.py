"""Request and response bodies of the HTTP API (XCreate = what a client sends, XPublic = what it gets back).

Field limits live here, so every body is bounded before any model runs. The recommendation request is the
shared `usecases.recommendation.RecommendationRequest`, identical to the CLI's constraints file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from core.identifiers import Identifier
from core.numbers import Number
from features.contract import EPISODE_COLUMNS, INSTRUMENT_NAMES, PERIOD_PATTERN
from features.contracts import Contract, ContractSet
from features.instruments import INSTRUMENTS
from usecases.recommendation import Money, ObjectiveSpec, RecommendationRequest

MAX_RISK_EPISODES = 1_000
Text = Annotated[str, Field(min_length=1, max_length=100)]
Period = Annotated[str, Field(pattern=PERIOD_PATTERN.pattern, examples=["2026-Q1"])]
_SPECS = {c.name: c for c in EPISODE_COLUMNS}


def _contract_bounds(name: str) -> dict[str, float]:
    """ge/le for an episode column, taken from the input contract rather than restated here."""
    spec = _SPECS[name]
    return {k: v for k, v in (("ge", spec.minimum), ("le", spec.maximum)) if v is not None}


class Public(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


class Versioned(Public):
    model_version: str = Field(description="Registry version of the champion bundle that produced this answer.")


# ---- errors ------------------------------------------------------------------------------------------------
class ProblemFieldPublic(Public):
    field: str = Field(description="Path of the offending field, e.g. body.episodes[3].payer.")
    message: str = Field(description="What was expected (never the submitted value).")
    type: str


class ProblemPublic(Public):
    """RFC 9457 problem document: every 4xx/5xx answer of this service (application/problem+json)."""

    model_config = ConfigDict(extra="allow", title="Problem")
    type: str = Field(description="urn:carealloc:problem:<slug>")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemFieldPublic] | None = None


# ---- health and models -------------------------------------------------------------------------------------
class HealthPublic(Public):
    status: Literal["ok"] = "ok"


class ReadyPublic(Versioned):
    status: Literal["ready"] = "ready"
    source: Literal["registry", "cache", "provided"]
    stale: bool = Field(description="True when serving the on-disk copy because the registry was unreachable.")
    note: str | None = None


class ComponentPublic(Public):
    name: str
    estimator: str
    params: dict[str, Any]


class CalibrationBinPublic(Public):
    forecast: float = Field(description="Mean forecast probability of the holdout episodes in this bin.")
    observed: float = Field(description="Observed rate among them.")
    count: int


class ModelsPublic(Versioned):
    model_name: str
    aliases: list[str]
    source: Literal["registry", "cache", "provided"]
    stale: bool
    note: str | None
    loaded_at: datetime
    forecast_period: str
    components: list[ComponentPublic]
    data_snapshot: dict[str, Any]
    metrics: dict[str, float | None]
    base_rates: dict[str, float]
    library_versions: dict[str, str]
    calibration: dict[str, list[CalibrationBinPublic]] = Field(
        default_factory=dict, description="Holdout reliability per model (empty for bundles trained before it was "
                                          "stored).")


class ReloadPublic(Versioned):
    previous_version: str | None
    changed: bool
    source: Literal["registry", "cache", "provided"]
    loaded_at: datetime


# ---- programmes and forecasts ------------------------------------------------------------------------------
class ProgramPublic(Public):
    program_id: str
    modality: str
    groups: dict[str, str] = Field(description="Grouping columns usable in allocation constraints.")
    current_funding: float
    next_referrals: float
    observed_min_funding: float
    observed_max_funding: float
    max_forecast_funding: float = Field(description="Forecasts and allocations are refused above this amount.")


class ProgramsPublic(Versioned):
    forecast_period: str
    programs: list[ProgramPublic]


class ForecastItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program_id: Identifier
    funding: list[Money] | None = Field(None, min_length=1, max_length=200, description="Absolute amounts.")
    multiples: list[Annotated[Number, Field(ge=0, le=3)]] | None = Field(
        None, min_length=1, max_length=200, description="Multiples of the programme's current funding.")

    @model_validator(mode="after")
    def _one_kind(self) -> ForecastItem:
        if (self.funding is None) == (self.multiples is None):
            raise ValueError("give either funding or multiples")
        return self


class ForecastCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"programs": [
        {"program_id": "P001", "multiples": [0.5, 1.0, 1.5]}, {"program_id": "P002", "funding": [90000, 120000]}]}]})
    programs: list[ForecastItem] = Field(min_length=1, max_length=100)


class IntervalPublic(Public):
    value: float
    lower: float
    upper: float


class ForecastPointPublic(Public):
    funding: float
    episodes: float
    reliable_improvements: IntervalPublic
    qalys: IntervalPublic
    dropouts: float
    cost: float
    outside_observed_range: bool


class ProgramForecastPublic(Public):
    program_id: str
    current_funding: float
    observed_min_funding: float
    observed_max_funding: float
    points: list[ForecastPointPublic]


class ForecastPublic(Versioned):
    forecast_period: str
    forecasts: list[ProgramForecastPublic]


# ---- recommendations and scenarios -------------------------------------------------------------------------
Amount = float | None
Detail = Literal["summary", "full"]


class ProvenancePublic(Public):
    model_version: str
    data_snapshot: dict[str, Any]
    forecast_period: str


# --- decision units (whole FTEs, licence packs) and resource limits in the answer ---------------------------------
class AllocationUnitsPublic(Public):
    units: int | None = Field(None, description="Whole units funded, for a cell with a step.")
    unit: str | None = Field(None, description="What one unit is, e.g. FTE.")
    units_label: str | None = Field(None, description="Units and their name, e.g. '3 FTE'.")


class ResourceUsePublic(Public):
    name: str
    used: float
    available: float


class ResourcesPublic(Public):
    resources: list[ResourceUsePublic] = Field(default_factory=list,
                                               description="Use of each resource limit by the plan.")
# --- end of decision units -------------------------------------------------------------------------------------------


class AllocationPublic(AllocationUnitsPublic):
    program_id: str
    current_funding: float
    recommended_funding: float
    change: float
    change_pct: Amount
    lower_limit: float
    upper_limit: float
    objective_current: Amount
    objective_recommended: Amount
    metrics_current: dict[str, Amount]
    metrics_recommended: dict[str, Amount]
    marginal_gain_per_1000: Amount
    flags: list[str]
    expected_reliable_improvements: dict[str, Amount]


class BaselinePublic(Public):
    name: str
    feasible: bool
    adjusted: bool
    objective_value: Amount
    allocation: dict[str, float] | None = Field(description=(
        "The rule's funding per programme: in an answer with detail full, when the rule is feasible (else null)."))
    notes: list[str]


class BudgetPointPublic(Public):
    fraction: float
    budget: float
    objective_value: Amount


class RecommendationCreate(RecommendationRequest):
    """The CLI's constraints file plus the payer contracts a report projects and the money objective counts."""

    contracts: list[Contract] | None = Field(
        None, min_length=1, max_length=1_000,
        description="Payer contracts, as in the CLI's contracts file ({\"contracts\": [...]}, this list), for "
                    "the report and for objective kind money (other objectives leave them out). Default: the "
                    "contracts.json of the service's data folder, if any. Their populations are found in the data "
                    "folder's episodes (CAREALLOC_REVIEW_DATA_DIR).")

    @field_validator("contracts")
    @classmethod
    def _unique(cls, value: list[Contract] | None) -> list[Contract] | None:
        """The contracts file's rules: ids are unique (each contract's own fields are checked by Contract, and a
        problem inside one names it, see serving.problems.NAMED_ITEMS)."""
        ids = [c.contract_id for c in value or []]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"contract_id must be unique; repeated: {', '.join(repeated)}")
        return value

    def contract_set(self) -> ContractSet | None:
        return ContractSet(contracts=self.contracts) if self.contracts else None


class ContractProjectionPublic(Public):
    contract_id: str
    payer: str
    metric: str
    value: float
    lower: float
    upper: float
    episodes: float
    tier_probabilities: list[float]
    probability_penalty: float
    expected_payment: float
    payment_sd: float
    payment_p05: float
    payment_p95: float
    notes: list[str]


class MoneyPublic(Public):
    """The money objective's answer: the plan's worth and what the contracts are expected to pay under it."""

    value_per_improvement: float
    value: float = Field(description="value_per_improvement x reliable improvements + expected payments - funding.")
    reliable_improvements: float
    expected_payments: float = Field(description="Sum of the contracts' expected payments under the plan.")
    expected_payments_status_quo: float
    funding: float
    chosen: str = Field(description="Which candidate plan scored best (status quo, outcomes only, a linearisation).")
    method: str
    contracts: list[ContractProjectionPublic] = Field(description="Each contract under the plan.")
    contracts_status_quo: list[ContractProjectionPublic]


class RecommendationPublic(ResourcesPublic, Versioned):
    objective: dict[str, Any]
    objective_value: float
    budget: float
    budget_mode: str
    allocations: list[AllocationPublic]
    totals: dict[str, dict[str, Amount]]
    unallocated: float
    binding_constraints: list[str]
    shadow_price: Amount = Field(description="Objective gain per extra 1,000 of budget.")
    optimality_gap: dict[str, Any]
    budget_curve: list[BudgetPointPublic]
    baselines: list[BaselinePublic]
    solver: dict[str, Any]
    probability_beats_status_quo: float
    outside_observed_range: list[str]
    provenance: ProvenancePublic
    money: MoneyPublic | None = Field(None, description="Objective kind money only: expected contract payments.")
    detail_level: Detail = Field("full", description=(
        "summary (POST /v1/recommendations by default): the baselines without their per-programme allocation; "
        "full (?detail=full): with it."))


class ScenariosCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "scenarios": {"shift_to_telehealth": {"P001": 80000, "P003": 140000}, "cut_p002": {"P002": 50000}},
        "objective": {"kind": "reliable_improvements"}}]})
    scenarios: dict[Identifier, dict[Identifier, Money]] = Field(min_length=1, max_length=20)
    objective: ObjectiveSpec | None = None

    @field_validator("scenarios")
    @classmethod
    def _reserved(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        if "status_quo" in value:
            raise ValueError("'status_quo' is always included; name your scenarios differently")
        if any(len(split) > 10_000 for split in value.values()):
            raise ValueError("at most 10,000 programmes per scenario")
        return value


class PlanEvaluationPublic(Public):
    funding: dict[str, Amount]
    objective_value: Amount
    totals: dict[str, Amount]
    per_programme: dict[str, dict[str, Amount]]
    outside_forecast_grid: list[str]


class ScenariosPublic(Versioned):
    scenarios: dict[str, PlanEvaluationPublic]
    provenance: ProvenancePublic


# ---- patients ----------------------------------------------------------------------------------------------
class EpisodeIn(BaseModel):
    """One episode in contract form (features/contract.py); outcome columns are optional and never used."""

    model_config = ConfigDict(extra="forbid")

    episode_id: Identifier = Field(description="Your reference for the episode; the only identifier echoed back.")
    patient_id: Text | None = Field(None, description="Accepted for contract compatibility; never stored or echoed.")
    program_id: Identifier
    period: Period
    instrument: Text = Field(description="A registered instrument (the input contract's list).",
                             json_schema_extra={"enum": list(INSTRUMENT_NAMES)})
    baseline_score: Number
    final_score: Number | None = None
    dropped_out: bool | None = None
    sessions_attended: Annotated[int, Field(**_contract_bounds("sessions_attended"))] | None = None
    age: Annotated[int, Field(**_contract_bounds("age"))] | None = None
    sex: Text | None = None
    region: Text | None = None
    payer: Text | None = None
    diagnosis: Text | None = None
    satisfaction: Annotated[Number, Field(**_contract_bounds("satisfaction"))] | None = None
    deprivation_decile: Annotated[int, Field(ge=1, le=10)] | None = None

    @field_validator("instrument")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in INSTRUMENT_NAMES:
            raise ValueError(f"expected a registered instrument, one of {list(INSTRUMENT_NAMES)}")
        return value

    @field_validator("baseline_score", "final_score")
    @classmethod
    def _within_scale(cls, value: float | None, info: ValidationInfo) -> float | None:
        instrument = INSTRUMENTS.get(str(info.data.get("instrument")))
        if value is not None and instrument is not None and not (
                instrument.min_score <= value <= instrument.max_score):
            raise ValueError(f"expected a score within the {instrument.name} range "
                             f"{instrument.min_score:g} to {instrument.max_score:g}")
        return value


class RiskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"top_factors": 3, "episodes": [{
        "episode_id": "my-ref-1", "program_id": "P001", "period": "2026-Q1", "instrument": "PHQ-9",
        "baseline_score": 22, "age": 34, "sex": "F", "region": "urban", "payer": "medicaid",
        "diagnosis": "depression", "deprivation_decile": 3}]}]})
    episodes: list[EpisodeIn] = Field(min_length=1, max_length=MAX_RISK_EPISODES)
    top_factors: int = Field(3, ge=1, le=10)

    @field_validator("episodes")
    @classmethod
    def _unique_refs(cls, value: list[EpisodeIn]) -> list[EpisodeIn]:
        if len({e.episode_id for e in value}) != len(value):
            raise ValueError("episode_id must be unique within a request")
        return value


class FactorPublic(Public):
    feature: str
    value: str
    contribution: float = Field(description="Change in log-odds attributed to this factor.")
    text: str
    label: str = Field(description="The factor alone in plain words (e.g. 'Baseline PHQ-9 score of 22'), for "
                                   "charts.")


class OutcomeRiskPublic(Public):
    risk: float
    base_rate: float = Field(description="Average risk the factors move from.")
    factors: list[FactorPublic]


class EpisodeRiskPublic(Public):
    ref: str = Field(description="The episode_id you sent.")
    dropout: OutcomeRiskPublic
    non_response: OutcomeRiskPublic


class RiskPublic(Versioned):
    base_rates: dict[str, float]
    episodes: list[EpisodeRiskPublic]
