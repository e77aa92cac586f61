"""Calibration cells for the forecast intervals: held-out programme-periods forecast by the served procedure.

For each held-out period t (oldest first) the forecaster is built exactly as training builds the served one
(`build_forecaster`: referral estimate, recent patient mix, funding features) from the periods before t, with
the models fitted before the holdout, and asked for reliable improvements at the funding t actually had. The
served forecaster is fitted on every period and forecasts the period after: the same procedure one step later,
which is what split-conformal coverage needs (errors of the procedure that makes the served forecast,
exchangeable across periods), rather than errors of a different model attached afterwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.build import program_history
from models.forecast import build_forecaster
from models.intervals import DEFAULT_LEVEL, IntervalCalibration, calibrate, demand_spread, extrapolation_distance
from models.suite import ModelSuite


def served_forecast_cells(suite: ModelSuite, programs: pd.DataFrame, episodes: pd.DataFrame,
                          outcomes: pd.DataFrame, test_periods: tuple[str, ...], seed: int = 0) -> pd.DataFrame:
    """program_id, period, forecast, realised reliable improvements, extrapolation distance and the programme's
    estimate variance (`models.intervals.estimate_parts`, summed) per held-out cell.

    `episodes` need hold only the two periods before each test period (the patient mix); `outcomes` (per
    programme-period sums, `features.build.period_outcomes`) every period.
    """
    rows = []
    realised = outcomes.set_index(["program_id", "period"])["ri"]
    for period in test_periods:
        before = programs[programs["period"] < period]
        known = set(before["program_id"])
        target = programs[(programs["period"] == period) & programs["program_id"].isin(known)]
        forecaster = build_forecaster(before, episodes[episodes["period"] < period], suite.response,
                                      suite.dropout, suite.reach, seed=seed,
                                      outcomes=outcomes[outcomes["period"] < period])
        for pid, funding in zip(target["program_id"].astype(str), target["funding"].astype(float), strict=True):
            state = forecaster.programs[pid]
            curve = forecaster.curve(pid, np.array([funding]))
            rows.append({"program_id": pid, "period": period,
                         "forecast": float(curve["reliable_improvements"].iloc[0]),
                         "realised": float(realised.get((pid, period), 0.0)),
                         "distance": float(extrapolation_distance(np.array([funding]), state.observed_min,
                                                                  state.observed_max)[0]),
                         "estimate_variance": state.estimate_variance})
    return pd.DataFrame(rows, columns=["program_id", "period", "forecast", "realised", "distance", "estimate_variance"])


def calibrate_intervals(cells: pd.DataFrame, programs: pd.DataFrame, outcomes: pd.DataFrame,
                        level: float = DEFAULT_LEVEL) -> IntervalCalibration:
    """The interval calibration from `served_forecast_cells`, with the demand swing of the referral history."""
    history = program_history(programs, outcomes=outcomes)
    return calibrate(cells["forecast"].to_numpy(), cells["realised"].to_numpy(), cells["distance"].to_numpy(),
                     demand_spread(history), level, cells["estimate_variance"].to_numpy())
