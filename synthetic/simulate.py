"""Episode records drawn from a world plan, in the input contract's form.

Episodes are drawn in chunks so a million of them fit well inside the memory budget; the random stream is
fixed by the seed, so the same (preset, episodes, seed) always gives the same files.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from synthetic.clinics import booking_shares
from synthetic.mechanism import (
    MAX_SESSIONS,
    PAYERS,
    InstrumentArrays,
    ProgramArrays,
    courses_per_referral,
    draw_cohort,
    dropout_hazard,
    entry_probability,
    good_enough_session,
    reach_share,
    score_from_severity,
    session_cap,
    severity_path,
    wait_dropout,
    wait_weeks,
)
from synthetic.plan import WorldPlan
from synthetic.presets import Preset

CHUNK = 200_000


def treat_offered(rng: np.random.Generator, preset: Preset, programs: ProgramArrays, program: np.ndarray,
           kappa: np.ndarray) -> dict[str, np.ndarray]:
    """Outcomes of one chunk of offered patients; `kappa` is each patient's programme-period funding level."""
    cohort = draw_cohort(rng, preset, programs, program)
    n = len(cohort)
    inst = InstrumentArrays.for_cohort(preset, cohort)
    severity = severity_path(preset, programs, cohort, inst)
    hazard = dropout_hazard(programs, cohort, severity)
    good = good_enough_session(severity, inst)

    wait = wait_weeks(kappa, programs.wait_scale, programs.max_wait)
    entered = rng.random(n) < entry_probability(programs, cohort, wait)
    cap = session_cap(kappa, programs.reach_rate[program], programs.standard_sessions[program])
    cap_int = np.floor(cap).astype(np.int64)
    cap_int = np.minimum(cap_int + (rng.random(n) < cap - cap_int), MAX_SESSIONS)
    planned_stop = np.minimum(good, cap_int)

    leaves = rng.random((n, MAX_SESSIONS + 1)) < hazard  # leaves after session k (column 0 never)
    leaves[:, 0] = False
    if programs.wait_dropout_logit is not None:  # drawn only where the regime has it: smooth streams stay the same
        leaves[:, 1] |= rng.random(n) < wait_dropout(programs, wait)
    first_leave = np.where(leaves.any(axis=1), np.argmax(leaves, axis=1), MAX_SESSIONS + 1)
    dropped = entered & (first_leave < planned_stop)
    stop = np.where(entered, np.minimum(first_leave, planned_stop), 0)

    measured = entered & (~dropped | (rng.random(n) < preset.final_when_dropped))
    rows = np.arange(n)
    latent = score_from_severity(severity[rows, stop][:, None], inst)[:, 0]
    noisy = latent + rng.normal(0.0, 1.0, n) * inst.measurement_sd
    final = np.clip(np.round(noisy / inst.resolution) * inst.resolution, inst.low, inst.low + inst.span)
    final = np.where(measured, final, np.nan)

    gain = 1.0 - severity[rows, stop] / np.maximum(severity[:, 0], 1e-9)
    satisfaction = np.clip(np.round(5.5 + 4.0 * gain - 1.5 * dropped + rng.normal(0, 1.5, n)), 0, 10)
    return {
        "program": program, "cohort_age": cohort.age, "male": cohort.male, "deprivation": cohort.deprivation,
        "payer": cohort.payer, "instrument": cohort.instrument, "baseline": cohort.baseline, "final": final,
        "dropped_out": ~entered | dropped, "sessions": stop, "satisfaction": np.where(measured, satisfaction, np.nan),
    }


