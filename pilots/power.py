"""How large an effect the pilot could show: the minimum detectable effect (MDE) before and after.

Before (design): from the pre periods alone. A programme's period rates scatter around its own mean; the pooled
per-episode variance of that scatter, sigma^2 = sum n_pt (r_pt - r_p)^2 / sum (T_p - 1), predicts the variance
of each programme's pre-post change, sigma^2 (1/N_pre + 1/N_post), with post-period episodes assumed to run at
the pre-period pace. The difference-in-differences variance follows from the estimator's weights, and
MDE = (t_{1-alpha/2} + t_{power}) x SE with G - 2 degrees of freedom (G programmes), the textbook formula
(Bloom 1995, Evaluation Review 19:547). After: the same formula with the fitted standard error and its degrees
of freedom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pilots.estimators import Estimate


@dataclass(frozen=True)
class Power:
    mde: float
    std_error: float
    df: float
    basis: str

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def multiplier(df: float, alpha: float, power: float) -> float:
    return float(stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df))


def design_mde(pre: pd.DataFrame, treated: set[str], post_periods: int, alpha: float, power: float) -> Power:
    """MDE on the ITT reliable-improvement rate from pre-period rows (program_id, episodes, reliable_improvements)
    of every programme in the design."""
    pre = pre[pre["episodes"] > 0]
    rate = pre["reliable_improvements"] / pre["episodes"]
    pooled = pre.assign(rate=rate, weighted=rate * pre["episodes"]).groupby("program_id").agg(
        episodes=("episodes", "sum"), weighted=("weighted", "sum"), periods=("episodes", "size"))
    pooled["mean"] = pooled["weighted"] / pooled["episodes"]
    deviation = (rate - pooled["mean"].reindex(pre["program_id"]).to_numpy()) ** 2 * pre["episodes"]
    dof = float((pooled["periods"] - 1).sum())
    if dof > 0:
        sigma2, basis = float(deviation.sum() / dof), "between-period scatter of pre-period rates"
    else:
        overall = float(pooled["weighted"].sum() / pooled["episodes"].sum())
        sigma2, basis = overall * (1 - overall), "binomial variance (only one pre period: no scatter to measure)"
    n_pre = pooled["episodes"].to_numpy(dtype=float)
    n_post = n_pre / pooled["periods"].to_numpy() * post_periods
    is_treated = pooled.index.isin(list(treated))
    a = np.where(is_treated, n_post / n_post[is_treated].sum(), -n_post / n_post[~is_treated].sum())
    se = float(np.sqrt(np.sum(a**2 * sigma2 * (1 / n_pre + 1 / n_post))))
    df = float(len(pooled) - 2)
    return Power(multiplier(df, alpha, power) * se, se, df, basis)


def realised_mde(fitted: Estimate, alpha: float, power: float) -> Power:
    return Power(multiplier(fitted.df, alpha, power) * fitted.std_error, fitted.std_error, fitted.df,
                 "fitted difference-in-differences standard error")
