"""Risk for submitted episodes: contract rows -> the bundle's features -> dropout and non-response risk + SHAP.

A category the model never saw (payer, region, instrument...) is refused with the field and the allowed values;
scoring it would silently treat it as missing. Refusals name fields and positions, never the submitted value.
"""

from __future__ import annotations

import pandas as pd

from models.bundle import CareAllocBundle
from models.classifier import FundingAwareClassifier
from models.explain import Factor, explain
from serving.problems import ProblemError
from serving.schemas import EpisodeIn, EpisodeRiskPublic, FactorPublic, OutcomeRiskPublic, RiskCreate, RiskPublic
from serving.state import LoadedBundle

UNUSED_FIELDS = {"patient_id", "final_score", "dropped_out", "sessions_attended", "satisfaction"}
"""Never needed to score risk, so never copied into the frame (patient_id in particular)."""
SHOWN_ERRORS = 20


def episodes_frame(episodes: list[EpisodeIn]) -> pd.DataFrame:
    return pd.DataFrame([e.model_dump(exclude=UNUSED_FIELDS) for e in episodes])


def unseen_categories(models: tuple[FundingAwareClassifier, ...], X: pd.DataFrame) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    done: set[str] = set()
    for model in models:
        for column in model.unknown_levels(X):
            if column in done:
                continue
            done.add(column)
            allowed = [str(v) for v in model.categories_[column]]
            values = X[column].astype("object")
            bad = (values.notna() & ~values.isin(allowed)).to_numpy().nonzero()[0]
            for position in bad[:SHOWN_ERRORS]:
                errors.append({"field": f"body.episodes[{int(position)}].{column}",
                               "message": f"not a value the model was trained on; expected one of {allowed} "
                                          "or leave it empty", "type": "unseen_category"})
    return errors


def _factors(factors: list[Factor]) -> list[FactorPublic]:
    return [FactorPublic(feature=f.feature, value=f.value, contribution=f.contribution, text=f.text)
            for f in factors]


def score(loaded: LoadedBundle, request: RiskCreate) -> RiskPublic:
    bundle: CareAllocBundle = loaded.bundle
    frame = episodes_frame(request.episodes)
    X = bundle.features(frame)  # UnknownProgramError -> 404
    suite = bundle.suite
    errors = unseen_categories((suite.response, suite.dropout), X)
    if errors:
        fields = sorted({e["field"].rsplit(".", 1)[1] for e in errors})
        raise ProblemError(422, "unseen-category", f"values the model never saw in: {', '.join(fields)}",
                           errors=errors)
    dropout = suite.dropout.predict_proba(X)[:, 1]
    non_response = 1.0 - suite.response.predict_proba(X)[:, 1]
    why_dropout = explain(suite.dropout, X, "dropout", top=request.top_factors)
    why_non_response = explain(suite.response, X, "non-response", top=request.top_factors, invert=True)
    rates = bundle.base_rates
    return RiskPublic(model_version=loaded.version, base_rates=dict(rates), episodes=[
        EpisodeRiskPublic(
            ref=episode.episode_id,
            dropout=OutcomeRiskPublic(risk=float(dropout[i]), base_rate=rates["dropout"],
                                      factors=_factors(why_dropout[i])),
            non_response=OutcomeRiskPublic(risk=float(non_response[i]), base_rate=rates["non_response"],
                                           factors=_factors(why_non_response[i])))
        for i, episode in enumerate(request.episodes)])
