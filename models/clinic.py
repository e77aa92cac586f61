"""The joint clinic model: a clinic's expected reliable improvements as a function of its whole category spend vector.

Why: in a clinic network a clinic's budget categories act together on its patients (one buys visits, another the
effect per visit, another adherence, another referrals), and episodes are booked to its categories by spend
share. Per-programme curves then see every category of a clinic at the clinic's own funding per referral and
credit each with the same return per dollar, whatever it buys. This model reads clinics instead
(`features.clinic`), in the same structure as the programme forecaster:

    V_c(s) = referrals_c(s) x reach_c(s / referrals_c(s)) x mean over c's recent patients of P(RI | s / referrals)

- referrals: log referrals = a_c + b . log(1 + s / mean referrals_c), fitted within clinic (a_c absorbs the
  clinic's size and quality, the confounder), b >= 0 pooled over clinics, ridge-shrunk to 0;
- reach: cloglog(episodes / referrals) = r_c + g . log(1 + s / referrals), within clinic, g >= 0, as
  `models.reach` does for one programme's funding;
- response: a LightGBM classifier on the patient columns of the one feature function with the clinic as a
  categorical fixed effect and the clinic's spend columns (level and change against its own history) in place
  of the programme's funding, monotone in every category (more money never lowers response), calibrated like
  every classifier here.

The bundle carries no patient rows, so the response part is stored as a table per clinic: the cohort's mean
P(RI) on a lattice of each category's spend per referral (LATTICE multiples of the clinic's current ratios, all
combinations), read by multilinear interpolation in log spend and held flat beyond the lattice's ends (forecasts
there are flagged outside the observed range anyway). Nothing of the world's truth enters: only the contract
tables, with the clinic column the data owner names.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from features.clinic import (
    CLINIC_CATEGORICALS,
    ClinicPeriods,
    clinic_episode_columns,
    clinic_frame,
    clinic_of,
    clinic_periods,
    clinic_spend_columns,
    spend_feature_names,
)
from models.classifier import FundingAwareClassifier
from models.reach import cloglog, inverse_cloglog

LATTICE = np.array([0.4, 0.55, 0.75, 1.0, 1.3, 1.7])
"""Multiples of a clinic's current spend per referral on which the response table is stored, per category."""
COHORT = 200
"""Recent episodes per clinic whose mean response the table holds."""
RIDGE = 0.5
"""Shrinkage of the within-clinic slopes towards 0, in units of one clinic-period's squared deviation."""
RECENT_PERIODS = 4


class ClinicClassifier(FundingAwareClassifier):
    """`FundingAwareClassifier` on clinic columns: monotone in every category's spend, the clinic categorical."""

    CATEGORICAL_COLUMNS = CLINIC_CATEGORICALS

    def is_monotone(self, column: str) -> bool:
        return column.endswith(("_per_referral", "_vs_history"))


@dataclass(frozen=True)
class WithinFit:
    slopes: np.ndarray
    intercepts: dict[str, float]


def within_nonnegative(group: np.ndarray, x: np.ndarray, z: np.ndarray, w: np.ndarray,
                       recent: np.ndarray | None = None) -> WithinFit:
    """Weighted within-group least squares of z on the columns of x, slopes >= 0 and ridge-shrunk to 0; each
    group's intercept is its mean residual (over `recent` rows only where given)."""
    frame = pd.DataFrame(x).assign(z=z, g=group, w=w)
    weighted = frame.drop(columns=["g", "w"]).mul(frame["w"], axis=0).assign(g=group, w=w).groupby("g").sum()
    means = weighted.drop(columns="w").div(weighted["w"], axis=0)
    centred = frame.drop(columns=["g", "w"]) - means.reindex(group).to_numpy()
    root = np.sqrt(w / np.mean(w))[:, None]
    a = centred.drop(columns="z").to_numpy() * root
    b = centred["z"].to_numpy() * root[:, 0]
    k = x.shape[1]
    slopes, _ = nnls(np.vstack([a, np.sqrt(RIDGE) * np.eye(k)]), np.concatenate([b, np.zeros(k)]))
    residual = pd.Series(z - x @ slopes)
    keep = np.ones(len(z), bool) if recent is None else recent
    intercepts = residual[keep].groupby(group[keep]).mean()
    return WithinFit(slopes=slopes, intercepts={str(g): float(v) for g, v in intercepts.items()})


