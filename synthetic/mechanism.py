"""How money becomes outcomes in the synthetic world: the one mechanism both the simulator and the truth use.

Funding F for a programme with R referrals buys F / unit_cost sessions, i.e. kappa = F / (unit_cost x
standard_sessions x R) standard courses per referral. That money is spent two ways, both with diminishing returns:
- reach: a share 1 - exp(-reach_rate x kappa) of referrals is offered treatment, and shorter waits (wait falls
  with kappa) make more of those offered actually start;
- intensity: each offered patient is funded for kappa x standard_sessions / reach sessions at most.
A patient who starts follows a latent symptom trajectory decaying towards a floor (faster in better programmes, in
more intensive modalities and, for telehealth, among young and rural patients), may drop out after each session
(hazard rising with deprivation and falling with age and early response), and stops at whichever comes first:
good-enough (latent score below caseness), dropout or the funded session cap. The final measured score is the
latent score at the stop plus measurement noise, rounded to the instrument's resolution.

Everything patient-level is a deterministic function of the patient's drawn traits, except the dropout draws and
the measurement noise: that is what lets the truth compute expectations exactly instead of by Monte Carlo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from features.instruments import INSTRUMENTS
from synthetic.presets import Preset

MAX_SESSIONS = 24
REFERENCE_AGE = 40.0
MID_DEPRIVATION = 5.5
EFFECT_SPREAD = 1.0
"""SD of the individual log effect rate: some respond fast, many barely (calibrates recovery vs RI)."""
WORSENING_SHARE = 0.1
WORSENING_SEVERITY = 0.5
"""A minority drift towards a worse level (severity + 0.5) whatever the treatment."""
QALY_HORIZON_YEARS = 0.5
"""Utility gains are assumed to last half a year on average (CoBalT: 0.057 QALY per 12 months per patient)."""


@dataclass(frozen=True)
class Cohort:
    """Drawn traits of a set of patients; row i of every array is patient i."""

    program: np.ndarray  # index into the world's programme table
    age: np.ndarray
    male: np.ndarray
    deprivation: np.ndarray  # decile, 1 = least deprived
    payer: np.ndarray  # index into PAYERS
    instrument: np.ndarray  # index into the preset's instrument list
    baseline: np.ndarray  # intake score on the instrument's scale
    effect_noise: np.ndarray  # individual multiplier on the per-session effect
    dropout_noise: np.ndarray  # individual shift of the dropout logit
    worsens: np.ndarray  # symptoms drift worse despite treatment (about 6 % reliably deteriorate in IAPT)

    def __len__(self) -> int:
        return len(self.program)


PAYERS = ("commercial", "medicaid", "medicare", "uninsured")


@dataclass(frozen=True)
class ProgramArrays:
    """Programme-level parameters as arrays aligned with the world's programme table."""

    quality: np.ndarray
    unit_cost: np.ndarray
    standard_sessions: np.ndarray
    effect_rate: np.ndarray
    dropout_logit: np.ndarray
    entry_logit: np.ndarray
    reach_rate: np.ndarray
    severity_shift: np.ndarray
    suits_young_and_rural: np.ndarray
    rural: np.ndarray
    overhead: np.ndarray
    """Money spent before any capacity is bought (the overhead regime); 0 elsewhere."""
    wait_scale: float = 3.0
    max_wait: float = 26.0
    wait_dropout_logit: float | None = None
    """Logit at zero wait of leaving after the assessment session because of the wait; None: no such effect."""
    wait_dropout_per_week: float = 0.0
    age_shift: np.ndarray | None = None
    """Years added to the drawn age of the programme's patients (a clinic's case mix); None: no shift."""

    @classmethod
    def from_frame(cls, programs: pd.DataFrame, preset: Preset) -> ProgramArrays:
        mods = [preset.modalities[m] for m in programs["modality"]]
        return cls(
            quality=programs["quality"].to_numpy(float),
            unit_cost=programs["unit_cost"].to_numpy(float),
            standard_sessions=np.array([m.standard_sessions for m in mods], float),
            effect_rate=np.array([m.effect_rate for m in mods], float),
            dropout_logit=np.array([m.dropout_logit for m in mods], float),
            entry_logit=np.array([m.entry_logit for m in mods], float),
            reach_rate=np.array([m.reach_rate for m in mods], float),
            severity_shift=np.array([m.severity_shift for m in mods], float),
            suits_young_and_rural=np.array([m.suits_young_and_rural for m in mods], bool),
            rural=(programs["region"] == "rural").to_numpy(bool),
            overhead=np.zeros(len(programs)),
        )


# ---- funding -> reach and intensity (programme level) ----

def courses_per_referral(funding: np.ndarray, referrals: np.ndarray, unit_cost: np.ndarray,
                         standard_sessions: np.ndarray, overhead: np.ndarray | float = 0.0) -> np.ndarray:
    """Standard courses bought per referral by the money left after the fixed overhead."""
    net = np.maximum(np.asarray(funding, float) - overhead, 0.0)
    return net / (unit_cost * standard_sessions * np.maximum(referrals, 1e-9))


