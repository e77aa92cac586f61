"""Bodies of /v1/saved-scenarios (kept apart from schemas.py, as pilot_schemas.py is, so branches merge easily).

A saved scenario's `request` is the body POST /v1/recommendations takes, validated by the same model, so what is
saved can always be run again (until the loaded model loses a programme it names: then the run says so).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from serving.schemas import Public
from usecases.recommendation import RecommendationRequest

PRINTABLE_NAME = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
"""No control characters (they could rewrite a terminal or a log line), and not blank."""
ScenarioName = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE_NAME,
                                    description="Shown in lists; printable text, at most 100 characters.")]


class SavedScenarioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Rural floor 15 %", "shared": True,
        "request": {"max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.15}]}}]})
    name: ScenarioName
    request: RecommendationRequest = Field(description="The body POST /v1/recommendations takes.")
    shared: StrictBool = Field(False, description="Whether other allocators' keys may see and load it.")


class SavedScenarioUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shared: StrictBool = Field(description="Share with every key allowed to use saved scenarios, or stop sharing.")


class SavedScenarioSummary(Public):
    scenario_id: str
    name: str
    shared: bool
    saved_at: str
    mine: bool = Field(description="Saved by the calling key (only its owner may delete or unshare it).")


class SavedScenarioPublic(SavedScenarioSummary):
    request: RecommendationRequest


class SavedScenariosPublic(Public):
    scenarios: list[SavedScenarioSummary] = Field(description="The caller's own and the shared ones, newest first.")
    limit: int = Field(description="How many scenarios one key may keep.")
