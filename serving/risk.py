"""Risk for submitted episodes: contract rows -> the bundle's features -> dropout and non-response risk + SHAP.

A category the model never saw (payer, region, instrument...) is refused with the field and the allowed values;
scoring it would silently treat it as missing. Refusals name fields and positions, never the submitted value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.bundle import CareAllocBundle
from models.classifier import Features, FundingAwareClassifier
from models.explain import Factor, top_factors
from serving.problems import ProblemError
from serving.schemas import EpisodeIn, EpisodeRiskPublic, FactorPublic, OutcomeRiskPublic, RiskCreate, RiskPublic
from serving.state import LoadedBundle

UNUSED_FIELDS = {"patient_id", "final_score", "dropped_out", "sessions_attended", "satisfaction"}
"""Never needed to score risk, so never copied into the columns scored (patient_id in particular)."""
SHOWN_ERRORS = 20
USED_FIELDS = tuple(name for name in EpisodeIn.model_fields if name not in UNUSED_FIELDS)


def episodes_columns(episodes: list[EpisodeIn]) -> dict[str, np.ndarray]:
    """The submitted episodes column-wise, as `features.build.episode_columns` reads them (no pandas frame:
    building one cost more than scoring a single episode)."""
    return {name: np.array([getattr(e, name) for e in episodes], dtype=object) for name in USED_FIELDS}


def unseen_categories(models: tuple[FundingAwareClassifier, ...], X: Features,
                      matrices: tuple[np.ndarray, ...] | None = None) -> list[dict[str, str]]:
    """Refusals per unseen value (field path and allowed values); `matrices`: each model's `matrix(X)`."""
    errors: list[dict[str, str]] = []
    done: set[str] = set()
    for i, model in enumerate(models):
        for column in model.unknown_levels(X, None if matrices is None else matrices[i]):
            if column in done:
                continue
            done.add(column)
            allowed = [str(v) for v in model.categories_[column]]
            known = set(allowed)
            values = np.asarray(X[column], dtype=object)
            bad = [row for row, value in enumerate(values) if not pd.isna(value) and value not in known]
            for position in bad[:SHOWN_ERRORS]:
                errors.append({"field": f"body.episodes[{int(position)}].{column}",
                               "message": f"not a value the model was trained on; expected one of {allowed} "
                                          "or leave it empty", "type": "unseen_category"})
    return errors


def _factors(factors: list[Factor]) -> list[FactorPublic]:
    return [FactorPublic(feature=f.feature, value=f.value, contribution=f.contribution, text=f.text)
            for f in factors]


def score(loaded: LoadedBundle, request: RiskCreate) -> RiskPublic:
    """Features once, then per model one pass over the trees gives both the risk and its SHAP factors."""
    bundle: CareAllocBundle = loaded.bundle
    X = bundle.feature_columns(episodes_columns(request.episodes))  # UnknownProgramError -> 404
    suite = bundle.suite
    models = (suite.response, suite.dropout)
    first = suite.response.matrix(X)
    matrices = (first, first if suite.dropout.same_inputs(suite.response) else suite.dropout.matrix(X))
    errors = unseen_categories(models, X, matrices)
    if errors:
        fields = sorted({e["field"].rsplit(".", 1)[1] for e in errors})
        raise ProblemError(422, "unseen-category", f"values the model never saw in: {', '.join(fields)}",
                           errors=errors)
    response, response_shap = suite.response.probability_and_contributions(X, matrices[0])
    dropout, dropout_shap = suite.dropout.probability_and_contributions(X, matrices[1])
    non_response = 1.0 - response
    why_dropout = top_factors(dropout_shap[:, :-1], list(map(str, suite.dropout.feature_names_in_)), X, "dropout",
                              top=request.top_factors)
    why_non_response = top_factors(response_shap[:, :-1], list(map(str, suite.response.feature_names_in_)), X,
                                   "non-response", top=request.top_factors, invert=True)
    rates = bundle.base_rates
    return RiskPublic(model_version=loaded.version, base_rates=dict(rates), episodes=[
        EpisodeRiskPublic(
            ref=episode.episode_id,
            dropout=OutcomeRiskPublic(risk=float(dropout[i]), base_rate=rates["dropout"],
                                      factors=_factors(why_dropout[i])),
            non_response=OutcomeRiskPublic(risk=float(non_response[i]), base_rate=rates["non_response"],
                                           factors=_factors(why_non_response[i])))
        for i, episode in enumerate(request.episodes)])
