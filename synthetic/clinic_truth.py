"""The truth and oracle of the clinic-category world (clinics.py): exact expectations of clinics, not programmes.

A clinic's outcomes depend on its four categories' spend together, so the truth evaluates clinics: marketing sets
the expected referrals, training and technology the clinic's per-visit effect and dropout (a fresh set of
cumulative sums over the clinic's fixed representative cohort), staffing the courses per referral. Given those,
the expectation is the same closed form as for any programme (truth.outcomes_at), with no Monte Carlo. A clinic's
outcomes are booked to its programmes by spend share, as the simulator books episodes.

Outcomes are separable by clinic, not by programme, so the oracle works on clinics: every clinic's outcome on
the lattice of its categories' levels (multiples of one money unit above each lower bound), the best lattice
point for each clinic total, then dynamic programming over clinics; exact on that grid. The grid is then
polished by moving ever smaller amounts from one programme to another, each move kept only if the exact truth
value improves.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from functools import cached_property

import numpy as np
import pandas as pd

from synthetic.clinics import ClinicWorld, booking_shares
from synthetic.mechanism import Cohort, draw_cohort
from synthetic.truth import METRICS, Truth, add_to_budget_table, outcomes_at, prepare_cohort, spread_leftover

LATTICE_LEVELS = 6
"""Money units across the widest programme range on the oracle's lattice (7 levels, 7^4 points per clinic)."""
POLISH_ROUNDS = 30
"""Transfers tried per transfer size when polishing the oracle's grid answer."""


