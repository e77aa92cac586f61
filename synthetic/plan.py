"""The programmes of a synthetic world and how they were funded: deterministic by (preset, size, seed).

Historical funding is confounded on purpose (ARCHITECTURE.md): a programme's funding per referral rises with its
hidden quality (better-run programmes win bigger budgets) and follows last period's demand, so a model that
regresses outcomes on funding across programmes credits quality to money. Within a programme, funding still
varies from period to period (budget noise and demand surprises): that variation is what identifies the true
effect of money.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from synthetic.clinics import ClinicWorld
from synthetic.mechanism import ProgramArrays, courses_per_referral, reach_share
from synthetic.presets import CATEGORIES, PRESETS, Preset
from synthetic.regimes import Regime, regime_params

DEMAND_SPREAD = 0.9
"""SD of log demand across programmes: programme size varies independently of cost-effectiveness."""


@dataclass(frozen=True)
class PilotChange:
    """Pilot mode: funding of the named programmes multiplied by `funding_factor` from `start_period` on.

    The change is known exactly, so a pilot evaluation can be scored against the true effect
    (`synthetic.pilot.true_pilot_effect`). `replicate` draws a fresh set of episodes for the same world and
    change, so many pilots can be simulated on one world without reusing the same patients.
    """

    programs: tuple[str, ...]
    start_period: str
    funding_factor: float
    replicate: int = 0


@dataclass(frozen=True)
class WorldPlan:
    preset: Preset
    seed: int
    target_episodes: int
    programs: pd.DataFrame
    """One row per programme: program_id, modality, region, site_id, quality, unit_cost, demand."""
    periods: tuple[str, ...]
    next_period: str
    funding: np.ndarray  # (n_programs, n_periods)
    referrals: np.ndarray  # (n_programs, n_periods), realised
    next_referrals: np.ndarray  # expected referrals in the next period
    arrays: ProgramArrays
    regime: str = "smooth"
    """One of `synthetic.regimes.REGIMES`; the mechanism's regime parameters are in `arrays`."""
    pilot: PilotChange | None = None
    """Set by `with_pilot`; None for every ordinary world (whose files stay byte-identical by seed)."""
    clinics: ClinicWorld | None = None
    """Set in the clinic-category world (clinics.py): the programmes act together per clinic."""

    @property
    def current_funding(self) -> np.ndarray:
        return self.funding[:, -1]


def period_labels(first: str, count: int) -> tuple[str, ...]:
    year, quarter = int(first[:4]), int(first[-1])
    labels = []
    for _ in range(count):
        labels.append(f"{year}-Q{quarter}")
        quarter += 1
        if quarter == 5:
            year, quarter = year + 1, 1
    return tuple(labels)


def _layout(preset: Preset, rng: np.random.Generator) -> pd.DataFrame:
    """Programme identities: mental health spreads modalities over sites; physical therapy is clinic x category."""
    modalities = list(preset.modalities)
    regions = list(preset.regions)
    region_p = np.array(list(preset.regions.values()))
    rows = []
    if preset.name.startswith("physical-therapy"):
        clinics = preset.n_programs // len(modalities)
        for c in range(clinics):
            region = regions[rng.choice(len(regions), p=region_p)]
            for m in modalities:
                rows.append({"program_id": f"C{c + 1:02d}-{m}", "modality": m, "region": region,
                             "site_id": f"C{c + 1:02d}"})
    else:
        for i in range(preset.n_programs):
            region = regions[rng.choice(len(regions), p=region_p)]
            rows.append({"program_id": f"P{i + 1:03d}", "modality": modalities[i % len(modalities)],
                         "region": region, "site_id": f"S{i // 3 + 1:02d}"})
    return pd.DataFrame(rows)


