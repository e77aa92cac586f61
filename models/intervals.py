"""Forecast intervals for reliable improvements: split-conformal, normalised by the expected count.

Calibration cells are held-out later programme-periods, each forecast by the served procedure itself
(`build_forecaster` on the periods before the cell, with models fitted before the holdout) at the funding the
cell actually had, so a cell's error includes everything the served forecast gets wrong: the patient mix, the
referral estimate and the funding response. For a forecast f and a realised count y the score is

    s = (y - f) / scale(f),    scale(f)^2 = f + demand_spread^2 * f^2 + (estimate_variance + model_spread^2) * f^2

f is the count noise of a next period (binomial/Poisson: variance about f), demand_spread the period-to-period
swing of referrals (measured on the programmes' referral history), estimate_variance the programme's own
relative error of estimation that its history size fixes (`estimate_parts`: the referral estimate from a few
swinging periods and the rate from a few hundred counted improvements), model_spread the rest of the relative
error (the spread at which the calibration cells' squared scores average 1). Dividing by scale(f) makes scores of
a 20-episode programme and a 2,000-episode one comparable, so one pair of quantiles serves every size
(normalised conformal prediction).

The estimate term is there because the holdout alone cannot size the error of the expected count: with two
held-out periods of tens of improvements per cell, the count noise hides it, and on development worlds (smooth
regime, seeds 203-205) the fitted model spread fell to its floor while the forecast's true relative error at
current funding had a standard deviation of 0.11-0.15. The estimate term knows each programme's size, so a small
programme gets the wider band it needs and a large one a narrower band.

The quantiles carry the finite-sample correction: with n cells the upper one is the ceil((n + 1)(1 - a/2))-th
smallest score and the lower one the floor((n + 1) a/2)-th, which gives at least 1 - a coverage of the next
realised count when cells and the next period are exchangeable (split conformal, Vovk et al.; Lei et al. 2018).
With too few cells for the correction the interval is unbounded on that side and then clipped to physical limits.

Two bands come out of one calibration:
- realised: where next period's count will fall, f + q * scale(f), covering count noise and demand swings;
- expected: where the expected count lies (what the truth of a simulated world gives),
  f + q * sqrt(estimate_variance + model_spread^2) * f: the error without the count noise and without the
  next period's own demand swing (`expected_spread`).
  No guarantee holds for it (the expected count is never observed); `benchmarks/bench_uncertainty.py`
  measures its coverage against the simulated truth.

Outside a programme's observed funding range the relative spread grows with the log-distance to that range
(continuous, zero inside, capped at MAX_EXTRAPOLATION_DISTANCE), and every bound is clipped to what can happen:
0 <= reliable improvements <= referrals.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

DEFAULT_LEVEL = 0.9
EXTRAPOLATION_WIDENING = 1.0
"""The relative spread of forecast error grows by this much per unit of log-distance outside the observed range."""
CUT_WIDENING = 3.0
"""Below the observed range the lower bounds widen by this much more per unit of log-distance: a cut below
anything observed can meet what no observed period shows (fixed costs that leave little capacity, waits that
turn referrals away), and there the trees' flat extrapolation over-forecasts (on development worlds 1.5-2.9 times
the truth at half funding), while above the range it errs on the safe side (returns that keep diminishing)."""
MAX_EXTRAPOLATION_DISTANCE = math.log(10.0)
"""Log-distance beyond which the spread stops growing: at a tenth of the smallest observed funding (or zero) the
forecast is near zero anyway, and the cap keeps a band finite and continuous down to zero funding."""
MIN_MODEL_SPREAD = 0.02
"""Floor on the relative model error: a handful of lucky calibration cells must not give a zero-width band."""


@dataclass(frozen=True)
class IntervalCalibration:
    """What the intervals need from held-out cells: a few numbers, no patient data."""

    level: float
    score_low: float
    """Lower conformal quantile of the normalised score (-inf when there are too few cells)."""
    score_high: float
    model_spread: float
    demand_spread: float
    cells: int

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


UNCALIBRATED = IntervalCalibration(level=DEFAULT_LEVEL, score_low=-1.645, score_high=1.645, model_spread=0.2,
                                   demand_spread=0.1, cells=0)
"""A wide stand-in for a forecaster built without a holdout (tests, what-if tools); training always calibrates."""


def conformal_quantiles(scores: np.ndarray, level: float) -> tuple[float, float]:
    """(lower, upper) split-conformal quantiles of `scores` for a central interval of `level`, with the
    finite-sample correction; +-inf on a side that n scores cannot bound."""
    if not 0 < level < 1:
        raise ValueError(f"interval level must be in (0, 1), got {level}")
    ordered = np.sort(np.asarray(scores, dtype=float))
    n = len(ordered)
    tail = (1 - level) / 2
    # 1e-9 absorbs float error in (1 - level) / 2 (0.1 / 2 is 0.04999...), which would cost a whole rank
    high_rank = math.ceil((n + 1) * (1 - tail) - 1e-9)
    low_rank = math.floor((n + 1) * tail + 1e-9)
    high = float(ordered[high_rank - 1]) if high_rank <= n else math.inf
    low = float(ordered[low_rank - 1]) if low_rank >= 1 else -math.inf
    return low, high


def demand_spread(history: pd.DataFrame) -> float:
    """Relative period-to-period swing of referrals beyond count noise, pooled over programmes.

    `history`: program_id, referrals per programme-period. Var(referrals) / mean^2 - 1 / mean per programme
    is the squared relative demand swing once Poisson noise is removed; programmes are weighted by periods.
    """
    stats = history.groupby("program_id")["referrals"].agg(["mean", "var", "size"])
    stats = stats[(stats["size"] >= 3) & (stats["mean"] > 0)]
    if stats.empty:
        return UNCALIBRATED.demand_spread
    excess = stats["var"] / stats["mean"] ** 2 - 1.0 / stats["mean"]
    return float(math.sqrt(max(float(np.average(excess, weights=stats["size"] - 1)), 0.0)))


def cut_distance(funding: np.ndarray, observed_min: float) -> np.ndarray:
    """The part of `extrapolation_distance` that lies below the observed range (zero at or above its minimum)."""
    funding = np.maximum(np.asarray(funding, dtype=float), 1.0)
    return np.minimum(np.maximum(0.0, np.log(max(observed_min, 1.0) / funding)), MAX_EXTRAPOLATION_DISTANCE)


def extrapolation_distance(funding: np.ndarray, observed_min: float, observed_max: float) -> np.ndarray:
    """Log-distance of each funding level from [observed_min, observed_max]: 0 inside, continuous, capped."""
    funding = np.maximum(np.asarray(funding, dtype=float), 1.0)
    below = np.log(max(observed_min, 1.0) / funding)
    above = np.log(funding / max(observed_max, 1.0))
    return np.minimum(np.maximum(0.0, np.maximum(below, above)), MAX_EXTRAPOLATION_DISTANCE)


def estimate_parts(referrals: float, periods: int, improvements: float, spread_of_demand: float) -> tuple[float, float]:
    """Squared relative errors of a programme's expected-count estimate that its history size alone implies:
    (the referral estimate's, the rate's); their sum is the programme's estimate variance.

    The referral estimate is a mean of `periods` recent periods, each off its expectation by the demand swing
    and by Poisson noise, so its squared relative error is (demand_spread^2 + 1 / referrals) / periods; the
    rate per referral comes from `improvements` counted improvements, a Poisson relative variance of
    1 / improvements. Pooling across programmes makes the models' error somewhat smaller than that for small
    programmes, which the holdout's model spread (floored, never negative) cannot take back: the band errs wide.
    """
    referral_part = (spread_of_demand**2 + 1.0 / max(referrals, 1.0)) / max(periods, 1)
    return float(referral_part), float(1.0 / max(improvements, 1.0))


def calibrate(forecast: np.ndarray, realised: np.ndarray, distance: np.ndarray, spread_of_demand: float,
              level: float = DEFAULT_LEVEL, estimate: np.ndarray | None = None) -> IntervalCalibration:
    """Calibration from held-out cells: forecast and realised counts, each cell's extrapolation distance and
    (`estimate`) its programme's estimate variance when the cell was forecast (`estimate_parts`, summed; zero when
    not given)."""
    f = np.maximum(np.asarray(forecast, dtype=float), 0.0)
    y = np.asarray(realised, dtype=float)
    known = np.zeros(len(f)) if estimate is None else np.asarray(estimate, dtype=float)
    if len(f) != len(y) or len(f) != len(distance) or len(f) != len(known):
        raise ValueError("forecast, realised, distance and estimate need one value per calibration cell")
    keep = np.isfinite(f) & np.isfinite(y)
    f, y, widen, known = f[keep], y[keep], _widening(np.asarray(distance, dtype=float)[keep]), known[keep]
    if len(f) == 0:
        raise ValueError("no calibration cell has both a forecast and a realised count")
    model = _pearson_spread(f, y, widen, spread_of_demand, known)
    scores = (y - f) / _scale(f, widen, spread_of_demand, model, known)
    low, high = conformal_quantiles(scores, level)
    # never narrower than the normal quantile: the cells' errors share each held-out period's common shift, so
    # 48 cells are two draws of it, and a holdout whose scores came out narrow had easy periods, not a better model
    normal = float(norm.ppf(0.5 + level / 2))
    low, high = min(low, -normal), max(high, normal)
    return IntervalCalibration(level, low, high, model, spread_of_demand, len(f))


def _pearson_spread(f: np.ndarray, y: np.ndarray, widen: np.ndarray, spread_of_demand: float,
                    known: np.ndarray) -> float:
    """The model spread at which the squared normalised scores average 1 (Pearson's moment equation).

    Every cell counts alike on the normalised scale, so the two dozen small programmes inform the spread as
    much as the few large ones; the mean falls as the spread grows, so bisection finds the root. A holdout that
    the count noise and demand swing already explain gives MIN_MODEL_SPREAD.
    """

    def excess(model: float) -> float:
        return float(np.mean((y - f) ** 2 / _scale(f, widen, spread_of_demand, model, known) ** 2)) - 1.0

    low, high = MIN_MODEL_SPREAD, 5.0
    if excess(low) <= 0:
        return low
    if excess(high) > 0:
        return high
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle) > 0 else (low, middle)
    return (low + high) / 2


def bands(forecast: np.ndarray, referrals: float, distance: np.ndarray, calibration: IntervalCalibration,
          estimate: float = 0.0, below: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Expected and realised bands around `forecast`, clipped to [0, referrals]; `estimate` is the programme's
    estimate variance (`estimate_parts`, summed), `below` the part of `distance` below the observed range, which
    widens the lower bounds further (`CUT_WIDENING`)."""
    f = np.maximum(np.asarray(forecast, dtype=float), 0.0)
    widen = _widening(distance)
    cut = widen + CUT_WIDENING * (np.zeros_like(widen) if below is None else np.asarray(below, dtype=float))
    cap = max(float(referrals), 0.0)
    spread = expected_spread(calibration, estimate) * f
    low, high = _finite(calibration.score_low, -cap), _finite(calibration.score_high, cap)
    return {
        "expected_lower": np.clip(f + min(low, 0.0) * spread * cut, 0.0, cap),
        "expected_upper": np.clip(f + max(high, 0.0) * spread * widen, 0.0, cap),
        "realised_lower": np.clip(f + min(low, 0.0) * _scale(f, cut, calibration.demand_spread,
                                                             calibration.model_spread, estimate), 0.0, cap),
        "realised_upper": np.clip(f + max(high, 0.0) * _scale(f, widen, calibration.demand_spread,
                                                              calibration.model_spread, estimate), 0.0, cap),
    }


def expected_spread(calibration: IntervalCalibration, estimate: float = 0.0) -> float:
    """Relative spread of the expected band: the programme's estimate error and the model spread.

    The next period's own demand swing is left out: the expected count is an average over it. What the
    referral estimate misses by is in `estimate` (a mean of a few swinging periods).
    """
    return math.sqrt(calibration.model_spread**2 + estimate)


def model_share(calibration: IntervalCalibration, referral_variance: float = 0.0, rate_variance: float = 0.0) -> float:
    """The part of a programme's expected band that a rate keeps (0 .. 1): a rate of two counts that move with
    referrals together (reliable improvements over episodes) loses the referral estimate's error."""
    spread = expected_spread(calibration, referral_variance + rate_variance)
    return expected_spread(calibration, rate_variance) / spread if spread > 0 else 1.0


def _finite(score: float, fallback: float) -> float:
    """An unbounded side (too few cells) becomes a score large enough to reach the physical limit."""
    return score if math.isfinite(score) else fallback


def _widening(distance: np.ndarray) -> np.ndarray:
    return 1.0 + EXTRAPOLATION_WIDENING * np.asarray(distance, dtype=float)


def _scale(f: np.ndarray, widen: np.ndarray, spread_of_demand: float, model: float,
           known: np.ndarray | float) -> np.ndarray:
    return np.sqrt(f + (spread_of_demand**2 + (model**2 + known) * widen**2) * f**2 + 1e-12)
