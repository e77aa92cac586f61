"""What the synthetic world knows and the models must learn: next period's expected outcomes at any funding.

The next period's referrals are represented by a fixed, seeded cohort of representative patients per programme.
Given that cohort, expectations are exact: the dropout process and the measurement noise are integrated out in
closed form (mechanism.reliable_improvement_probability and the survival sums below), with no Monte Carlo. The
only approximation is the cohort size (`cohort_size`, 3,000 per programme by default), which sets the patient mix.

Every decision-quality figure in the project is scored with `Truth.expected_outcomes`; the oracle allocation is
exact on a stated money grid (dynamic programming over programmes, since outcomes are separable by programme).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from synthetic.mechanism import (
    MAX_SESSIONS,
    QALY_HORIZON_YEARS,
    Cohort,
    InstrumentArrays,
    ProgramArrays,
    courses_per_referral,
    draw_cohort,
    dropout_hazard,
    entry_probability,
    good_enough_session,
    reach_share,
    reliable_improvement_probability,
    score_from_severity,
    session_cap,
    severity_path,
    utility,
    wait_dropout,
    wait_weeks,
)
from synthetic.plan import WorldPlan, build_plan
from synthetic.presets import Preset

METRICS = ("episodes", "reliable_improvements", "dropouts", "qalys", "cost")
TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class _ProgramCohort:
    """Cumulative per-patient sums over the session at which treatment stops, for O(1) lookups by session cap."""

    patients: Cohort  # kept for entry probabilities
    good: np.ndarray  # good-enough session per patient
    survive: np.ndarray  # (n, K+2): P(attends session k | started)
    ri_dropped: np.ndarray  # cumulative expected reliable improvements from those leaving after sessions <= k
    sessions_dropped: np.ndarray
    qaly_dropped: np.ndarray
    ri_at: np.ndarray  # P(reliable improvement | stops as planned at k)
    qaly_at: np.ndarray
    ri_after_assessment: np.ndarray  # expected reliable improvement of leaving right after session 1


def prepare_cohort(preset: Preset, arrays: ProgramArrays, cohort: Cohort) -> _ProgramCohort:
    """The cumulative sums of one programme's representative cohort (every patient of `cohort` in that programme)."""
    inst = InstrumentArrays.for_cohort(preset, cohort)
    severity = severity_path(preset, arrays, cohort, inst)
    hazard = dropout_hazard(arrays, cohort, severity)
    n, k = severity.shape
    survive = np.ones((n, k + 1))
    survive[:, 2:] = np.cumprod(1.0 - hazard[:, 1:], axis=1)  # survive[:, s] = P(attends session s)
    survive[:, 0] = 1.0
    leave = survive[:, :k] * hazard  # P(leaves right after session s), s = 0..K (s = 0 is zero)
    ri_at = reliable_improvement_probability(score_from_severity(severity, inst), cohort, inst)
    qaly_at = QALY_HORIZON_YEARS * (utility(severity) - utility(severity[:, :1]))
    sessions = np.arange(k)[None, :]
    return _ProgramCohort(
        patients=cohort, good=good_enough_session(severity, inst), survive=survive,
        ri_dropped=np.cumsum(leave * preset.final_when_dropped * ri_at, axis=1),
        sessions_dropped=np.cumsum(leave * sessions, axis=1),
        qaly_dropped=np.cumsum(leave * qaly_at, axis=1),
        ri_at=ri_at, qaly_at=qaly_at, ri_after_assessment=preset.final_when_dropped * ri_at[:, 1],
    )


