"""`POST /v1/patients/risk` around the risk use case: request episodes in, response documents out.

Refusals name fields and positions, never the submitted value.
"""

from __future__ import annotations

import numpy as np

from models.explain import Factor
from serving.problems import ProblemError
from serving.schemas import EpisodeIn, EpisodeRiskPublic, FactorPublic, OutcomeRiskPublic, RiskCreate, RiskPublic
from serving.state import LoadedBundle
from usecases.risk import UnseenCategoriesError, score_risk

UNUSED_FIELDS = {"patient_id", "final_score", "dropped_out", "sessions_attended", "satisfaction"}
"""Never needed to score risk, so never copied into the columns scored (patient_id in particular)."""
USED_FIELDS = tuple(name for name in EpisodeIn.model_fields if name not in UNUSED_FIELDS)


def episodes_columns(episodes: list[EpisodeIn]) -> dict[str, np.ndarray]:
    """The submitted episodes column-wise, as `features.build.episode_columns` reads them (no pandas frame:
    building one cost more than scoring a single episode)."""
    return {name: np.array([getattr(e, name) for e in episodes], dtype=object) for name in USED_FIELDS}


def _factors(factors: list[Factor]) -> list[FactorPublic]:
    return [FactorPublic(feature=f.feature, value=f.value, contribution=f.contribution, text=f.text,
                         label=f.label)
            for f in factors]


def score(loaded: LoadedBundle, request: RiskCreate) -> RiskPublic:
    if loaded.scorer is None:
        raise RuntimeError("the loaded bundle was installed without its scorer")
    try:  # UnknownProgramError -> 404 by its own handler
        risks = score_risk(loaded.scorer, episodes_columns(request.episodes), request.top_factors)
    except UnseenCategoriesError as exc:
        errors = [{"field": f"body.episodes[{u.position}].{u.column}",
                   "message": f"not a value the model was trained on; expected one of {u.allowed} or leave it empty",
                   "type": "unseen_category"} for u in exc.unseen]
        raise ProblemError(422, "unseen-category", str(exc), errors=errors) from None
    rates = risks.base_rates
    return RiskPublic(model_version=loaded.version, base_rates=dict(rates), episodes=[
        EpisodeRiskPublic(
            ref=episode.episode_id,
            dropout=OutcomeRiskPublic(risk=float(risks.dropout[i]), base_rate=rates["dropout"],
                                      factors=_factors(risks.why_dropout[i])),
            non_response=OutcomeRiskPublic(risk=float(risks.non_response[i]), base_rate=rates["non_response"],
                                           factors=_factors(risks.why_non_response[i])))
        for i, episode in enumerate(request.episodes)])