def build_plan(preset_name: str, episodes: int, seed: int, regime: str = "smooth") -> WorldPlan:
    """The world of (preset, size, seed) under one of `synthetic.regimes.REGIMES` ("smooth" is the calibrated one).

    The smooth world's random draws come first and in the same order in every regime; what a regime adds
    (overheads, per-programme dose response) comes from its own stream, so the same seed gives the same
    programmes, patients and demand throughout and only the regime's mechanism differs.
    """
    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}; expected one of {sorted(PRESETS)}")
    if episodes < 1:
        raise ValueError("episodes must be at least 1")
    rules = regime_params(regime)
    preset = PRESETS[preset_name]
    if preset.categories is not None:
        return _clinic_plan(preset, episodes, seed, rules)
    rng = np.random.default_rng(seed)
    programs = _layout(preset, rng)
    n, t = len(programs), preset.n_periods
    programs["quality"] = rng.normal(0.0, 0.35, n)
    base_cost = np.array([preset.modalities[m].unit_cost for m in programs["modality"]])
    programs["unit_cost"] = np.round(base_cost * np.exp(rng.normal(0.0, 0.08, n)), 2)
    arrays = ProgramArrays.from_frame(programs, preset)
    extra = np.random.default_rng([seed, 5])
    if rules.dose_spread > 0:
        spread = rules.dose_spread
        arrays = replace(arrays, effect_rate=arrays.effect_rate * np.exp(extra.normal(-spread**2 / 2, spread, n)))

    weight = np.exp(rng.normal(0.0, DEMAND_SPREAD, n))
    trend = 1.0 + 0.015 * np.arange(-1, t + 1)  # index 0 is the period before the data starts
    shock = rng.normal(0.0, rules.demand_noise, (n, t + 2))
    if rules.demand_persistence > 0:  # AR(1): a spike lasts a few periods
        for k in range(1, t + 2):
            shock[:, k] += rules.demand_persistence * shock[:, k - 1]
    demand = weight[:, None] * trend[None, :] * np.exp(shock)
    # Confounding: funding per referral follows hidden quality, and is set from last period's demand.
    generosity = rules.generosity * np.exp(rules.quality_funding * programs["quality"].to_numpy()
                                           + rng.normal(0.0, 0.15, n))
    course_cost = arrays.unit_cost * arrays.standard_sessions
    funding = (generosity * course_cost)[:, None] * demand[:, :t] * np.exp(rng.normal(0.0, 0.2, (n, t)))
    if rules.spike_response > 0:  # reverse causality: budgets over-react to last period's referral spike
        funding = funding * np.exp(rules.spike_response * shock[:, :t])
    kappa = funding / (course_cost[:, None] * demand[:, 1 : t + 1])
    expected_episodes = float((demand[:, 1 : t + 1] * reach_share(kappa, arrays.reach_rate[:, None])).sum())
    scale = episodes / expected_episodes
    overhead = extra.uniform(*rules.overhead_share, n) * funding.mean(axis=1)
    arrays = replace(arrays, overhead=scale * overhead, wait_scale=rules.wait_scale, max_wait=rules.max_wait,
                     wait_dropout_logit=rules.wait_dropout_logit,
                     wait_dropout_per_week=rules.wait_dropout_per_week)

    referrals = rng.poisson(scale * demand[:, 1 : t + 1]).astype(np.int64)
    programs["demand"] = scale * weight
    return WorldPlan(
        preset=preset, seed=seed, target_episodes=episodes, programs=programs,
        periods=period_labels(preset.first_period, t + 1)[:t],
        next_period=period_labels(preset.first_period, t + 1)[t],
        funding=np.round(scale * (funding + overhead[:, None])), referrals=referrals,
        next_referrals=scale * weight * trend[t + 1] * np.exp(rules.demand_persistence * shock[:, t]),
        arrays=arrays, regime=regime,
    )


def kappa_of(plan: WorldPlan, funding: np.ndarray, referrals: np.ndarray) -> np.ndarray:
    a = plan.arrays
    return courses_per_referral(funding, referrals, a.unit_cost, a.standard_sessions, a.overhead)


def with_pilot(plan: WorldPlan, change: PilotChange) -> WorldPlan:
    """The same world with the pilot's funding change applied to its history (funding from the start period on)."""
    ids = list(plan.programs["program_id"])
    unknown = sorted(set(change.programs) - set(ids))
    if unknown or not change.programs:
        raise ValueError(f"pilot programmes must be named and exist in the world; unknown: {unknown}")
    if change.start_period not in plan.periods[1:]:
        raise ValueError(f"pilot start period {change.start_period!r} must be one of {list(plan.periods[1:])} "
                         "(at least one period before it is needed)")
    if not change.funding_factor > 0:
        raise ValueError(f"funding_factor must be > 0, got {change.funding_factor}")
    rows = np.array([ids.index(p) for p in change.programs])
    start = plan.periods.index(change.start_period)
    funding = plan.funding.copy()
    funding[rows, start:] *= change.funding_factor
    return replace(plan, funding=np.round(funding), pilot=change)


