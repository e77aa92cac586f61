"""How sure the plan is to beat the status quo: the share of forecast-error draws in which it does, and the draws
themselves (the cost-effectiveness curve reads them too).

The draws depend only on the seed and the number of programmes, and the status quo's side only on the bundle,
so both are cached per process: every request on one bundle would otherwise redraw the same numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence

import numpy as np

from allocation import GridPositions, OutcomeCurve

BEAT_STATUS_QUO_DRAWS = 4000
CHANCE_FLOOR = 0.01
"""Chances shown to people stop at 1 % and 99 %: a plan stated at 0.999 truly beat the status quo in 96-100 % of
unseen worlds (benchmarks/bench_uncertainty.py), so "100 %" would claim a certainty the forecast does not have."""


def chance_text(probability: float | None) -> str:
    """A stated chance as people read it: whole percent, "> 99 %" and "< 1 %" at the ends."""
    if probability is None:
        return "-"
    if probability > 1 - CHANCE_FLOOR:
        return f"> {100 * (1 - CHANCE_FLOOR):.0f} %"
    if probability < CHANCE_FLOOR:
        return f"< {100 * CHANCE_FLOOR:.0f} %"
    return f"{100 * probability:.0f} %"


def probability_beats_status_quo(curves: Sequence[OutcomeCurve], plan: dict[str, float], seed: int = 0) -> float:
    """Share of forecast-error draws in which the plan gives more reliable improvements than the status quo."""
    return float((outcome_gain_draws(curves, plan, seed) > 0).mean())


def outcome_gain_draws(curves: Sequence[OutcomeCurve], plan: dict[str, float], seed: int = 0,
                       metric: str = "reliable_improvements") -> np.ndarray:
    """Plan minus status quo in `metric`, one value per forecast-error draw (`BEAT_STATUS_QUO_DRAWS` of them).

    `metric` is reliable improvements or a metric proportional to them per programme (QALYs): its error is the
    reliable improvements' error, so the cost-effectiveness curve reads the same draws as the chance to beat the
    status quo.

    Each programme's realised outcome is its forecast times a log-normal error whose spread comes from its
    interval at that funding (wider outside the observed range); plan and status quo of one programme share
    the draw, since the same programme's forecast is wrong in the same direction at nearby funding levels.

    The forecasts are read off all curves at once; the arithmetic per programme and its order are those of a
    plain loop over programmes (tests/test_recommendation.py keeps it as the reference), so the answer does not
    depend on the caching. The exponentials (two per programme and draw) are most of the cost; a programme whose
    spread is the same under plan and status quo (common: many intervals are a fixed ratio) needs one.
    """
    grids = [c.funding for c in curves]
    rows = [[c.metrics[name] for c in curves] for name in (metric, *_INTERVAL[1:])]
    forecasts = []
    for funding in (np.array([plan[c.program_id] for c in curves]), np.array([c.current_funding for c in curves])):
        mid, low, high = GridPositions(grids, funding).values(rows).tolist()
        sigma = [max(math.log(max(h, 1e-9) / max(lo, 1e-9)) / (2 * 1.645), 1e-6)
                 for lo, h in zip(low, high, strict=True)]
        forecasts.append((mid, sigma))
    (plan_mid, plan_sigma), (now_mid, now_sigma) = forecasts
    if len(curves) <= _CACHED_PROGRAMMES:
        return _gains_on_kept_draws(plan_mid, plan_sigma, now_mid, now_sigma, seed)
    diff = np.zeros(BEAT_STATUS_QUO_DRAWS)
    for i, shock in enumerate(_shock_rows(len(curves), seed)):
        plan_error = np.exp(plan_sigma[i] * shock)
        now_error = plan_error if now_sigma[i] == plan_sigma[i] else np.exp(now_sigma[i] * shock)
        diff += plan_mid[i] * plan_error - now_mid[i] * now_error
    return diff


def _gains_on_kept_draws(plan_mid: list[float], plan_sigma: list[float], now_mid: list[float],
                         now_sigma: list[float], seed: int) -> np.ndarray:
    """The plain loop's sum on the draws kept in memory.

    A programme whose forecast and spread are the same under plan and status quo adds exactly zero, so it is
    left out; one whose spread is the same reads its plan error from the status quo's kept errors instead of an
    exponential. Each term is the loop's arithmetic (the same products and exponentials, into buffers reused
    across programmes, since fresh 32 kB temporaries per programme cost as much as the arithmetic) added in
    programme order, so the sum is the loop's bit for bit. At 1,024 programmes (14 unchanged, 301 with the same
    spread) the draws' part took 14.5 ms instead of 16.3.
    """
    now_errors = _status_quo_errors(tuple(now_sigma), seed)
    shocks = _cached_shocks(len(now_mid), seed)
    diff = np.zeros(BEAT_STATUS_QUO_DRAWS)
    plan_term, now_term = np.empty_like(diff), np.empty_like(diff)
    for i, (mid, sigma, mid_now, sigma_now) in enumerate(zip(plan_mid, plan_sigma, now_mid, now_sigma, strict=True)):
        if sigma == sigma_now:
            if mid == mid_now:
                continue
            np.multiply(now_errors[i], mid, out=plan_term)
        else:
            np.multiply(shocks[i], sigma, out=plan_term)
            np.exp(plan_term, out=plan_term)
            plan_term *= mid
        np.multiply(now_errors[i], mid_now, out=now_term)
        plan_term -= now_term
        diff += plan_term
    return diff


@functools.lru_cache(maxsize=4)
def _status_quo_errors(sigma: tuple[float, ...], seed: int) -> np.ndarray:
    """Each programme's forecast error at current funding under every draw: the same for every request on one
    bundle (current funding does not change), and half of the exponentials; the same exponentials as computed per
    request, so the answer does not change. Kept as errors rather than outcomes, so QALYs read them too."""
    shocks = _cached_shocks(len(sigma), seed)
    errors = np.exp(np.array(sigma)[:, None] * shocks)
    errors.flags.writeable = False
    return errors


_INTERVAL = ("reliable_improvements", "reliable_improvements_lower", "reliable_improvements_upper")
_CACHED_PROGRAMMES = 1024
"""Keep the draws (and the status quo's errors) of up to this many programmes for the next request: 33 MB each at
1,024 programmes, only in a process serving a bundle that large, where drawing them again took 39 of a
recommendation's 140 ms."""
_DRAW_BLOCK = 64  # beyond that, programmes whose draws are made together


def _shock_rows(programmes: int, seed: int) -> Iterator[np.ndarray]:
    """Standard normal draws, one row per programme, as one ``standard_normal(draws)`` call per programme
    gives (a Generator's draws do not depend on how the count is split), drawn a block at a time for more
    programmes than are kept (`_cached_shocks`)."""
    rng = np.random.default_rng(seed)
    for start in range(0, programmes, _DRAW_BLOCK):
        yield from rng.standard_normal((min(_DRAW_BLOCK, programmes - start), BEAT_STATUS_QUO_DRAWS))


@functools.lru_cache(maxsize=4)
def _cached_shocks(programmes: int, seed: int) -> np.ndarray:
    draws = np.random.default_rng(seed).standard_normal((programmes, BEAT_STATUS_QUO_DRAWS))
    draws.flags.writeable = False
    return draws