class ClinicTruth(Truth):
    """`Truth` for a plan with clinics: same interface, clinic-level mechanism."""

    @property
    def world(self) -> ClinicWorld:
        assert self.plan.clinics is not None
        return self.plan.clinics

    @cached_property
    def _patients(self) -> list[Cohort]:
        rng = np.random.default_rng([self.plan.seed, 2])
        w = self.world
        cohorts = []
        for c in range(w.n_clinics):
            cell = w.cells(np.array([c]), np.zeros(1), np.zeros(1), w.next_base_referrals[[c]])
            cohorts.append(draw_cohort(rng, self.plan.preset, cell, np.zeros(self.cohort_size, dtype=np.int64)))
        return cohorts

    def clinic_outcomes(self, clinic: int, spend: np.ndarray) -> dict[str, np.ndarray]:
        """Expected next-period outcomes of one clinic at each row of `spend` (m, 4: CATEGORIES order)."""
        spend = np.atleast_2d(np.asarray(spend, float))
        w = self.world
        base = float(w.next_base_referrals[clinic])
        out = {m: np.zeros(len(spend)) for m in METRICS}
        pairs, which = np.unique(spend[:, 1:3], axis=0, return_inverse=True)
        which = np.asarray(which).ravel()
        for j, (training, technology) in enumerate(pairs):
            rows = which == j
            cell = w.cells(np.array([clinic]), np.array([training]), np.array([technology]), np.array([base]))
            pc = prepare_cohort(self.plan.preset, cell, self._patients[clinic])
            referrals = base * w.referral_lift(spend[rows, 3], np.array(base))
            for metric, values in outcomes_at(cell, 0, pc, spend[rows, 0], referrals).items():
                out[metric][rows] = values
        return out

    def _clinic_of(self, program: int) -> tuple[int, int]:
        c, k = np.argwhere(self.world.rows == program)[0]
        return int(c), int(k)

    def curve(self, program_id: str, funding: np.ndarray) -> pd.DataFrame:
        """One programme's booked share of its clinic's expected outcomes, the clinic's other categories at their
        current funding."""
        i = self._program_index(program_id)
        c, k = self._clinic_of(i)
        funding = np.asarray(funding, dtype=float)
        spend = np.tile(self.plan.current_funding[self.world.rows[c]], (len(funding), 1))
        spend[:, k] = funding
        share = booking_shares(spend[None, :, :].transpose(0, 2, 1))[0, k]
        out = self.clinic_outcomes(c, spend)
        return pd.DataFrame({"program_id": program_id, "funding": funding, **{m: share * out[m] for m in METRICS}})

    def expected_outcomes(self, funding: Mapping[str, float]) -> pd.DataFrame:
        return self._booked(self._funding_vector(funding))

    def _booked(self, x: np.ndarray) -> pd.DataFrame:
        w = self.world
        spend = w.spend(x)
        shares = booking_shares(spend)
        values = {m: np.zeros(len(x)) for m in METRICS}
        for c in range(w.n_clinics):
            out = self.clinic_outcomes(c, spend[c][None, :])
            for m in METRICS:
                values[m][w.rows[c]] = shares[c] * out[m][0]
        return pd.DataFrame({"program_id": list(self.program_ids), "funding": x, **values})

    def _total(self, x: np.ndarray, metric: str) -> float:
        w = self.world
        spend = w.spend(x)
        return float(sum(self.clinic_outcomes(c, spend[c][None, :])[metric][0] for c in range(w.n_clinics)))

    # ---- oracle ----
    def oracle_allocation(self, budget: float, bounds: Mapping[str, tuple[float, float]], step: float,
                          metric: str = "reliable_improvements") -> tuple[dict[str, float], float]:
        """Best split of exactly `budget` with every programme inside its bounds: (allocation, truth value).

        The money unit is `step` or, when coarser, the widest programme range / LATTICE_LEVELS (the lattice of a
        clinic grows as the fourth power of its levels)."""
        lows = np.array([bounds[p][0] for p in self.program_ids], float)
        highs = np.array([bounds[p][1] for p in self.program_ids], float)
        if (lows > highs).any() or lows.sum() > budget + 1e-6 or highs.sum() < budget - 1e-6:
            raise ValueError("bounds cannot meet the budget: minimums add up to "
                             f"{lows.sum():,.0f} and maximums to {highs.sum():,.0f}, budget {budget:,.0f}")
        unit = max(step, float((highs - lows).max()) / LATTICE_LEVELS, 1e-9)
        grid = self._grid_optimum(budget, lows, highs, unit, metric)
        x = self._polish_exact(grid, lows, highs, unit, metric)
        allocation = dict(zip(self.program_ids, x.tolist(), strict=True))
        return allocation, self.value(allocation, metric)

    def _grid_optimum(self, budget: float, lows: np.ndarray, highs: np.ndarray, unit: float,
                      metric: str) -> np.ndarray:
        w = self.world
        units = int(np.floor((budget - lows.sum()) / unit + 1e-9))
        best = np.full(units + 1, -np.inf)
        best[0] = 0.0
        picks: list[tuple[np.ndarray, np.ndarray]] = []  # per clinic: (lattice point per clinic total, choice)
        for c in range(w.n_clinics):
            rows = w.rows[c]
            levels = np.minimum(np.floor((highs[rows] - lows[rows]) / unit + 1e-9).astype(int), units)
            lattice = np.array(list(itertools.product(*(range(j + 1) for j in levels))), dtype=np.int64)
            values = self.clinic_outcomes(c, lows[rows] + unit * lattice)[metric]
            totals = lattice.sum(axis=1)
            envelope = np.full(int(totals.max()) + 1, -np.inf)
            point = np.zeros(envelope.size, dtype=np.int64)
            for idx in np.argsort(values):  # the best point per total is the last written
                envelope[totals[idx]], point[totals[idx]] = values[idx], idx
            best, pick = add_to_budget_table(best, envelope)
            picks.append((lattice[point], pick))
        used = units
        x = lows.copy()
        for c in reversed(range(w.n_clinics)):
            points, pick = picks[c]
            j = int(pick[used])
            x[w.rows[c]] += unit * points[j]
            used -= j
        return spread_leftover(x, highs, budget)

    def _polish_exact(self, start: np.ndarray, lows: np.ndarray, highs: np.ndarray, unit: float,
                      metric: str) -> np.ndarray:
        """Moves of `delta` (halved down to unit/64) from the programme that loses least to the one that gains
        most, judged on each programme's own exact marginal values and kept only when the exact total improves."""
        w = self.world
        x = start.copy()
        value = self._total(x, metric)
        delta = unit
        while delta > unit / 64:
            for _ in range(POLISH_ROUNDS):
                up = np.minimum(highs - x, delta)
                down = np.minimum(x - lows, delta)
                gain, loss = np.zeros(len(x)), np.zeros(len(x))
                for c in range(w.n_clinics):
                    rows = w.rows[c]
                    here = x[rows]
                    trial = np.tile(here, (9, 1))
                    for k in range(4):
                        trial[1 + k, k] += up[rows[k]]
                        trial[5 + k, k] -= down[rows[k]]
                    v = self.clinic_outcomes(c, trial)[metric]
                    gain[rows], loss[rows] = v[1:5] - v[0], v[0] - v[5:9]
                rate_up = np.where(up > 1e-9, gain / np.maximum(up, 1e-9), -np.inf)
                rate_down = np.where(down > 1e-9, loss / np.maximum(down, 1e-9), np.inf)
                i, j = int(np.argmax(rate_up)), int(np.argmin(rate_down))
                amount = min(up[i], down[j])
                if i == j or amount <= 1e-9:
                    break
                trial_x = x.copy()
                trial_x[i] += amount
                trial_x[j] -= amount
                trial_value = self._total(trial_x, metric)
                if trial_value <= value + 1e-12:
                    break
                x, value = trial_x, trial_value
            delta /= 2
        return x


Truth.with_clinics = ClinicTruth
