"""TreeSHAP contributions of a FundingAwareClassifier, in one shape whatever the shap version returns."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import shap


def shap_contributions(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """(contributions in log-odds, shape rows x features; the frame as the booster saw it)."""
    prepared = model.prepared(X)
    with warnings.catch_warnings():
        # shap announces that LightGBM binary output became a list per class; both shapes are handled below.
        warnings.filterwarnings("ignore", message=".*TreeExplainer shap values output has changed.*")
        values = np.asarray(shap.TreeExplainer(model.booster_).shap_values(prepared))
    if values.ndim == 3:
        values = values[-1]
    return values, prepared
