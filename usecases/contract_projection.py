"""What a plan does to payer contracts: each contract's metric forecast with an interval, the chance of each tier,
and the expected payment with its spread.

The models forecast each programme's episodes, reliable improvements and dropouts under funding; a contract measures
a sub-population (one payer, an intake threshold) on a metric that may not be reliable improvement. The bridge is the
population's recent record in the data: per programme its share of episodes and the ratio of its metric rate to the
programme's reliable-improvement (or dropout) rate, pooled towards the all-programme ratio by the episode count
(a programme with 12 measured episodes should not set its own ratio). The projected metric is then
    sum_p episodes_p(f) * share_p * ratio_p * rate_p(f) / sum_p episodes_p(f) * share_p.
Satisfaction does not respond to funding in the models, so it is projected at its recent mean and says so.

Retention takes its response to funding from the programmes' own periods, not from the dropout model: that model
is held never to raise dropout with funding (true of each patient), while a programme's dropout rate can rise with
its funding (longer courses give more sessions to leave at, shorter waits let more marginal patients start). On
development worlds (seeds 4001-4003) the within-programme slope was +0.14 to +0.63 log-odds per log funding per
referral by modality and the monotone model's about 0: the outcomes plan's Medicaid retention fell 0.011-0.018 in
truth while the projection said it held (-0.002 to +0.002); with the slope it says 0.012-0.023. The model's
dropout rate at current funding is moved by that slope (`dropout_slopes`, pooled by modality and shrunk like the
classifiers' funding slope, of either sign).

Uncertainty has two parts, both kept: the forecast interval of the programmes' rates (its half-width as a normal
spread), and the binomial noise of measuring n episodes. The programmes' bands are bands of counts, whose spread
includes the error of the referral estimate (`models.intervals`); a rate is a ratio of two counts that move with
referrals together, so its spread keeps only the rest of the band (`model_share` of the bundle's calibration).
Tier probabilities and the payment's spread come from 4,000 draws of that normal, each paid by the contract's own
rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm

from features.build import funding_columns
from features.contracts import Contract, ContractSet, Population, measure, measured
from models.bundle import CareAllocBundle
from models.funding_slope import FUNDING_COLUMN, SHRINKAGE
from models.intervals import model_share
from models.within_slope import within_programme_slopes

DRAWS = 4_000
POOLING_EPISODES = 50.0
"""Measured episodes at which a programme's own ratio and the pooled ratio weigh the same."""
RECENT_PERIODS = 4


class ContractPopulationError(ValueError):
    """A contract whose population has no recent episode in any programme the model serves."""


@dataclass(frozen=True)
class ContractProjection:
    contract_id: str
    payer: str
    metric: str
    value: float
    lower: float
    upper: float
    """90 % interval of the measured metric (forecast uncertainty and measurement noise)."""
    episodes: float
    """Expected episodes in the measured population."""
    tier_probabilities: tuple[float, ...]
    probability_penalty: float
    expected_payment: float
    payment_sd: float
    payment_p05: float
    payment_p95: float
    notes: tuple[str, ...]
    metric_sd: float = 0.0
    """The normal spread of the measured metric that the draws use (forecast and measurement together)."""


def population_ratios(contract: Contract, episodes: pd.DataFrame) -> pd.DataFrame:
    """Per programme over the recent periods: the population's share of episodes and its metric ratio."""
    periods = sorted(episodes["period"].astype(str).unique())[-RECENT_PERIODS:]
    recent = episodes[episodes["period"].astype(str).isin(periods)]
    base_metric = "dropout" if contract.metric == "retention" else "reliable_improvement"
    by_program = recent.assign(period=recent["program_id"].astype(str))  # `measure` per programme, not period
    programs = sorted(by_program["period"].unique())
    population = measure(contract.population, contract.metric, by_program).set_index("period").reindex(programs)
    everyone = measure(Population(), "retention" if base_metric == "dropout" else "reliable_improvement",
                       by_program).set_index("period").reindex(programs)
    n_pop, n_all = population["n"].fillna(0.0).to_numpy(float), everyone["n"].fillna(0.0).to_numpy(float)
    rate_pop = np.where(n_pop > 0, population["value"].to_numpy(float), np.nan)
    rate_all = np.where(n_all > 0, everyone["value"].to_numpy(float), np.nan)
    if base_metric == "dropout":  # retention: ratio of dropout rates, the quantity the model forecasts
        rate_pop, rate_all = 1.0 - rate_pop, 1.0 - rate_all
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_all > 0, n_pop / n_all, 0.0)
    rows = {"program_id": programs, "share": share, "n": n_pop, "rate_pop": rate_pop, "rate_all": rate_all}
    frame = pd.DataFrame(rows, columns=["program_id", "share", "n", "rate_pop", "rate_all"])
    with np.errstate(invalid="ignore", divide="ignore"):
        own = frame["rate_pop"] / frame["rate_all"]
    weights = frame["n"]
    finite = np.isfinite(own) & (weights > 0)
    pooled = float((own[finite] * weights[finite]).sum() / weights[finite].sum()) if finite.any() else 1.0
    shrink = weights / (weights + POOLING_EPISODES)
    frame["ratio"] = np.where(finite, shrink * own + (1 - shrink) * pooled, pooled)
    return frame


