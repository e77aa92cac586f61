"""Regimes of the synthetic world: mechanisms of care funding in which average and marginal returns disagree.

"smooth" is the world as calibrated in presets.py. Every other regime changes one mechanism, through parameters
that the simulator (simulate.py) and the truth (truth.py) read from the same place (mechanism.py, plan.py), so
each regime keeps an exact truth and oracle. Figures are from shared/design/CLINICAL_FACTS.md where one exists;
the others are marked [U] (a plausible choice with no published anchor).

- saturated: historically generous funding of the better programmes: they treat almost every referral, so extra
  money only buys intensity (sessions beyond good-enough do nothing), while the lean programmes turn money into
  reach. Average return per dollar still looks good in the generous programmes; marginal return is low.
- overhead: part of a programme's money (sites, management, IT) is spent before it buys any capacity. Average
  return is dragged down by the fixed part, marginal return is not: a programme with a large overhead looks poor
  per dollar yet turns the next dollar into patients like any other.
- waits: capacity short of referrals; waits grow steeply as funding per referral falls, and besides deterring
  entry they make patients leave after the assessment session. Money cuts the wait of everyone in the queue, so
  marginal return exceeds average return in the short programmes.
- dose_response: how much an extra session helps differs from programme to programme (fast responders plateau
  within a few sessions, slow ones keep improving), independently of the quality that funding follows.
- demand_following: budgets rise after referral spikes (reverse causality) besides following quality; spikes
  persist for a while, so funding and referrals move together within a programme.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Regime:
    name: str
    quality_funding: float = 0.8
    """Log funding per referral per unit of hidden quality: how strongly budgets follow quality (confounding)."""
    generosity: float = 0.85
    """Funded standard courses per referral of an average-quality programme (0.85: reach ~0.7, calibrated)."""
    overhead_share: tuple[float, float] = (0.0, 0.0)
    """Range of each programme's fixed overhead, as a share of its mean historical funding that buys capacity
    (drawn uniformly per programme; the budgets cover it on top) [U]."""
    wait_scale: float = 3.0
    """Wait in weeks = 2 + wait_scale / (courses per referral), clipped to max_wait."""
    max_wait: float = 26.0
    wait_dropout_logit: float | None = None
    """Logit at zero wait of leaving after the assessment session because of the wait (None: no such effect)."""
    wait_dropout_per_week: float = 0.0
    dose_spread: float = 0.0
    """SD of the per-programme log multiplier on the per-session effect, independent of quality."""
    demand_noise: float = 0.12
    """SD of the period-to-period log demand shock."""
    demand_persistence: float = 0.0
    """AR(1) coefficient of the log demand shock: spikes that last."""
    spike_response: float = 0.0
    """Elasticity of a budget to the previous period's referral spike, on top of following demand."""


REGIME_PARAMS: dict[str, Regime] = {
    r.name: r for r in (
        Regime("smooth"),
        # Top-quartile programmes funded at 2+ courses per referral (reach ~0.95), lean ones at ~0.5 [U].
        Regime("saturated", quality_funding=2.5, generosity=1.2),
        # 10-60 % of the capacity budget again as fixed cost [U].
        Regime("overhead", overhead_share=(0.1, 0.6)),
        # About half a course per referral gives ~18 weeks' wait (the NHS referral-to-treatment standard) and
        # ~17 % leaving after assessment, near CBT's pre-treatment dropout 0.159 (Fernandez 2015); Greater
        # Manchester's 47 % first-appointment DNA bounds the long waits.
        Regime("waits", generosity=0.5, wait_scale=8.0, max_wait=52.0, wait_dropout_logit=-3.2,
               wait_dropout_per_week=0.1),
        # Rates of response differ about two-fold between services: 95 % of responders respond by 7 sessions in
        # low- and by 14 in high-intensity IAPT care (Robinson 2020), so SD 0.45 on the log rate.
        Regime("dose_response", dose_spread=0.45),
        # Referral shocks of ~30 % that halve each quarter, and budgets that over-react to them [U].
        Regime("demand_following", demand_noise=0.3, demand_persistence=0.5, spike_response=0.8),
    )
}

REGIMES: tuple[str, ...] = tuple(REGIME_PARAMS)
"""Names of the regimes, "smooth" first."""


def regime_params(name: str) -> Regime:
    try:
        return REGIME_PARAMS[name]
    except KeyError:
        raise ValueError(f"unknown regime {name!r}; expected one of {list(REGIMES)}") from None