def _clinic_plan(preset: Preset, episodes: int, seed: int, rules: Regime) -> WorldPlan:
    """The clinic-category world (clinics.py). Budgets follow the clinic's hidden quality (its tier) and last
    period's demand in every category; the regime's funding rules (generosity, confounding, demand noise and
    persistence, dose spread) apply, while waits follow the preset's own staffing rules."""
    lv = preset.categories
    assert lv is not None
    rng = np.random.default_rng(seed)
    programs = _layout(preset, rng)
    n, t = len(programs), preset.n_periods
    k = len(CATEGORIES)
    clinics = n // k
    rows = np.arange(n).reshape(clinics, k)
    tier_names = [name for name, _, _ in lv.tiers]
    tier = rng.choice(len(lv.tiers), clinics, p=[share for _, share, _ in lv.tiers])
    quality = np.array([lv.tiers[j][2] for j in tier]) + rng.normal(0.0, 0.15, clinics)
    programs["quality"] = np.repeat(quality, k)
    programs["tier"] = np.repeat(np.array(tier_names)[tier], k)
    staffing = preset.modalities["staffing"]
    visit_cost = np.round(staffing.unit_cost * np.exp(rng.normal(0.0, 0.08, clinics)), 2)
    nominal = np.array([preset.modalities[m].unit_cost for m in programs["modality"]])  # unused off staffing
    programs["unit_cost"] = np.where(programs["modality"] == "staffing", np.repeat(visit_cost, k), nominal)
    clinic_frame = programs.iloc[rows[:, 0]].reset_index(drop=True).assign(modality="staffing", unit_cost=visit_cost)
    delivery = ProgramArrays.from_frame(clinic_frame, preset)
    delivery = replace(delivery, severity_shift=rng.normal(0.0, lv.severity_spread, clinics),
                       age_shift=rng.normal(0.0, lv.age_spread, clinics), wait_scale=lv.wait_scale,
                       max_wait=lv.max_wait, wait_dropout_logit=lv.wait_dropout_logit,
                       wait_dropout_per_week=lv.wait_dropout_per_week)
    extra = np.random.default_rng([seed, 5])
    if rules.dose_spread > 0:
        spread = rules.dose_spread
        delivery = replace(delivery, effect_rate=delivery.effect_rate * np.exp(
            extra.normal(-spread**2 / 2, spread, clinics)))

    weight = np.exp(rng.normal(0.0, DEMAND_SPREAD, clinics))
    trend = 1.0 + 0.015 * np.arange(-1, t + 1)
    shock = rng.normal(0.0, rules.demand_noise, (clinics, t + 2))
    if rules.demand_persistence > 0:
        for j in range(1, t + 2):
            shock[:, j] += rules.demand_persistence * shock[:, j - 1]
    demand = weight[:, None] * trend[None, :] * np.exp(shock)  # base referrals, before marketing
    lean = np.exp(rules.quality_funding * quality + rng.normal(0.0, 0.15, clinics))
    spend = np.empty((clinics, k, t))
    reference = np.array([staffing.unit_cost * staffing.standard_sessions * rules.generosity, *lv.reference_spend])
    # Staffing is planned for the referrals marketing usually brings; the other lines follow quality more loosely.
    usual_lift = 1.0 + lv.marketing_max_lift * (1.0 - np.exp(-lv.reference_spend[2] / lv.marketing_scale))
    reference[0] *= usual_lift
    follows = np.array([1.0, 0.5, 0.5, 0.5])
    for j in range(k):
        level = reference[j] * lean[:, None] ** follows[j] * np.exp(rng.normal(0.0, 0.25, clinics))[:, None]
        spend[:, j] = level * demand[:, :t] * np.exp(rng.normal(0.0, 0.2, (clinics, t)))
    if rules.spike_response > 0:
        spend = spend * np.exp(rules.spike_response * shock[:, None, :t])
    world = ClinicWorld(levers=lv, rows=rows, delivery=delivery, base_referrals=demand[:, 1 : t + 1],
                        referrals=np.zeros((clinics, t)), next_base_referrals=demand[:, t + 1], tier=tier)
    base = demand[:, 1 : t + 1]
    expected = base * world.referral_lift(spend[:, 3], base)
    kappa = courses_per_referral(spend[:, 0], expected, delivery.unit_cost[:, None],
                                 delivery.standard_sessions[:, None])
    scale = episodes / float((expected * reach_share(kappa, delivery.reach_rate[:, None])).sum())
    spend = np.round(scale * spend)
    base = scale * base
    realised = rng.poisson(base * world.referral_lift(spend[:, 3], base)).astype(np.int64)
    funding = np.empty((n, t))
    funding[rows] = spend
    booked = np.zeros((n, t), dtype=np.int64)
    shares = spend / np.maximum(spend.sum(axis=1, keepdims=True), 1e-9)
    for c in range(clinics):
        for p in range(t):
            booked[rows[c], p] = rng.multinomial(realised[c, p], shares[c, :, p] / shares[c, :, p].sum())
    world = replace(world, base_referrals=base, referrals=realised, next_base_referrals=scale * demand[:, t + 1])
    next_spend = spend[:, :, -1]
    next_total = world.next_base_referrals * world.referral_lift(next_spend[:, 3], world.next_base_referrals)
    next_referrals = np.empty(n)
    next_referrals[rows] = next_total[:, None] * next_spend / np.maximum(next_spend.sum(axis=1, keepdims=True), 1e-9)
    programs["demand"] = np.repeat(scale * weight, k) / k
    labels = period_labels(preset.first_period, t + 1)
    return WorldPlan(
        preset=preset, seed=seed, target_episodes=episodes, programs=programs, periods=labels[:t],
        next_period=labels[t], funding=funding, referrals=booked, next_referrals=next_referrals,
        arrays=ProgramArrays.from_frame(programs, preset), regime=rules.name, clinics=world,
    )