def dropout_slopes(bundle: CareAllocBundle) -> dict[str, float]:
    """Per programme: log-odds of its dropout rate per unit of log funding per referral, from within-programme
    variation of its recorded periods, pooled by modality, of either sign."""
    history = bundle.history[(bundle.history["n"] > 0) & bundle.history["program_id"].astype(str).isin(
        bundle.programs)]
    if history.empty:
        return dict.fromkeys(bundle.programs, 0.0)
    program = history["program_id"].astype(str).to_numpy()
    modality = np.array([bundle.programs[p].modality for p in program])
    n = history["n"].to_numpy(dtype=float)
    half = 0.5 / n  # an empirical logit: a period with no dropout (or all) stays finite
    z = logit(np.clip(history["dropped"].to_numpy(dtype=float) / n, half, 1.0 - half))
    x = funding_columns(history["funding"], history["referrals"], np.zeros(len(history)))[FUNDING_COLUMN]
    fitted = within_programme_slopes(program, modality, x, z, n, SHRINKAGE, direction=0)
    return {p: float(fitted.slope_of(np.array([s.modality]))[0]) for p, s in bundle.programs.items()}


def retention_dropouts(bundle: CareAllocBundle, program: str, funding: np.ndarray, episodes: np.ndarray,
                       slope: float) -> np.ndarray:
    """Expected dropouts among `episodes` at `funding`: the model's dropout rate at current funding, moved by the
    programme's within-programme `slope` (`dropout_slopes`)."""
    state = bundle.programs[program]
    now = bundle.curve(program, [state.current_funding]).iloc[0]
    served = float(now["episodes"])
    rate = float(now["dropouts"]) / served if served > 0 else 0.5
    referrals = np.full(np.shape(funding), max(float(state.next_referrals), 1.0))
    x = funding_columns(np.asarray(funding, dtype=float), referrals, np.zeros(np.shape(funding)))[FUNDING_COLUMN]
    x_now = funding_columns(np.array([state.current_funding]), referrals[:1], np.zeros(1))[FUNDING_COLUMN][0]
    shifted = expit(logit(np.clip(rate, 1e-6, 1.0 - 1e-6)) + slope * (x - x_now))
    return np.asarray(episodes, dtype=float) * shifted