@dataclass(frozen=True)
class ClinicValues:
    """What the bundle keeps of the clinic model: per clinic its programmes per category, current spend and the
    fitted pieces of V_c(s) (module docstring); aggregates only."""

    categories: tuple[str, ...]
    clinics: tuple[str, ...]
    programs: tuple[tuple[str | None, ...], ...]
    """Per clinic, its programme of each category (None where it has none: that category's spend stays 0)."""
    current: np.ndarray
    """(clinics x categories) spend in the last period."""
    reference_referrals: np.ndarray
    referral_intercept: np.ndarray
    referral_slopes: np.ndarray
    reach_intercept: np.ndarray
    reach_slopes: np.ndarray
    current_per_referral: np.ndarray
    response: np.ndarray
    """(clinics, len(LATTICE), ... one axis per category): mean P(RI) of the clinic's recent patients."""
    lattice: np.ndarray = field(default_factory=lambda: LATTICE.copy())

    def index_of(self, program_id: str) -> tuple[int, int]:
        for c, row in enumerate(self.programs):
            if program_id in row:
                return c, row.index(program_id)
        raise KeyError(program_id)

    def referrals(self, c: int, spend: np.ndarray) -> np.ndarray:
        x = np.log1p(np.maximum(spend, 0.0) / self.reference_referrals[c])
        return np.exp(self.referral_intercept[c] + x @ self.referral_slopes)

    def outcomes(self, c: int, spend: np.ndarray) -> dict[str, np.ndarray]:
        """Expected referrals, episodes and reliable improvements of clinic `c` at each row of `spend`
        (m x categories)."""
        spend = np.atleast_2d(np.asarray(spend, float))
        referrals = self.referrals(c, spend)
        per_referral = np.maximum(spend, 0.0) / referrals[:, None]
        reach = inverse_cloglog(self.reach_intercept[c] + np.log1p(per_referral) @ self.reach_slopes)
        response = self._response(c, per_referral)
        episodes = referrals * reach
        return {"referrals": referrals, "episodes": episodes, "reliable_improvements": episodes * response}

    def _response(self, c: int, per_referral: np.ndarray) -> np.ndarray:
        grid = np.log(self.lattice)
        ratio = per_referral / np.maximum(self.current_per_referral[c], 1e-12)
        position = np.clip(np.log(np.maximum(ratio, 1e-12)), grid[0], grid[-1])
        upper = np.clip(np.searchsorted(grid, position, side="right"), 1, len(grid) - 1)
        lower = upper - 1
        weight = (position - grid[lower]) / (grid[upper] - grid[lower])
        table = self.response[c]
        out = np.zeros(len(per_referral))
        k = len(self.categories)
        for corner in itertools.product((0, 1), repeat=k):
            pick = tuple(np.where(np.array(corner)[None, :] == 1, upper, lower).T)
            share = np.prod(np.where(np.array(corner)[None, :] == 1, weight, 1.0 - weight), axis=1)
            out += share * table[pick]
        return out

    def total(self, allocation: dict[str, float]) -> float:
        """Expected reliable improvements of every clinic at an allocation (programmes left out: current)."""
        value = 0.0
        for c in range(len(self.clinics)):
            value += float(self.outcomes(c, self.spend_of(c, allocation)[None, :])["reliable_improvements"][0])
        return value

    def spend_of(self, c: int, allocation: dict[str, float]) -> np.ndarray:
        return np.array([allocation.get(p, self.current[c, k]) if p is not None else 0.0
                         for k, p in enumerate(self.programs[c])], float)


@dataclass
class ClinicModel:
    """The fitted joint clinic model (module docstring); `values` is what forecasts and plans read."""

    clinic_column: str
    response: ClinicClassifier
    values: ClinicValues


def fit_clinic_model(programs: pd.DataFrame, episodes: pd.DataFrame, clinic_column: str, targets: np.ndarray,
                     row_share: np.ndarray, tree_params: dict[str, Any], seed: int = 0) -> ClinicModel:
    """Fit on the contract tables (`targets`: reliable improvement per episode) and tabulate the next period."""
    periods = clinic_periods(programs, clinic_column, episodes)
    columns = clinic_episode_columns(programs, episodes, clinic_column, periods)
    frame = clinic_frame(columns)
    response = ClinicClassifier(funding_direction=1, random_state=seed, **tree_params).fit(
        frame, targets, row_share=row_share)
    values = _tabulate(programs, episodes, clinic_column, periods, frame, response, seed)
    return ClinicModel(clinic_column=clinic_column, response=response, values=values)