def _offered(plan: WorldPlan, rng: np.random.Generator) -> tuple[ProgramArrays, np.ndarray, np.ndarray]:
    """The units that treat patients (programmes, or in the clinic-category world clinic-periods, row
    unit x n_periods + period), each unit-period's funding level and how many of its referrals were offered."""
    if plan.clinics is not None:
        world = plan.clinics
        spend = world.spend(plan.funding)
        t = plan.funding.shape[1]
        clinic = np.repeat(np.arange(world.n_clinics), t)
        cells = world.cells(clinic, spend[:, 1].ravel(), spend[:, 2].ravel(), world.base_referrals.ravel())
        kappa = courses_per_referral(spend[:, 0], world.referrals, cells.unit_cost.reshape(-1, t),
                                     cells.standard_sessions.reshape(-1, t))
        return cells, kappa, rng.binomial(world.referrals, reach_share(kappa, cells.reach_rate.reshape(-1, t)))
    a = plan.arrays
    kappa = courses_per_referral(plan.funding, plan.referrals, a.unit_cost[:, None], a.standard_sessions[:, None],
                                 a.overhead[:, None])
    return a, kappa, rng.binomial(plan.referrals, reach_share(kappa, a.reach_rate[:, None]))


def _treat(rng: np.random.Generator, plan: WorldPlan, units: ProgramArrays, unit: np.ndarray, period: np.ndarray,
           kappa: np.ndarray) -> dict[str, np.ndarray]:
    """Outcomes of the offered patients of (unit, period) pairs; in the clinic-category world each episode is
    then booked to one of its clinic's programmes with the clinic's spend shares that period (clinics.py)."""
    if plan.clinics is None:
        part = treat_offered(rng, plan.preset, units, unit, kappa[unit, period])
    else:
        t = kappa.shape[1]
        part = treat_offered(rng, plan.preset, units, unit * t + period, kappa[unit, period])
        shares = booking_shares(plan.clinics.spend(plan.funding))[unit, :, period]
        category = (rng.random(len(unit))[:, None] > np.cumsum(shares, axis=1)[:, :-1]).sum(axis=1)
        part["program"] = plan.clinics.rows[unit, category]
    part["period"] = period
    return part


