"""The quarterly review: load the new quarter's outcomes, score the last plan, look for drift, propose the next split.

The CLI (`carealloc review`) calls this after an optional retrain through the training gate; retraining lives in
`training/`, above this layer, so the caller decides and hands over the champion it wants reviewed with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from allocation import InfeasibleConstraintsError
from features.drift import P_ALERT, Alert, input_drift, outcome_shift, rate_against_p, referral_volume
from features.kpi import programme_kpis
from models.bundle import CareAllocBundle
from models.evaluation import expected_calibration_error
from models.suite import targets
from records.kpi_history import KpiHistory, LoadReport
from records.plans import PlanStore
from usecases.plan_scoring import PlanScore, score_plan
from usecases.recommendation import RecommendationRequest, recommend

CALIBRATION_ALERT = 0.03
"""Mean forecast risk 3 points off the observed rate: enough to mislead a clinician's triage, and beyond the
holdout ECE of the models we ship (about 0.01-0.02)."""


@dataclass
class Review:
    period: str
    load: LoadReport
    plan_score: PlanScore | None
    alerts: list[Alert]
    proposal: dict[str, Any] | None
    proposal_plan_id: str | None
    model_version: str
    model_has_period: bool
    """Whether the model that proposes the next split was trained on data including the reviewed period."""
    notes: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """The review in numbers, as MLflow logs them and Prometheus shows the latest (records/reviews.py)."""
        figures: dict[str, float] = {"kpi_figures_added": self.load.added, "kpi_figures_replaced": self.load.replaced,
                                     "alerts": len(self.alerts)}
        for kind in ALERT_KINDS:
            figures[f"alerts_{kind}"] = sum(a.kind == kind for a in self.alerts)
        if self.plan_score is not None:
            for metric, share in self.plan_score.coverage.items():
                figures[f"plan_{metric}_inside_interval"] = share
            for metric, totals in self.plan_score.totals.items():
                figures[f"plan_{metric}_actual_minus_forecast"] = totals["actual"] - totals["forecast"]
                figures[f"plan_{metric}_gain_over_status_quo"] = totals["gain_over_status_quo"]
        return {name: float(value) for name, value in figures.items()}

    def alert_rows(self) -> list[dict[str, Any]]:
        return [asdict(alert) for alert in self.alerts]

    def to_dict(self) -> dict[str, Any]:
        """The whole review as JSON-ready data: what `carealloc review --json` prints, POST /v1/review answers and
        the review's MLflow run keeps."""
        score = self.plan_score
        return {
            "period": self.period, "model_version": self.model_version, "model_has_period": self.model_has_period,
            "kpi_load": {"added": self.load.added, "replaced": self.load.replaced, "unchanged": self.load.unchanged,
                         "new_programmes": list(self.load.new_programmes),
                         "missing_programmes": list(self.load.missing_programmes)},
            "plan_score": None if score is None else {
                "plan_id": score.plan_id, "coverage": score.coverage, "totals": score.totals,
                "attribution": score.attribution,
                "programmes": json.loads(score.programmes.to_json(orient="records"))},
            "alerts": self.alert_rows(),
            "notes": self.notes, "proposal_plan_id": self.proposal_plan_id, "proposal": self.proposal,
        }


ALERT_KINDS = ("input_drift", "referral_volume", "outcome_shift", "calibration_drift")


def calibration_drift(bundle: CareAllocBundle, episodes: pd.DataFrame, period: str) -> list[Alert]:
    """The risk models' mean forecast against the observed rates of the period (calibration in the large)."""
    known = episodes[episodes["program_id"].astype(str).isin(bundle.programs.keys())]
    if len(known) < 50:
        return []
    risk = bundle.risk(known.reset_index(drop=True))
    improved, dropped = targets(known.reset_index(drop=True))
    alerts = []
    for name, observed, forecast, stored in (
            ("dropout", np.asarray(dropped, dtype=float), risk["dropout_risk"].to_numpy(), "dropout_ece"),
            ("response", np.asarray(improved, dtype=float), 1.0 - risk["non_response_risk"].to_numpy(),
             "response_ece")):
        n = float(len(observed))
        gap = float(observed.mean() - forecast.mean())
        p = rate_against_p(observed.sum(), n, float(forecast.mean()))
        ece = expected_calibration_error(observed, forecast)
        if abs(gap) >= CALIBRATION_ALERT and p < P_ALERT:
            holdout = bundle.metrics.get(stored)
            was = f" (holdout ECE {holdout:.3f})" if holdout is not None else ""
            alerts.append(Alert("calibration_drift", f"{name} model",
                                f"observed rate {observed.mean():.1%} against a mean forecast of "
                                f"{forecast.mean():.1%}; ECE {ece:.3f}{was}", gap, "observed - forecast", period,
                                "retrain (`carealloc review --retrain` or `carealloc train`); until then read "
                                "patient risks as ranks, not probabilities"))
    return alerts