def project_contract(contract: Contract, bundle: CareAllocBundle, allocation: dict[str, float],
                     episodes: pd.DataFrame, seed: int = 0, ratios: pd.DataFrame | None = None,
                     slopes: dict[str, float] | None = None,
                     rows: dict[str, pd.Series] | None = None) -> ContractProjection:
    """The contract under `allocation` (funding per programme; programmes left out keep current funding).
    `ratios`: its `population_ratios` on `episodes`, when the caller projects it under many plans (they do not
    depend on the plan, and measuring them is most of a projection's cost); `slopes`: `dropout_slopes(bundle)`,
    likewise; `rows`: `plan_rows(bundle, allocation)`, when the caller projects many contracts under one plan."""
    notes: list[str] = []
    if contract.metric == "satisfaction":
        history = measured(contract, episodes).tail(RECENT_PERIODS)
        n = float(history["n"].sum())
        value = float((history["value"] * history["n"]).sum() / n) if n else np.nan
        spread = float(np.sqrt(((history["value"] - value) ** 2 * history["n"]).sum() / n)) if n else np.nan
        mean = np.full(DRAWS, value)
        sd = np.full(DRAWS, spread)  # how much a quarter's mean has moved: measurement noise included
        notes.append("satisfaction does not respond to funding in the models: projected at its recent mean")
        episodes_expected = n / max(len(history), 1)
    else:
        table = population_ratios(contract, episodes) if ratios is None else ratios
        ratio = dict(zip(table["program_id"], table["ratio"].astype(float), strict=True))
        share = dict(zip(table["program_id"], table["share"].astype(float), strict=True))
        weights, rates, halves = [], [], []
        dropout_slope = {} if contract.metric != "retention" else dropout_slopes(bundle) if slopes is None else slopes
        for program, state in bundle.programs.items():
            if share.get(program, 0.0) <= 0:
                continue
            funding = float(allocation.get(program, state.current_funding))
            curve = rows[program] if rows is not None else _plan_row(bundle, program, funding)
            served = float(curve["episodes"])
            if served <= 0:
                continue
            if contract.metric == "retention":
                dropouts = retention_dropouts(bundle, program, np.array([funding]), np.array([served]),
                                              dropout_slope.get(program, 0.0))[0]
                rate = 1.0 - float(dropouts) / served * ratio[program]
                half = 0.0
            else:
                rate = float(curve["reliable_improvements"]) / served * ratio[program]
                half = (float(curve["reliable_improvements_upper"]) - float(curve["reliable_improvements_lower"])) \
                    / 2 / served * ratio[program] * model_share(bundle.intervals, state.referral_variance,
                                                                state.rate_variance)
            weights.append(served * share[program])
            rates.append(min(max(rate, 0.0), 1.0))
            halves.append(half)
        if not weights:
            raise ContractPopulationError(f"contract {contract.contract_id!r}: no recent episode of its population "
                                          "in any programme the model serves")
        w = np.asarray(weights)
        episodes_expected = float(w.sum())
        value = float(np.dot(w, rates) / w.sum())
        model_sd = float(np.dot(w, halves) / w.sum()) / norm.ppf(0.95)  # programmes' errors move together
        if contract.metric == "retention":
            notes.append("retention's forecast spread is measurement noise only (the dropout curve has no interval);"
                         " its response to funding is the programmes' own within-programme dropout slope")
        n = max(episodes_expected, 1.0)
        mean = np.full(DRAWS, value)
        sd = np.full(DRAWS, np.sqrt(model_sd**2 + value * (1 - value) / n))
    measured_n = round(episodes_expected)
    draws, payments = payment_draws(contract, mean, sd, measured_n, seed)
    if measured_n < contract.min_sample:
        notes.append(f"about {measured_n} measured episodes expected, below the contract's minimum of "
                     f"{contract.min_sample}: nothing is paid or charged")
    tiers = tuple(float((draws >= t.threshold).mean()) for t in contract.tiers)
    penalty = float((draws < contract.penalty.below).mean()) if contract.penalty is not None else 0.0
    return ContractProjection(
        contract.contract_id, contract.payer, contract.metric, value, float(np.quantile(draws, 0.05)),
        float(np.quantile(draws, 0.95)), episodes_expected, tiers, penalty, float(payments.mean()),
        float(payments.std()), float(np.quantile(payments, 0.05)), float(np.quantile(payments, 0.95)), tuple(notes),
        float(sd[0]))


def _plan_row(bundle: CareAllocBundle, program: str, funding: float) -> pd.Series:
    return bundle.curve(program, [min(max(funding, 0.0), bundle.max_funding[program])]).iloc[0]


def plan_rows(bundle: CareAllocBundle, allocation: dict[str, float]) -> dict[str, pd.Series]:
    """Each programme's curve at its funding under `allocation` (current funding when left out)."""
    return {p: _plan_row(bundle, p, float(allocation.get(p, s.current_funding))) for p, s in bundle.programs.items()}


def payment_draws(contract: Contract, mean: float | np.ndarray, sd: float | np.ndarray, n: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws of the measured metric and what the contract pays for each; the same seed gives the same normals, so
    two metric levels compared with one seed differ by the level alone."""
    rng = np.random.default_rng([seed, 20])
    high = 10.0 if contract.metric == "satisfaction" else 1.0
    draws = np.clip(np.asarray(mean, dtype=float) + np.asarray(sd, dtype=float) * rng.standard_normal(DRAWS),
                    0.0, high)
    return draws, np.array([contract.payment(float(v), n) for v in draws])


def project_contracts(contracts: ContractSet, bundle: CareAllocBundle, allocation: dict[str, float],
                      episodes: pd.DataFrame, ratios: Sequence[pd.DataFrame | None] | None = None,
                      slopes: dict[str, float] | None = None) -> list[ContractProjection]:
    tables = list(ratios) if ratios is not None else [None] * len(contracts.contracts)
    if slopes is None and any(c.metric == "retention" for c in contracts.contracts):
        slopes = dropout_slopes(bundle)
    rows = plan_rows(bundle, allocation)  # one curve look-up per programme, shared by the contracts
    return [project_contract(c, bundle, allocation, episodes, seed=i, ratios=tables[i], slopes=slopes, rows=rows)
            for i, c in enumerate(contracts.contracts)]
