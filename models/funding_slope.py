"""The classifiers' response to a programme's own funding, as a log-odds slope the trees boost from.

Trees alone learn the funding response from every split they find useful, and on a few hundred programme-periods
the funding splits they find are mostly each programme's noise: on development worlds, per-programme funding
elasticities of the improvement rate from trees were off by up to a factor of four (0.20 against a true 0.09,
0.09 against 0.39), and the optimizer moves money on exactly those differences. So the response can first get a
slope on log funding per referral estimated from within-programme variation, pooled by modality
(`models.within_slope`, on the empirical logit of each programme-period's observed rate), and LightGBM starts
from it as its initial score: the trees then add what the slope misses (patient mix, curvature, thresholds),
still under the monotone constraints. Whether training uses it is the `funding_slope` training parameter
(`models.suite.FUNDING_SLOPE_PARAM` says what it gains and costs on development worlds).

The term is centred on each programme's own mean funding, so it carries only the within-programme movement it
was estimated from and leaves levels to the trees: uncentred, its level across programmes (slope x log funding,
several logits apart) was what the trees had to undo, and on one waits world they undid it with monotone steps
that took a programme's forecast rate from 0.19 to 0.51 between 0.7x and 1x funding. The term is part of the
model's log-odds: `offset` adds it to the trees' raw score wherever the model predicts, and SHAP contributions
carry it on `log_funding_per_referral` (its mean is zero within a programme, so the expected value is the
trees'), so contributions still add up to the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logit

from features.build import funding_columns, program_history
from models.within_slope import within_programme_slopes

SHRINKAGE = 2.0
"""Pseudo-observations (in mean episodes per programme-period) pulling a modality's slope to the pooled one."""
TARGET_COLUMNS = {"response": "ri", "dropout": "dropped"}
"""Outcome sums per programme-period (`features.build.program_history`) behind each classifier."""
FUNDING_COLUMN = "log_funding_per_referral"


@dataclass(frozen=True)
class FundingSlope:
    slopes: dict[str, float]
    """Log-odds per unit of log funding per referral, per modality."""
    pooled: float
    """For a modality training never saw."""
    centres: dict[str, float]
    """Per programme, its training mean of log funding per referral: the term is zero there."""

    def offset(self, program: np.ndarray, modality: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The slope term in log-odds for each row: 0 for a programme training never saw or an unknown x."""
        slope = np.array([self.slopes.get(str(m), self.pooled) for m in modality], dtype=float)
        centre = np.array([self.centres.get(str(p), np.nan) for p in program], dtype=float)
        term = slope * (np.asarray(x, dtype=float) - centre)
        return np.where(np.isfinite(term), term, 0.0)


def fit_funding_slope(programs: pd.DataFrame, outcomes: pd.DataFrame, name: str, direction: int) -> FundingSlope:
    """The slope for classifier `name` ("response" or "dropout") from per programme-period outcome sums
    (`features.build.period_outcomes`), which both training engines hold."""
    history = program_history(programs, outcomes=outcomes)
    history = history.assign(modality=programs["modality"].astype(str).to_numpy())
    cells = history[history["n"] > 0]
    n = cells["n"].to_numpy(dtype=float)
    rate = cells[TARGET_COLUMNS[name]].to_numpy(dtype=float) / n
    half = 0.5 / n  # an empirical logit: keeps a period with no events (or all) finite
    z = logit(np.clip(rate, half, 1.0 - half))
    x = funding_columns(cells["funding"], cells["referrals"], np.zeros(len(cells)))[FUNDING_COLUMN]
    program = cells["program_id"].astype(str).to_numpy()
    fitted = within_programme_slopes(program, cells["modality"].to_numpy(), x, z, n, SHRINKAGE, direction)
    weighted = pd.DataFrame({"p": program, "wx": n * x, "w": n}).groupby("p")[["wx", "w"]].sum()
    return FundingSlope(slopes=fitted.slopes, pooled=fitted.pooled,
                        centres={str(p): float(v) for p, v in (weighted["wx"] / weighted["w"]).items()})
