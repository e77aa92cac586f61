"""The clinic-category world: a clinic's budget categories act together on that clinic's patients.

Programmes are clinic x category (presets.CATEGORIES), but only staffing buys visits. With a clinic's spend
S (staffing), T (training), H (technology) and M (marketing) in a period whose base referrals are B:
- marketing raises referrals: R = B x (1 + lift(M / B));
- staffing buys visits: kappa = S / (visit cost x standard visits x R) courses per referral, which sets reach,
  the visits per offered patient and the wait exactly as a modality does (mechanism.py); staffing short of R
  lengthens waits, which deter entry and make patients leave after the assessment visit;
- training raises the effect per visit: the clinic's per-session effect rate is multiplied by exp(gain(T / B));
- technology raises adherence: the per-visit dropout logit falls by shift(H / B).
Each lever saturates as max x (1 - exp(-x / scale)) (presets.CategoryLevers). Clinics differ in performance tier
(hidden quality, which historical budgets follow) and case mix (intake severity and age).

Episodes and referrals are booked to a clinic's budget lines in proportion to their spend that period (the
activity-based costing convention of docs/CONTRACT.md), so the contract tables keep one row per clinic x category.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from synthetic.mechanism import ProgramArrays
from synthetic.presets import CATEGORIES, CategoryLevers


def saturating(x: np.ndarray, largest: float, scale: float) -> np.ndarray:
    return largest * (1.0 - np.exp(-np.maximum(np.asarray(x, float), 0.0) / scale))


@dataclass(frozen=True)
class ClinicWorld:
    levers: CategoryLevers
    rows: np.ndarray
    """(n_clinics, 4): row of each category's programme in the plan's programme table, CATEGORIES order."""
    delivery: ProgramArrays
    """One row per clinic: its visits (staffing's parameters), quality, case mix and waits, before training and
    technology act."""
    base_referrals: np.ndarray
    """(n_clinics, n_periods): expected referrals before marketing."""
    referrals: np.ndarray
    """(n_clinics, n_periods): realised referrals (marketing included)."""
    next_base_referrals: np.ndarray
    tier: np.ndarray

    @property
    def n_clinics(self) -> int:
        return len(self.rows)

    def spend(self, funding: np.ndarray) -> np.ndarray:
        """Per-programme funding (programme order, any trailing shape) as (n_clinics, 4, ...) category spend."""
        return np.asarray(funding, float)[self.rows]

    def referral_lift(self, marketing: np.ndarray, base: np.ndarray) -> np.ndarray:
        lv = self.levers
        return 1.0 + saturating(marketing / np.maximum(base, 1e-9), lv.marketing_max_lift, lv.marketing_scale)

    def cells(self, clinic: np.ndarray, training: np.ndarray, technology: np.ndarray,
              base: np.ndarray) -> ProgramArrays:
        """Delivery parameters of clinic-level cells (one per entry of `clinic`) with training and technology
        money acting on them."""
        d, lv = self.delivery, self.levers
        per = np.maximum(base, 1e-9)
        picked = {name: getattr(d, name)[clinic] for name in (
            "quality", "unit_cost", "standard_sessions", "effect_rate", "dropout_logit", "entry_logit",
            "reach_rate", "severity_shift", "suits_young_and_rural", "rural", "overhead")}
        picked["effect_rate"] = picked["effect_rate"] * np.exp(
            saturating(training / per, lv.training_max_gain, lv.training_scale))
        picked["dropout_logit"] = picked["dropout_logit"] - saturating(
            technology / per, lv.technology_max_shift, lv.technology_scale)
        age = None if d.age_shift is None else d.age_shift[clinic]
        return replace(d, **picked, age_shift=age)


def booking_shares(spend: np.ndarray) -> np.ndarray:
    """Shares of a clinic's episodes and referrals booked to each category: its share of the clinic's spend
    (axis 1 of (n_clinics, 4, ...)); equal shares where a clinic spends nothing."""
    total = spend.sum(axis=1, keepdims=True)
    return np.where(total > 0, spend / np.where(total > 0, total, 1.0), 1.0 / len(CATEGORIES))