def reach_share(kappa: np.ndarray, reach_rate: np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-reach_rate * kappa)


def session_cap(kappa: np.ndarray, reach_rate: np.ndarray, standard_sessions: np.ndarray) -> np.ndarray:
    """Funded sessions per offered patient (fractional: a share of patients gets one more session)."""
    reach = np.maximum(reach_share(kappa, reach_rate), 1e-12)
    return np.clip(kappa * standard_sessions / reach, 1.0, float(MAX_SESSIONS))


def wait_weeks(kappa: np.ndarray, scale: float = 3.0, max_wait: float = 26.0) -> np.ndarray:
    return np.clip(2.0 + scale / np.maximum(kappa, 1e-9), 2.0, max_wait)


def wait_dropout(programs: ProgramArrays, wait: np.ndarray) -> np.ndarray:
    """P(leaving after the assessment session because of the wait), a competing risk beside the session hazard."""
    if programs.wait_dropout_logit is None:
        return np.zeros_like(np.asarray(wait, float))
    return expit(programs.wait_dropout_logit + programs.wait_dropout_per_week * np.asarray(wait, float))


# ---- patients ----

def draw_cohort(rng: np.random.Generator, preset: Preset, programs: ProgramArrays,
                program: np.ndarray) -> Cohort:
    n = len(program)
    drawn_age = rng.normal(40, 14, n)
    if programs.age_shift is not None:
        drawn_age = drawn_age + programs.age_shift[program]
    age = np.clip(np.round(drawn_age), 18, 85).astype(np.int16)
    male = rng.random(n) < 0.38
    deprivation = rng.integers(1, 11, n).astype(np.int8)
    u = rng.random(n)
    medicaid = u < 0.08 + 0.05 * (deprivation - 1)
    medicare = ~medicaid & (age >= 65) & (rng.random(n) < 0.85)
    uninsured = ~medicaid & ~medicare & (rng.random(n) < 0.02 + 0.012 * deprivation)
    payer = np.select([medicaid, medicare, uninsured], [1, 2, 3], 0).astype(np.int8)
    names = list(preset.instruments)
    instrument = rng.choice(len(names), n, p=np.array(list(preset.instruments.values()))).astype(np.int8)
    baseline = np.empty(n)
    shift = programs.severity_shift[program]
    for k, name in enumerate(names):
        rows = instrument == k
        b = preset.baselines[name]
        inst = INSTRUMENTS[name]
        sign = 1.0 if inst.direction == "lower_is_better" else -1.0
        draw = rng.normal(b.mean + sign * shift[rows] * b.sd, b.sd)
        low = np.where(shift[rows] < 0, b.low if b.subthreshold_low is None else b.subthreshold_low, b.low)
        baseline[rows] = np.round(np.clip(draw, low, b.high) / b.resolution) * b.resolution
    return Cohort(
        program=program.astype(np.int32), age=age, male=male, deprivation=deprivation, payer=payer,
        instrument=instrument, baseline=baseline,
        effect_noise=np.exp(rng.normal(0.0, EFFECT_SPREAD, n)), dropout_noise=rng.normal(0.0, 0.5, n),
        worsens=rng.random(n) < WORSENING_SHARE,
    )


@dataclass(frozen=True)
class InstrumentArrays:
    """Per-patient instrument parameters, so trajectories are computed on each patient's own scale."""

    low: np.ndarray
    span: np.ndarray
    lower_better: np.ndarray
    reliable_change: np.ndarray
    good_enough: np.ndarray  # severity below which treatment stops as good enough
    measurement_sd: np.ndarray
    resolution: np.ndarray

    @classmethod
    def for_cohort(cls, preset: Preset, cohort: Cohort) -> InstrumentArrays:
        insts = [INSTRUMENTS[name] for name in preset.instruments]
        bases = [preset.baselines[name] for name in preset.instruments]
        good = []
        for i in insts:
            good.append(preset.good_enough_severity if i.caseness is None
                        else i.severity(i.caseness * preset.good_enough_of_caseness))
        idx = cohort.instrument
        return cls(
            low=np.array([i.min_score for i in insts])[idx],
            span=np.array([i.span for i in insts])[idx],
            lower_better=np.array([i.direction == "lower_is_better" for i in insts])[idx],
            reliable_change=np.array([i.reliable_change for i in insts])[idx],
            good_enough=np.array(good)[idx],
            measurement_sd=np.array([b.measurement_sd for b in bases])[idx],
            resolution=np.array([b.resolution for b in bases])[idx],
        )

    def severity(self, score: np.ndarray) -> np.ndarray:
        frac = (score - self.low[:, None]) / self.span[:, None] if score.ndim == 2 else (score - self.low) / self.span
        lb = self.lower_better[:, None] if score.ndim == 2 else self.lower_better
        return np.where(lb, frac, 1.0 - frac)


