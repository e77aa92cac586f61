"""Episodes uploaded as a CSV in contract form, checked by the contract's own column rules before any scoring.

The clinician page posts the file here and gets back JSON rows the risk endpoint accepts, or every problem with
the file's line numbers (the header is line 1), so a clinician can fix the file in one pass. Outcome columns and
patient_id are dropped here: risk is scored at intake and the service never needs the patient's identifier.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from features.contract import ContractError, validate_episodes_for_scoring
from features.tables import SNIFFED_BYTES, not_text, parser_message
from serving.problems import ProblemError
from serving.risk import UNUSED_FIELDS
from serving.schemas import MAX_RISK_EPISODES, EpisodeIn

SCORED_FIELDS = tuple(name for name in EpisodeIn.model_fields if name not in UNUSED_FIELDS)
SHOWN_PROBLEMS = 20


def _line_numbers(positions: Any) -> tuple[int, ...]:
    return tuple(int(p) + 2 for p in positions)  # data row 0 is line 2 of the file


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def episodes_from_csv(data: bytes, filename: str) -> dict[str, Any]:
    """{"episodes": rows for POST /v1/patients/risk, "ignored_columns": [...]} or a 422 naming every problem."""
    name = filename or "episodes.csv"
    if not data.strip():
        raise ProblemError(422, "invalid-episodes-file", f"{name} is empty; expected a CSV with a header line",
                           errors=[{"field": "file", "message": "the file is empty", "type": "empty"}])
    why = not_text(data[:SNIFFED_BYTES])
    try:
        if why:
            raise ValueError(why)
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        message = why or parser_message(exc)
        raise ProblemError(422, "invalid-episodes-file", f"{name} {message}",
                           errors=[{"field": "file", "message": message, "type": "unreadable"}]) from exc
    if len(frame) > MAX_RISK_EPISODES:
        raise ProblemError(422, "invalid-episodes-file", f"{name} has {len(frame):,} episodes; at most "
                           f"{MAX_RISK_EPISODES:,} can be scored at once, so split the file",
                           errors=[{"field": "file", "message": "too many rows", "type": "too_long"}])
    try:
        episodes = validate_episodes_for_scoring(frame, episodes_file=name, row_numbers=_line_numbers)
    except ContractError as exc:
        errors = [{"field": problem.column or "file", "message": str(problem), "type": "contract"}
                  for problem in exc.problems[:SHOWN_PROBLEMS]]
        raise ProblemError(422, "invalid-episodes-file", f"{name} breaks the input contract in "
                           f"{len(exc.problems)} way(s); see errors", errors=errors) from exc
    kept = [c for c in SCORED_FIELDS if c in episodes.columns]
    rows = [{k: _plain(v) for k, v in row.items() if _plain(v) is not None}
            for row in episodes[kept].astype(object).to_dict("records")]
    ignored = sorted(set(frame.columns) - set(kept))
    return {"episodes": rows, "ignored_columns": ignored, "count": len(rows)}
