"""What a pilot was: the piloted programmes, the periods before and after the funding change, the comparison.

One pydantic model serves the CLI's spec file and the HTTP body, so both validate identically (field limits
included). Checks that need only the spec live here; checks against the data (unknown programmes, periods
outside the data, programmes without episodes) live in `pilots.evaluate`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.numbers import Number
from features.contract import PERIOD_PATTERN

MAX_PROGRAMS = 500
MAX_PERIODS = 120
Identifier = Annotated[str, Field(min_length=1, max_length=100)]
Period = Annotated[str, Field(pattern=PERIOD_PATTERN.pattern, examples=["2025-Q1"])]


class PilotSpec(BaseModel):
    """A pilot to evaluate (same shape in the CLI's spec file and in `POST /v1/pilots/evaluate`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pilot_programs: list[Identifier] = Field(
        min_length=1, max_length=MAX_PROGRAMS,
        description="Programmes (or programme-sites) whose funding changed.")
    pre_periods: list[Period] = Field(min_length=1, max_length=MAX_PERIODS,
                                      description="Periods before the change.")
    post_periods: list[Period] = Field(min_length=1, max_length=MAX_PERIODS,
                                       description="Periods after the change.")
    controls: list[Identifier] | Literal["auto"] = Field(
        "auto", description='Control programmes, or "auto" to match them by modality, region, pre-period '
                            "reliable-improvement rate and size.")
    controls_per_pilot: int = Field(2, ge=1, le=10, description='Matched controls per piloted programme ("auto").')
    expected_effect: Annotated[Number, Field(ge=-1, le=1)] | None = Field(
        None, description="The hoped-for change in the ITT reliable-improvement rate (0.03 = 3 percentage points); "
                          "the power check warns when the pilot is too small to show it.")
    alpha: Number = Field(0.05, ge=0.001, le=0.5,
                         description="Two-sided significance level; intervals are 1 - alpha.")
    power: Number = Field(0.8, ge=0.5, le=0.99,
                         description="Power at which the minimum detectable effect is computed.")

    @model_validator(mode="after")
    def _consistent(self) -> PilotSpec:
        for name in ("pilot_programs", "pre_periods", "post_periods"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists {_repeated(values)} more than once")
        if isinstance(self.controls, list):
            if len(set(self.controls)) != len(self.controls):
                raise ValueError(f"controls lists {_repeated(self.controls)} more than once")
            overlap = sorted(set(self.controls) & set(self.pilot_programs))
            if overlap:
                raise ValueError(f"pilot and control groups overlap: {overlap} are in both pilot_programs and "
                                 "controls; a programme is either piloted or a control")
        both = sorted(set(self.pre_periods) & set(self.post_periods))
        if both:
            raise ValueError(f"periods {both} are in both pre_periods and post_periods")
        if max(self.pre_periods) >= min(self.post_periods):
            raise ValueError(f"every pre period must come before every post period: latest pre period "
                             f"{max(self.pre_periods)}, earliest post period {min(self.post_periods)}")
        return self


def _repeated(values: list[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})
