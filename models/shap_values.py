"""TreeSHAP contributions of a FundingAwareClassifier, for explanations and summary plots.

LightGBM computes exact TreeSHAP itself (`pred_contrib`); it gives the same values as shap.TreeExplainer
(tests/models/test_behaviour.py checks that) without building an explainer from every tree on each call
(about 150 ms per model per request), so the service needs no shap at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def shap_contributions(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """(contributions in log-odds, shape rows x features; the feature names in the same order)."""
    return model.contributions(X)[:, :-1], [str(c) for c in model.feature_names_in_]
