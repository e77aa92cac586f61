"""The one deployable artefact: the three models, their feature transform, programme curves and provenance.

Serving needs two things from a trained model: outcome curves per programme (for allocation and what-if
forecasts) and risk for submitted episodes (for clinicians). Curves are computed at training time on a fine
funding grid from the programmes' patient mix, so the bundle carries aggregates only, never patient rows: a
registry artefact must not become a copy of health records. Risk scoring runs the same feature function as
training on the submitted episodes, with the stored programme history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.build import (
    EpisodeColumns,
    ProgramPeriods,
    demand,
    episode_columns,
    feature_frame,
    next_period,
    period_outcomes,
    program_history,
)
from models.forecast import Forecaster, ProgramState
from models.intervals import UNCALIBRATED, IntervalCalibration
from models.suite import ModelSuite

CURVE_MAX_MULTIPLE = 3.0
"""Curves span 0 .. 3x current funding; asking beyond that is refused rather than extrapolated silently."""
CURVE_METRICS = ("episodes", "reliable_improvements", "reliable_improvements_lower", "reliable_improvements_upper",
                 "dropouts", "qalys", "cost")


def curve_grid() -> np.ndarray:
    """Funding levels as multiples of current funding: dense where decisions are made (0.5x-1.5x), coarse beyond."""
    return np.unique(np.round(np.concatenate([np.linspace(0.0, CURVE_MAX_MULTIPLE, 31), np.linspace(0.5, 1.5, 41)]),
                              6))


class UnknownProgramError(KeyError):
    """A programme the bundle has no history for."""


class FundingOutOfRangeError(ValueError):
    """A funding level outside the range the bundle's curves cover."""


@dataclass
class CareAllocBundle:
    suite: ModelSuite
    programs: dict[str, ProgramState]
    curves: pd.DataFrame
    program_table: pd.DataFrame
    """The programs contract table extended with the next period's row per programme (aggregates only)."""
    history: pd.DataFrame
    next_period: str
    base_rates: dict[str, float]
    metrics: dict[str, float] = field(default_factory=dict)
    snapshot: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    model_version: str = "unregistered"
    calibration: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    """Holdout reliability per model (forecast vs observed rate and count per probability bin; aggregates only)."""
    intervals: IntervalCalibration = UNCALIBRATED
    """The forecaster's interval calibration that made the curves' bands (a bundle pickled before it had one reads
    the stand-in): what a projection needs to take parts of a band apart, e.g. a rate's spread without demand."""

    def limit_threads(self, threads: int) -> None:
        """Cap LightGBM's threads per prediction: a server runs many requests side by side, and OpenMP teams
        per request on top of that oversubscribe the cores."""
        self.suite.response.set_params(n_jobs=threads)
        self.suite.dropout.set_params(n_jobs=threads)

    @property
    def max_funding(self) -> dict[str, float]:
        return {p: CURVE_MAX_MULTIPLE * max(s.current_funding, 1.0) for p, s in self.programs.items()}

    def curve(self, program_id: str, funding: np.ndarray | list[float]) -> pd.DataFrame:
        """Forecast outcomes at the given funding levels, interpolated on the stored fine grid."""
        if program_id not in self.programs:
            raise UnknownProgramError(program_id)
        levels = np.asarray(funding, dtype=float)
        top = self.max_funding[program_id]
        if (levels < 0).any() or (levels > top).any():
            raise FundingOutOfRangeError(
                f"funding for {program_id} must be between 0 and {top:,.0f} (3x its current funding)")
        grid = self.curves[self.curves["program_id"] == program_id]
        out = pd.DataFrame({"program_id": program_id, "funding": levels})
        for metric in CURVE_METRICS:
            out[metric] = np.interp(levels, grid["funding"].to_numpy(), grid[metric].to_numpy())
        state = self.programs[program_id]
        out["outside_observed_range"] = (levels < state.observed_min) | (levels > state.observed_max)
        return out

    def feature_columns(self, episodes: EpisodeColumns, periods: ProgramPeriods | None = None
                        ) -> dict[str, np.ndarray]:
        """Features for submitted episodes as arrays; periods after the training data are scored at current
        funding. Unknown programmes raise UnknownProgramError (the service's 404). `periods`: this bundle's
        programme-period look-up when the caller keeps one (`models.scoring.BundleScorer`)."""
        program_id = np.asarray(episodes["program_id"], dtype=object)
        unknown = sorted({str(p) for p in program_id} - self.programs.keys())
        if unknown:
            raise UnknownProgramError(", ".join(unknown))
        periods = ProgramPeriods.of(self.program_table, self.history) if periods is None else periods
        asked = np.asarray(episodes["period"], dtype=object)
        known = np.fromiter(((str(p), str(q)) in periods.rows for p, q in zip(program_id, asked, strict=True)),
                            dtype=bool, count=len(asked))
        scored: dict[str, Any] = {str(column): values for column, values in episodes.items()}
        scored["period"] = np.where(known, asked, self.next_period)
        return episode_columns(scored, periods)

    def features(self, episodes: pd.DataFrame) -> pd.DataFrame:
        """`feature_columns` as the frame training fits on (same index as `episodes`)."""
        return feature_frame(self.feature_columns(episodes), episodes.index)

    def risk(self, episodes: pd.DataFrame) -> pd.DataFrame:
        X = self.features(episodes)
        return pd.DataFrame({
            "dropout_risk": self.suite.dropout.predict_proba(X)[:, 1],
            "non_response_risk": 1.0 - self.suite.response.predict_proba(X)[:, 1],
        }, index=episodes.index)


def make_bundle(forecaster: Forecaster, suite: ModelSuite, programs: pd.DataFrame, episodes: pd.DataFrame | None,
                *, outcomes: pd.DataFrame | None = None, **provenance: Any) -> CareAllocBundle:
    """The bundle from fitted models; `outcomes` (per programme-period sums) can stand in for `episodes`."""
    outcomes = period_outcomes(episodes) if outcomes is None and episodes is not None else outcomes
    frames = []
    for pid, state in sorted(forecaster.programs.items()):
        grid = max(state.current_funding, 1.0) * curve_grid()
        frames.append(forecaster.curve(pid, grid))
    curves = pd.concat(frames, ignore_index=True)
    upcoming = next_period(sorted(programs["period"].unique())[-1])
    group_cols = [c for c in ("region", "site_id") if c in programs.columns]
    rows = [{"program_id": s.program_id, "period": upcoming, "modality": s.modality, "funding": s.current_funding,
             "referrals": s.next_referrals, **{c: s.groups.get(c) for c in group_cols}}
            for s in forecaster.programs.values()]
    known = programs[["program_id", "period", "modality", "funding", *group_cols]].assign(
        referrals=demand(programs, outcomes=outcomes))
    table = pd.concat([known, pd.DataFrame(rows)], ignore_index=True)
    history = program_history(table, outcomes=outcomes)
    pooled = pd.concat(list(forecaster.cohorts.values()), ignore_index=True)
    base_rates = {"dropout": float(suite.dropout.predict_proba(pooled)[:, 1].mean()),
                  "non_response": float(1.0 - suite.response.predict_proba(pooled)[:, 1].mean())}
    return CareAllocBundle(suite=suite, programs=dict(forecaster.programs), curves=curves, program_table=table,
                           history=history, next_period=upcoming, base_rates=base_rates,
                           intervals=forecaster.intervals, **provenance)