def _tabulate(programs: pd.DataFrame, episodes: pd.DataFrame, clinic_column: str, periods: ClinicPeriods,
              frame: pd.DataFrame, response: ClinicClassifier, seed: int) -> ClinicValues:
    table, cats = periods.table, periods.categories
    group = table["clinic"].to_numpy(dtype=object).astype(str)
    order = sorted(table["period"].astype(str).unique())
    recent = table["period"].astype(str).isin(order[-RECENT_PERIODS:]).to_numpy()
    last = table["period"].astype(str).to_numpy() == order[-1]
    reference = table.groupby("clinic")["referrals"].mean()
    refs = table["referrals"].to_numpy(float)
    x_ref = np.log1p(periods.spend / reference.reindex(table["clinic"]).to_numpy()[:, None])
    referral_fit = within_nonnegative(group, x_ref, np.log(np.maximum(refs, 1.0)), np.ones(len(refs)), recent)
    reach = np.clip(table["n"].to_numpy(float) / np.maximum(refs, 1.0), 0.0, 1.0)
    x_reach = np.log1p(periods.spend / np.maximum(refs, 1.0)[:, None])
    reach_fit = within_nonnegative(group, x_reach, cloglog(reach), refs)

    clinics = tuple(sorted(set(group)))
    clinic = clinic_of(programs, clinic_column)
    latest = programs[programs["period"].astype(str) == order[-1]]
    by_category = {(str(clinic[p]), str(m)): str(p) for p, m in zip(latest["program_id"], latest["modality"],
                                                                    strict=True)}
    current = np.vstack([periods.spend[last & (group == c)][0] for c in clinics])
    reference_refs = reference.reindex(list(clinics)).to_numpy(float)
    values = ClinicValues(
        categories=cats, clinics=clinics,
        programs=tuple(tuple(by_category.get((c, k)) for k in cats) for c in clinics),
        current=current, reference_referrals=reference_refs,
        referral_intercept=np.array([referral_fit.intercepts[c] for c in clinics]),
        referral_slopes=referral_fit.slopes,
        reach_intercept=np.array([reach_fit.intercepts[c] for c in clinics]), reach_slopes=reach_fit.slopes,
        current_per_referral=np.zeros_like(current), response=np.zeros((len(clinics), *(len(LATTICE),) * len(cats))))
    next_refs = np.array([values.referrals(i, current[i][None, :])[0] for i in range(len(clinics))])
    per_referral = current / next_refs[:, None]
    prior = pd.DataFrame(periods.spend / np.maximum(refs, 1.0)[:, None]).groupby(group).mean().reindex(
        list(clinics)).to_numpy()
    rng = np.random.default_rng(seed)
    names = spend_feature_names(cats)
    points = np.array(list(itertools.product(LATTICE, repeat=len(cats))))
    episode_clinic = frame["clinic"].astype(str).to_numpy()
    episode_recent = episodes["period"].astype(str).isin(order[-2:]).to_numpy()
    response_table = np.zeros((len(clinics), len(points)))
    for i, c in enumerate(clinics):
        rows = np.flatnonzero((episode_clinic == c) & episode_recent)
        if len(rows) > COHORT:
            rows = np.sort(rng.choice(rows, COHORT, replace=False))
        cohort = frame.iloc[rows]
        spend = points * per_referral[i][None, :] * next_refs[i]
        columns = clinic_spend_columns(spend, np.full(len(points), next_refs[i]),
                                       np.tile(prior[i], (len(points), 1)), cats)
        grid = cohort.loc[cohort.index.repeat(len(points))].reset_index(drop=True)
        for name in names:
            grid[name] = np.tile(columns[name], len(cohort))
        p = response.predict_proba(grid)[:, 1].reshape(len(cohort), len(points))
        response_table[i] = p.mean(axis=0)
    shape = (len(clinics), *(len(LATTICE),) * len(cats))
    return replace(values, current_per_referral=per_referral, response=response_table.reshape(shape))