def _per_started(pc: _ProgramCohort, cap: np.ndarray, leave_early: np.ndarray) -> dict[str, np.ndarray]:
    """Expected outcomes per started patient, shape (len(cap), n); cap is an integer session cap.

    `leave_early` (one per cap) is the wait's competing risk of leaving after session 1: independent of the
    session hazard, it scales every later survival by (1 - leave_early), so the outcome is a mixture of the
    ordinary path and leaving after session 1 wherever the planned stop is later than session 1.
    """
    stop = np.minimum(pc.good[None, :], cap[:, None])  # planned stop session
    rows = np.arange(pc.good.size)[None, :]
    before = stop - 1
    at_stop = pc.survive[rows, stop]
    plain = {
        "reliable_improvements": pc.ri_dropped[rows, before] + at_stop * pc.ri_at[rows, stop],
        "dropouts": 1.0 - at_stop,
        "sessions": pc.sessions_dropped[rows, before] + at_stop * stop,
        "qalys": pc.qaly_dropped[rows, before] + at_stop * pc.qaly_at[rows, stop],
    }
    d = np.where(stop >= 2, leave_early[:, None], 0.0)
    early = {"reliable_improvements": pc.ri_after_assessment[None, :], "dropouts": 1.0, "sessions": 1.0,
             "qalys": pc.qaly_at[None, :, 1]}
    return {k: (1.0 - d) * v + d * early[k] for k, v in plain.items()}


def outcomes_at(a: ProgramArrays, i: int, pc: _ProgramCohort, funding: np.ndarray,
                referrals: np.ndarray | float) -> dict[str, np.ndarray]:
    """Expected outcomes (METRICS) of programme i of `a` at each funding level, with `referrals` (one, or one per
    level) expected referrals; `pc` is the programme's prepared cohort."""
    funding = np.asarray(funding, dtype=float)
    referrals = np.broadcast_to(np.asarray(referrals, dtype=float), funding.shape)
    kappa = courses_per_referral(funding, referrals, a.unit_cost[i], a.standard_sessions[i], a.overhead[i])
    offered = referrals * reach_share(kappa, a.reach_rate[i])
    cap = session_cap(kappa, a.reach_rate[i], a.standard_sessions[i])
    low = np.floor(cap).astype(np.int64)
    high = np.minimum(low + 1, MAX_SESSIONS)
    frac = (cap - low)[:, None]
    wait = wait_weeks(kappa, a.wait_scale, a.max_wait)
    leave_early = wait_dropout(a, wait)
    lo, hi = _per_started(pc, low, leave_early), _per_started(pc, high, leave_early)
    cohort = pc.patients
    size = len(cohort)
    start = np.stack([entry_probability(a, cohort, np.full(size, w)) for w in wait])
    per = {k: (1 - frac) * lo[k] + frac * hi[k] for k in lo}
    mean = {k: (start * v).mean(axis=1) for k, v in per.items()}
    return {
        "episodes": offered,
        "reliable_improvements": offered * mean["reliable_improvements"],
        "dropouts": offered * (1.0 - start.mean(axis=1) + mean["dropouts"]),
        "qalys": offered * mean["qalys"],
        "cost": offered * mean["sessions"] * a.unit_cost[i],
    }