def simulate_episodes(plan: WorldPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The contract tables (programs, episodes) for every historical period of the plan."""
    stream = [plan.seed, 1] if plan.pilot is None else [plan.seed, 1, 7, plan.pilot.replicate]
    rng = np.random.default_rng(stream)
    units, kappa, offered = _offered(plan, rng)

    cell_program, cell_period = np.divmod(np.repeat(np.arange(offered.size), offered.ravel()), offered.shape[1])
    parts = []
    for start in range(0, max(len(cell_program), 1), CHUNK):
        sl = slice(start, start + CHUNK)
        parts.append(_treat(rng, plan, units, cell_program[sl], cell_period[sl], kappa))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _programs_table(plan), _episodes_table(plan, cols, rng)


def simulate_referred(plan: WorldPlan) -> pd.DataFrame:
    """The episodes table of a programme world (no clinics) drawn referral by referral: each referral has its own
    random numbers whatever the funding, and the funding decides only whether it is offered treatment (a uniform
    below the reach share) and how its course goes. Offered referrals are a binomial share as in
    `simulate_episodes`, so the distribution is the same; two fundings under one seed and the same referrals then
    differ patient by patient only where the funding changed the patient's course (common random numbers)."""
    if plan.clinics is not None:
        raise ValueError("simulate_referred draws programme worlds; a clinic world's arrivals depend on its spend")
    rng = np.random.default_rng([plan.seed, 1])
    a = plan.arrays
    kappa = courses_per_referral(plan.funding, plan.referrals, a.unit_cost[:, None], a.standard_sessions[:, None],
                                 a.overhead[:, None])
    cell_program, cell_period = np.divmod(np.repeat(np.arange(plan.referrals.size), plan.referrals.ravel()),
                                          plan.referrals.shape[1])
    offered = rng.random(len(cell_program)) < reach_share(kappa, a.reach_rate[:, None])[cell_program, cell_period]
    parts = []
    for start in range(0, max(len(cell_program), 1), CHUNK):
        sl = slice(start, start + CHUNK)
        part = _treat(rng, plan, a, cell_program[sl], cell_period[sl], kappa)
        parts.append({k: v[offered[sl]] for k, v in part.items()})
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _episodes_table(plan, cols, rng)


def programs_table(plan: WorldPlan) -> pd.DataFrame:
    """The programs contract table of the plan (small: one row per programme-period)."""
    return _programs_table(plan)


def simulate_episode_partitions(plan: WorldPlan, partitions: int) -> Iterator[pd.DataFrame]:
    """The episodes table in `partitions` consecutive parts, drawn one part at a time.

    Peak memory is one part (plus per-cell counts), so a world of tens of millions of episodes can be written
    to a partitioned dataset. Each part has its own random stream (seed, part), so the same (plan, partitions)
    always gives the same files; the draws differ from `simulate_episodes`, the world (plan, truth) does not.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    units, kappa, offered = _offered(plan, np.random.default_rng([plan.seed, 1]))
    ends = np.cumsum(offered.ravel())
    total = int(ends[-1]) if len(ends) else 0
    bounds = np.linspace(0, total, partitions + 1).round().astype(np.int64)
    for k in range(partitions):
        rng = np.random.default_rng([plan.seed, 2, k])
        parts = []
        for start in range(int(bounds[k]), max(int(bounds[k + 1]), int(bounds[k]) + 1), CHUNK):
            rows = np.arange(start, min(start + CHUNK, int(bounds[k + 1])))
            cell_program, cell_period = np.divmod(np.searchsorted(ends, rows, side="right"), offered.shape[1])
            parts.append(_treat(rng, plan, units, cell_program, cell_period, kappa))
        cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        yield _episodes_table(plan, cols, rng, first=int(bounds[k]))


def _programs_table(plan: WorldPlan) -> pd.DataFrame:
    n, t = plan.funding.shape
    idx = np.repeat(np.arange(n), t)
    return pd.DataFrame({
        "program_id": plan.programs["program_id"].to_numpy()[idx],
        "period": np.tile(np.array(plan.periods), n),
        "modality": plan.programs["modality"].to_numpy()[idx],
        "funding": plan.funding.ravel(),
        "referrals": plan.referrals.ravel(),
        "region": plan.programs["region"].to_numpy()[idx],
        "site_id": plan.programs["site_id"].to_numpy()[idx],
        **({"tier": plan.programs["tier"].to_numpy()[idx]} if plan.clinics is not None else {}),
    })


def _episodes_table(plan: WorldPlan, c: dict[str, np.ndarray], rng: np.random.Generator,
                    first: int = 0) -> pd.DataFrame:
    """Episodes numbered from `first` + 1 (a part of a partitioned world starts where the previous one ended)."""
    n = len(c["program"])
    names = list(plan.preset.instruments)
    program_ids = plan.programs["program_id"].to_numpy()
    regions = plan.programs["region"].to_numpy()
    patient_numbers = rng.permutation(np.arange(10_000_000 + first, 10_000_000 + first + max(n, 1)))[:n]
    return pd.DataFrame({
        "episode_id": np.char.add("E", np.arange(first + 1, first + n + 1).astype(str)),
        "patient_id": np.char.add("PT", patient_numbers.astype(str)),
        "program_id": program_ids[c["program"]],
        "period": np.array(plan.periods)[c["period"]],
        "instrument": np.array(names)[c["instrument"]],
        "baseline_score": c["baseline"],
        "final_score": c["final"],
        "dropped_out": c["dropped_out"].astype(bool),
        "sessions_attended": c["sessions"].astype(np.int64),
        "age": c["cohort_age"].astype(np.int64),
        "sex": np.where(c["male"], "M", "F"),
        "region": regions[c["program"]],
        "payer": np.array(PAYERS)[c["payer"]],
        "diagnosis": np.array([plan.preset.diagnosis[x] for x in names])[c["instrument"]],
        "satisfaction": c["satisfaction"],
        "deprivation_decile": c["deprivation"].astype(np.int64),
    })

