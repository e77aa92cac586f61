"""Why a patient is flagged: SHAP contributions of the booster, turned into sentences a clinician can use.

Contributions are exact TreeSHAP values on the log-odds scale of the LightGBM booster (before isotonic
calibration, which only re-maps the total monotonically); the sentence says which way each factor pushes and
the base rate is the average risk the factors move from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS
from models.classifier import FundingAwareClassifier
from models.shap_values import shap_contributions

DESCRIPTIONS = {
    "baseline_score": "baseline {instrument} score of {value:g}",
    "age": "age {value:g}",
    "deprivation_decile": "deprivation decile {value:g}",
    "sex": "sex {value}",
    "payer": "payer {value}",
    "diagnosis": "diagnosis {value}",
    "instrument": "measured with {value}",
    "modality": "{value} programme",
    "region": "{value} region",
    "program_id": "programme {value}",
    "funding_vs_history": "the programme's funding relative to its usual level",
    "prior_reliable_improvement_rate": "the programme's past improvement rate of {value:.0%}",
    "prior_dropout_rate": "the programme's past dropout rate of {value:.0%}",
    "prior_reach": "the programme's past reach of {value:.0%}",
    "prior_periods": "{value:g} earlier periods of programme history",
}
"""Plain words for each feature as a patient has it; a feature missing here is named by its words."""
WORDED_CATEGORIES = frozenset({"modality", "sex", "payer", "diagnosis", "region"})


@dataclass(frozen=True)
class Factor:
    feature: str
    value: str
    contribution: float
    """Change in log-odds of the outcome attributed to this feature."""
    text: str
    label: str = ""
    """The factor alone in plain words ("Baseline PHQ-9 score of 22"), for charts."""


def _describe(feature: str, value: object, instrument: object) -> str:
    """The factor in plain words: scores on their instrument's own scale, money per referral in money, never a
    transformed feature's raw value."""
    words = feature.replace("_", " ")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"no {words} recorded"
    if feature == "at_caseness":
        return "starting at clinical caseness" if float(str(value)) >= 0.5 else "starting below clinical caseness"
    if feature == "baseline_severity":
        scale = INSTRUMENTS.get(str(instrument))
        if scale is None:
            return f"baseline severity of {float(str(value)):.0%} of the scale"
        return f"baseline {scale.name} score of {scale.score_from_severity(float(str(value))):.0f}"
    if feature == "log_funding_per_referral":  # log1p of money per referral (features/build.py)
        return f"the programme's funding of {math.expm1(float(str(value))):,.0f} per referral"
    if feature in WORDED_CATEGORIES:
        value = str(value).replace("_", " ")  # individual_cbt -> individual cbt; identifiers stay as given
    template = DESCRIPTIONS.get(feature, words + " {value}")
    try:
        return template.format(value=value, instrument=instrument)
    except (ValueError, TypeError):
        return template.replace("{value:g}", "{value}").replace("{value:.0%}", "{value}").format(
            value=value, instrument=instrument)


def explain(model: FundingAwareClassifier, X: pd.DataFrame, outcome: str, top: int = 3,
            invert: bool = False) -> list[list[Factor]]:
    """Top factors per row. `invert` explains 1 - p (e.g. non-response from a reliable-improvement model)."""
    values, names = shap_contributions(model, X)
    shown = {name: X[name].to_numpy(dtype=object if isinstance(X[name].dtype, pd.CategoricalDtype) else float,
                                     na_value=np.nan) for name in names}
    return top_factors(values, names, shown, outcome, top=top, invert=invert)


def top_factors(values: np.ndarray, names: list[str], shown: Mapping[str, np.ndarray], outcome: str, top: int = 3,
                invert: bool = False) -> list[list[Factor]]:
    """Top factors per row from contributions (rows x `names`) and each feature's values as the patient has
    them (`shown`: text, or NaN where missing). Serving computes the contributions once per model and request
    (with the risk itself) and comes here directly, so nothing of the features is computed twice."""
    if invert:
        values = -values
    order = np.argsort(-np.abs(values), axis=1)[:, :top]  # rows of a 2-D argsort sort exactly like 1-D ones
    # Python lists, not numpy scalars: indexing, str() and format() of those cost a few µs per factor
    contributions = values.tolist()
    columns: dict[int, list[object]] = {}  # only the features some row shows, converted on first use
    instruments = _missing_as_nan(shown["instrument"]).tolist() if "instrument" in shown else None
    labels: dict[tuple[int, object, object], str] = {}  # the same programme, payer, ... recur across episodes
    out = []
    for i, picked in enumerate(order.tolist()):
        factors = []
        instrument = "score" if instruments is None else instruments[i]
        for j in picked:
            if j not in columns:
                columns[j] = _missing_as_nan(shown[names[j]]).tolist()
            value, contribution = columns[j][i], contributions[i][j]
            key = (j, value, instrument)
            label = labels.get(key)
            if label is None:
                label = labels[key] = _describe(names[j], value, instrument)
            direction = "raises" if contribution > 0 else "lowers"
            shown_label = f"{label[0].upper()}{label[1:]}"
            factors.append(Factor(names[j], str(value), contribution, f"{shown_label} {direction} {outcome} risk",
                                  shown_label))
        out.append(factors)
    return out


def _missing_as_nan(values: np.ndarray) -> np.ndarray:
    """Missing text values (None) as NaN, the way a frame row shows a missing category."""
    if values.dtype != object:
        return values
    return np.where(pd.isna(values), np.nan, values)