def expected_rates(bundle: CareAllocBundle, period_programs: pd.DataFrame) -> pd.DataFrame:
    """The model's reliable-improvement and dropout rates per programme at the funding actually spent."""
    rows = []
    for program, funding in zip(period_programs["program_id"].astype(str),
                                period_programs["funding"].to_numpy(dtype=float), strict=True):
        if program not in bundle.programs:
            continue
        curve = bundle.curve(program, [min(max(funding, 0.0), bundle.max_funding[program])]).iloc[0]
        if curve["episodes"] <= 0:
            continue
        rows += [{"program_id": program, "kpi": "reliable_improvement_rate",
                  "rate": curve["reliable_improvements"] / curve["episodes"]},
                 {"program_id": program, "kpi": "dropout_rate", "rate": curve["dropouts"] / curve["episodes"]}]
    return pd.DataFrame(rows, columns=["program_id", "kpi", "rate"])


def outside_plan_interval(score: PlanScore) -> list[Alert]:
    """Programmes whose reliable improvements fell outside the interval the plan stated for them."""
    rows = score.programmes[(score.programmes["metric"] == "reliable_improvements")
                            & (score.programmes["inside"] == False)]  # noqa: E712 (nullable: NA is not False)
    alerts = []
    for r in rows.to_dict("records"):
        followed = "" if r["followed"] else "; funding did not follow the plan"
        alerts.append(Alert("outcome_shift", f"programme {r['program_id']}",
                            f"{r['actual']:.1f} reliable improvements against the plan's {r['forecast']:.1f} "
                            f"({r['lower']:.1f}-{r['upper']:.1f}){followed}", float(r["actual"] - r["forecast"]),
                            "actual - forecast", score.period, "review the programme before its funding moves again"))
    return alerts


def run_review(bundle: CareAllocBundle, programs: pd.DataFrame, episodes: pd.DataFrame, period: str, *,
               history: KpiHistory, plans: PlanStore, source: str, issued_by: str,
               next_request: RecommendationRequest | None = None, correction: bool = False) -> Review:
    """Review `period` of the given tables; raises ValueError when the tables do not hold it.

    Every period up to `period` in the tables goes into the KPI history (already stored figures change nothing),
    so a first review backfills the trends it compares with."""
    periods = sorted(programs["period"].astype(str).unique())
    if period not in periods:
        raise ValueError(f"period {period} is not in the data (periods: {', '.join(periods)})")
    upto = programs[programs["period"].astype(str) <= period]
    episodes_upto = episodes[episodes["period"].astype(str) <= period]
    kpis = programme_kpis(upto, episodes_upto)
    load = history.load(kpis, source=source, correction=correction)
    notes = []
    if load.new_programmes:
        notes.append(f"new programme(s) in the history: {', '.join(load.new_programmes)}")
    if load.missing_programmes:
        notes.append(f"programme(s) in the history but not in {period}: {', '.join(load.missing_programmes)}")

    this_period = programs[programs["period"].astype(str) == period]
    plan = plans.latest(period)
    score = None
    if plan is None:
        notes.append(f"no plan was issued for {period}; nothing to score")
    else:
        funding = pd.Series(this_period["funding"].to_numpy(dtype=float),
                            index=this_period["program_id"].astype(str))
        score = score_plan(plan, kpis, funding)

    trained_on = sorted(bundle.program_table["period"].astype(str).unique())
    current = episodes[episodes["period"].astype(str) == period]
    labels = episodes["period"].astype(str)
    reference = episodes[labels.isin(trained_on) & (labels != period)]  # what the model learned from, before now
    alerts = [*input_drift(reference, current, period), *referral_volume(upto, period),
              *outcome_shift(kpis, period, expected_rates(bundle, this_period)),
              *(outside_plan_interval(score) if score is not None else []),
              *calibration_drift(bundle, current, period)]

    model_has_period = period in trained_on
    proposal, proposal_id = None, None
    if not model_has_period:
        # its forecasts are for the reviewed period itself: a "next quarter" plan from it would be stale
        notes.append(f"no proposal for the next quarter: model {bundle.model_version} was trained through "
                     f"{trained_on[-1]}, before {period}; retrain to include it "
                     "(`--retrain`)")
    else:
        request = next_request or RecommendationRequest()
        try:
            proposal = recommend(bundle, request)
            proposal_id = plans.save(proposal, request.model_dump(mode="json"), issued_by=issued_by)
        except InfeasibleConstraintsError as exc:
            notes.append("no proposal: the constraints cannot all hold: "
                         + "; ".join(str(c) for c in exc.conflicts))
    return Review(period, load, score, alerts, proposal, proposal_id, bundle.model_version, model_has_period, notes)
