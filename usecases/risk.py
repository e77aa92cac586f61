"""Risk for submitted episodes: contract columns -> the bundle's features -> dropout and non-response risk, each
with the SHAP factors behind it in words.

A category the model never saw (payer, region, instrument...) is refused with the column and the allowed values;
scoring it would silently treat it as missing. Refusals name columns and positions, never the submitted value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.classifier import Features
from models.explain import Factor, top_factors
from models.scoring import BundleScorer, ClassifierScorer

SHOWN_ERRORS = 20
"""Refusals listed per column; beyond these the message's column list says enough."""


@dataclass(frozen=True)
class UnseenValue:
    position: int
    column: str
    allowed: list[str]


class UnseenCategoriesError(ValueError):
    """Episodes carry category values the model was not trained on."""

    def __init__(self, unseen: list[UnseenValue]):
        super().__init__(f"values the model never saw in: {', '.join(sorted({u.column for u in unseen}))}")
        self.unseen = unseen


@dataclass(frozen=True)
class EpisodeRisks:
    """Per episode, in the order submitted."""

    dropout: np.ndarray
    non_response: np.ndarray
    why_dropout: list[list[Factor]]
    why_non_response: list[list[Factor]]
    base_rates: dict[str, float]


def unseen_categories(scorers: tuple[ClassifierScorer, ...], X: Features,
                      matrices: tuple[np.ndarray, ...] | None = None) -> list[UnseenValue]:
    """Each unseen value's position and column with the allowed values; `matrices`: each scorer's `matrix(X)`."""
    found: list[UnseenValue] = []
    done: set[str] = set()
    for i, scorer in enumerate(scorers):
        for column in scorer.unknown_levels(X, None if matrices is None else matrices[i]):
            if column in done:
                continue
            done.add(column)
            allowed = [str(v) for v in scorer.model.categories_[column]]
            known = set(allowed)
            values = np.asarray(X[column], dtype=object)
            bad = [row for row, value in enumerate(values) if not pd.isna(value) and value not in known]
            found += [UnseenValue(int(position), column, allowed) for position in bad[:SHOWN_ERRORS]]
    return found


def score_risk(scorer: BundleScorer, episodes: Mapping[str, np.ndarray], top: int) -> EpisodeRisks:
    """Features once, then per model one pass over the trees gives both the risk and its SHAP factors.
    Raises UnknownProgramError (models.bundle) and UnseenCategoriesError."""
    X = scorer.feature_columns(episodes)
    first = scorer.response.matrix(X)
    same = scorer.bundle.suite.dropout.same_inputs(scorer.bundle.suite.response)
    matrices = (first, first if same else scorer.dropout.matrix(X))
    unseen = unseen_categories((scorer.response, scorer.dropout), X, matrices)
    if unseen:
        raise UnseenCategoriesError(unseen)
    response, response_shap = scorer.response.probability_and_contributions(X, matrices[0])
    dropout, dropout_shap = scorer.dropout.probability_and_contributions(X, matrices[1])
    return EpisodeRisks(
        dropout=dropout, non_response=1.0 - response,
        why_dropout=top_factors(dropout_shap[:, :-1], scorer.dropout.columns, X, "dropout", top=top),
        why_non_response=top_factors(response_shap[:, :-1], scorer.response.columns, X, "non-response", top=top,
                                     invert=True),
        base_rates=dict(scorer.bundle.base_rates))