def add_to_budget_table(best: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of the oracle's dynamic programme over budget units: `best[u]` is the best value of the parts so far
    with u units, `values[j]` the next part's value at j units (-inf where it cannot take j); returns the table with
    that part added and, per total, the units the part takes."""
    units = best.size - 1
    new = np.full(units + 1, -np.inf)
    pick = np.zeros(units + 1, dtype=np.int64)
    for j in range(min(values.size, units + 1)):
        if not np.isfinite(values[j]):
            continue
        candidate = np.full(units + 1, -np.inf)
        candidate[j:] = best[: units + 1 - j] + values[j]
        better = candidate > new
        new[better], pick[better] = candidate[better], j
    return new, pick


def spread_leftover(x: np.ndarray, highs: np.ndarray, budget: float) -> np.ndarray:
    """The budget left below one grid unit, put where there is room (most room first)."""
    leftover = budget - x.sum()
    for i in np.argsort(highs - x)[::-1]:
        room = min(highs[i] - x[i], leftover)
        x[i] += room
        leftover -= room
    return x


class Truth:
    """Exact expected next-period outcomes of a synthetic world, and the oracle allocation."""

    with_clinics: ClassVar[type[Truth] | None] = None
    """The truth of plans with clinics (the clinic-category world): `synthetic.clinic_truth.ClinicTruth`, which
    builds on this module and registers itself here when the package is imported, so this module needs no import
    of it."""

    def __new__(cls, plan: WorldPlan, cohort_size: int = 3000) -> Truth:
        """A plan with clinics gets the clinic-level truth."""
        if cls is Truth and plan.clinics is not None:
            if Truth.with_clinics is None:
                raise RuntimeError("synthetic.clinic_truth is not loaded; import the synthetic package")
            return super().__new__(Truth.with_clinics)
        return super().__new__(cls)

    def __init__(self, plan: WorldPlan, cohort_size: int = 3000):
        self.plan = plan
        self.cohort_size = cohort_size
        self.program_ids: tuple[str, ...] = tuple(plan.programs["program_id"])
        self._index = {p: i for i, p in enumerate(self.program_ids)}

    # ---- persistence: the plan is rebuilt from its recipe, so the file stays small and human-readable ----
    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / TRUTH_FILE
        programs = self.plan.programs.assign(
            current_funding=self.plan.current_funding, next_referrals=self.plan.next_referrals)
        path.write_text(json.dumps({
            "preset": self.plan.preset.name, "episodes": self.plan.target_episodes, "seed": self.plan.seed,
            "regime": self.plan.regime,
            "cohort_size": self.cohort_size, "next_period": self.plan.next_period,
            "programs": json.loads(programs.to_json(orient="records")),
        }, indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Truth:
        path = Path(folder) / TRUTH_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the truth exists only for folders written by "
                                    "`carealloc simulate`")
        recipe = json.loads(path.read_text())
        plan = build_plan(recipe["preset"], recipe["episodes"], recipe["seed"], recipe.get("regime", "smooth"))
        return cls(plan, recipe["cohort_size"])

    # ---- exact expectations ----
    @cached_property
    def _cohorts(self) -> list[_ProgramCohort]:
        rng = np.random.default_rng([self.plan.seed, 2])
        return [self._prepare(rng, i) for i in range(len(self.program_ids))]

    def _prepare(self, rng: np.random.Generator, program: int) -> _ProgramCohort:
        preset, arrays = self.plan.preset, self.plan.arrays
        return prepare_cohort(preset, arrays, draw_cohort(rng, preset, arrays, np.full(self.cohort_size, program)))

    def curve(self, program_id: str, funding: np.ndarray) -> pd.DataFrame:
        """Expected next-period outcomes of one programme at each funding level."""
        i = self._program_index(program_id)
        funding = np.asarray(funding, dtype=float)
        out = outcomes_at(self.plan.arrays, i, self._cohorts[i], funding, float(self.plan.next_referrals[i]))
        return pd.DataFrame({"program_id": program_id, "funding": funding, **out})

    def expected_outcomes(self, funding: Mapping[str, float]) -> pd.DataFrame:
        """Expected next-period outcomes per programme for a full allocation (every programme named)."""
        x = self._funding_vector(funding)
        return pd.concat([self.curve(p, x[i: i + 1]) for i, p in enumerate(self.program_ids)], ignore_index=True)

    def _funding_vector(self, funding: Mapping[str, float]) -> np.ndarray:
        """A full allocation as an array in programme order; every programme named exactly once."""
        missing = set(self.program_ids) - set(funding)
        unknown = set(funding) - set(self.program_ids)
        if missing or unknown:
            raise KeyError(f"allocation must name every programme exactly: missing {sorted(missing)}, "
                           f"unknown {sorted(unknown)}")
        return np.array([funding[p] for p in self.program_ids], float)

    def value(self, funding: Mapping[str, float], metric: str = "reliable_improvements") -> float:
        return float(self.expected_outcomes(funding)[metric].sum())

    @property
    def current_funding(self) -> dict[str, float]:
        return dict(zip(self.program_ids, self.plan.current_funding.tolist(), strict=True))

    def _program_index(self, program_id: str) -> int:
        try:
            return self._index[program_id]
        except KeyError:
            raise KeyError(f"unknown programme {program_id!r}") from None

    # ---- oracle ----
    def oracle_allocation(self, budget: float, bounds: Mapping[str, tuple[float, float]], step: float,
                          metric: str = "reliable_improvements") -> tuple[dict[str, float], float]:
        """Best split of exactly `budget` with every programme inside its bounds: (allocation, truth value).

        Outcomes are separable by programme, so dynamic programming over programmes on the money grid `step`
        (levels are multiples of `step` above each lower bound) finds the best grid point exactly. Bounds rarely
        sit on that grid, and optima sit on bounds, so the grid answer is then polished by pairwise transfers of
        ever smaller amounts (down to step/256) between programmes, on each programme's curve evaluated at 401
        points across its bounds; a transfer is kept only if the exact truth value improves.
        """
        lows = np.array([bounds[p][0] for p in self.program_ids], float)
        highs = np.array([bounds[p][1] for p in self.program_ids], float)
        if (lows > highs).any() or lows.sum() > budget + 1e-6 or highs.sum() < budget - 1e-6:
            raise ValueError("bounds cannot meet the budget: minimums add up to "
                             f"{lows.sum():,.0f} and maximums to {highs.sum():,.0f}, budget {budget:,.0f}")
        grid = self._grid_optimum(budget, lows, highs, step, metric)
        polished = self._polish(grid, lows, highs, step, metric)
        candidates = [dict(zip(self.program_ids, x.tolist(), strict=True)) for x in (grid, polished)]
        values = [self.value(c, metric) for c in candidates]
        best = int(np.argmax(values))
        return candidates[best], values[best]

    def _grid_optimum(self, budget: float, lows: np.ndarray, highs: np.ndarray, step: float,
                      metric: str) -> np.ndarray:
        units = int(np.floor((budget - lows.sum()) / step + 1e-9))
        best = np.full(units + 1, -np.inf)
        best[0] = 0.0
        choice = []
        for i, p in enumerate(self.program_ids):
            options = min(int(np.floor((highs[i] - lows[i]) / step + 1e-9)), units)
            values = self.curve(p, lows[i] + step * np.arange(options + 1))[metric].to_numpy()
            best, pick = add_to_budget_table(best, values[: options + 1])
            choice.append(pick)
        used = units
        x = lows.copy()
        for i in reversed(range(len(self.program_ids))):
            j = int(choice[i][used])
            x[i] += step * j
            used -= j
        return spread_leftover(x, highs, budget)

    def _polish(self, start: np.ndarray, lows: np.ndarray, highs: np.ndarray, step: float,
                metric: str) -> np.ndarray:
        fine = [np.linspace(lows[i], highs[i], 401) for i in range(len(start))]
        curves = [self.curve(p, fine[i])[metric].to_numpy() for i, p in enumerate(self.program_ids)]

        def f(i: int, money: float) -> float:
            return float(np.interp(money, fine[i], curves[i]))

        x = start.copy()
        delta = step
        while delta > step / 256:
            improved = True
            while improved:
                up = np.minimum(highs - x, delta)
                down = np.minimum(x - lows, delta)
                gain = np.array([f(i, x[i] + up[i]) - f(i, x[i]) for i in range(len(x))])
                loss = np.array([f(i, x[i]) - f(i, x[i] - down[i]) for i in range(len(x))])
                rate_up = np.where(up > 1e-9, gain / np.maximum(up, 1e-9), -np.inf)
                rate_down = np.where(down > 1e-9, loss / np.maximum(down, 1e-9), np.inf)
                i, j = int(np.argmax(rate_up)), int(np.argmin(rate_down))
                amount = min(up[i], down[j])
                improved = i != j and amount > 1e-9 and (
                    f(i, x[i] + amount) - f(i, x[i]) > f(j, x[j]) - f(j, x[j] - amount) + 1e-12)
                if improved:
                    x[i] += amount
                    x[j] -= amount
            delta /= 2
        return x