def young_rural_gain(cohort: Cohort, programs: ProgramArrays) -> np.ndarray:
    """Telehealth-like delivery helps the young and the rural (and costs older urban patients a little)."""
    p = cohort.program
    gain = 0.25 * programs.rural[p] - 0.012 * (cohort.age - REFERENCE_AGE)
    return np.where(programs.suits_young_and_rural[p], gain, 0.0)


def severity_path(preset: Preset, programs: ProgramArrays, cohort: Cohort,
                  inst: InstrumentArrays) -> np.ndarray:
    """Latent severity (0 best .. 1 worst) after 0..MAX_SESSIONS sessions, shape (n, MAX_SESSIONS + 1)."""
    p = cohort.program
    log_rate = (np.log(programs.effect_rate[p]) + 0.45 * programs.quality[p] + young_rural_gain(cohort, programs)
                - 0.035 * (cohort.deprivation - MID_DEPRIVATION))
    rate = np.exp(log_rate) * cohort.effect_noise
    start = inst.severity(cohort.baseline)
    floor = np.where(cohort.worsens, np.minimum(start + WORSENING_SEVERITY, 1.0),
                     np.minimum(preset.floor_severity, start))
    k = np.arange(MAX_SESSIONS + 1)
    return (floor[:, None] + (start - floor)[:, None] * np.exp(-np.outer(rate, k))).astype(np.float64)


def dropout_hazard(programs: ProgramArrays, cohort: Cohort, severity: np.ndarray) -> np.ndarray:
    """Probability of not returning after session k (column k; column 0 unused), shape like `severity`."""
    p = cohort.program
    early_response = 1.0 - severity / np.maximum(severity[:, :1], 1e-9)
    logit = (programs.dropout_logit[p] - 0.02 * (cohort.age - REFERENCE_AGE) + 0.07 * (
        cohort.deprivation - MID_DEPRIVATION) + 0.08 * cohort.male - 0.5 * programs.quality[p]
        - young_rural_gain(cohort, programs) + cohort.dropout_noise)
    hazard = expit(logit[:, None] - 2.0 * np.maximum(early_response, 0.0))
    hazard[:, 0] = 0.0
    return hazard


def good_enough_session(severity: np.ndarray, inst: InstrumentArrays) -> np.ndarray:
    """First session (>= 2) after which latent severity is good enough; MAX_SESSIONS + 1 when never."""
    ok = severity <= inst.good_enough[:, None]
    ok[:, :2] = False
    first = np.argmax(ok, axis=1)
    return np.where(ok.any(axis=1), first, MAX_SESSIONS + 1)


def entry_probability(programs: ProgramArrays, cohort: Cohort, wait: np.ndarray) -> np.ndarray:
    """Chance an offered patient starts; `wait` is per patient (weeks)."""
    p = cohort.program
    logit = (programs.entry_logit[p] + 0.02 * (cohort.age - REFERENCE_AGE) - 0.1 * (
        cohort.deprivation - MID_DEPRIVATION) - 0.07 * wait + 0.3 * programs.quality[p])
    return expit(logit)


def score_from_severity(severity: np.ndarray, inst: InstrumentArrays) -> np.ndarray:
    frac = np.where(inst.lower_better[:, None], severity, 1.0 - severity)
    return inst.low[:, None] + frac * inst.span[:, None]


def reliable_improvement_probability(latent_score: np.ndarray, cohort: Cohort,
                                     inst: InstrumentArrays) -> np.ndarray:
    """P(measured final score shows reliable improvement | latent score at the stop), exact under rounding.

    The measured score is round(latent + N(0, sd)) on the instrument's resolution, clipped to its range. For a
    lower-is-better scale reliable improvement means final <= baseline - threshold; the clip cannot change that
    comparison unless the target lies outside the range, where the probability is zero.
    """
    half = inst.resolution[:, None] / 2.0
    sd = inst.measurement_sd[:, None]
    lb = inst.lower_better[:, None]
    target = np.where(inst.lower_better, cohort.baseline - inst.reliable_change,
                      cohort.baseline + inst.reliable_change)[:, None]
    reachable = np.where(lb, target >= inst.low[:, None] - 1e-9, target <= (inst.low + inst.span)[:, None] + 1e-9)
    prob = np.where(lb, ndtr((target + half - latent_score) / sd), 1.0 - ndtr((target - half - latent_score) / sd))
    return np.where(reachable, prob, 0.0)


UTILITY_BANDS = (5.0, 10.0, 15.0, 20.0)
UTILITY_VALUES = (0.90, 0.85, 0.75, 0.60, 0.40)
"""Utility by PHQ-9 band (Furukawa 2021 midpoints); other scales map through severity x 27."""


def utility(severity: np.ndarray) -> np.ndarray:
    band = np.searchsorted(np.array(UTILITY_BANDS), severity * 27.0, side="right")
    return np.array(UTILITY_VALUES)[band]
