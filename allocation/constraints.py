"""The rules a plan must obey, checked on construction so a typo fails loudly before any solving."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from allocation.units import DecisionUnit, ResourceLimit

BudgetMode = Literal["exact", "at_most"]


def _check_money(label: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise ValueError(f"{label} must be a finite amount >= 0, got {value}")


def _check_share(label: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or not 0.0 <= value <= 1.0):
        raise ValueError(f"{label} must be a fraction between 0 and 1, got {value}")


@dataclass(frozen=True)
class ProgramBounds:
    """Limits on one programme's funding; ``locked`` keeps it at current funding whatever else is said."""

    min: float | None = None
    max: float | None = None
    locked: bool = False
    no_decrease: bool = False

    def __post_init__(self) -> None:
        _check_money("ProgramBounds.min", self.min)
        _check_money("ProgramBounds.max", self.max)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"ProgramBounds.min {self.min:,.0f} exceeds ProgramBounds.max {self.max:,.0f}")


@dataclass(frozen=True)
class GroupShare:
    """Floor and/or cap on the share of the budget going to programmes with ``groups[column] == value``.

    Shares are fractions of the budget (not of the amount actually spent), so in ``at_most`` mode a floor
    is a fixed amount of money the group is guaranteed.
    """

    column: str
    value: str
    min_share: float | None = None
    max_share: float | None = None

    def __post_init__(self) -> None:
        if not self.column or not self.value:
            raise ValueError("GroupShare needs a non-empty column and value")
        _check_share("GroupShare.min_share", self.min_share)
        _check_share("GroupShare.max_share", self.max_share)
        if self.min_share is None and self.max_share is None:
            raise ValueError(f"GroupShare {self.label}: give min_share, max_share or both")
        if self.min_share is not None and self.max_share is not None and self.min_share > self.max_share:
            raise ValueError(
                f"GroupShare {self.label}: min_share {self.min_share:.0%} exceeds max_share {self.max_share:.0%}"
            )

    @property
    def label(self) -> str:
        return f"{self.column}={self.value}"


@dataclass(frozen=True)
class Constraints:
    """Budget plus policy rules; ``max_change`` is a phasing limit as a fraction of current funding.

    ``units`` funds named cells in whole units and/or makes them off-or-viable; ``resources`` are linear limits
    over cells (staff hours, supervisor ratios); both are explained in `allocation.units`.
    """

    budget: float
    budget_mode: BudgetMode = "exact"
    max_change: float | None = None
    programs: Mapping[str, ProgramBounds] = field(default_factory=dict)
    groups: Sequence[GroupShare] = ()
    within_observed_range: bool = False
    units: Mapping[str, DecisionUnit] = field(default_factory=dict)
    resources: Sequence[ResourceLimit] = ()

    def __post_init__(self) -> None:
        if not math.isfinite(self.budget) or self.budget <= 0:
            raise ValueError(f"budget must be a finite amount > 0, got {self.budget}")
        if self.budget_mode not in ("exact", "at_most"):
            raise ValueError(f"budget_mode must be 'exact' or 'at_most', got {self.budget_mode!r}")
        if self.max_change is not None and (not math.isfinite(self.max_change) or self.max_change < 0):
            raise ValueError(f"max_change must be a fraction >= 0, got {self.max_change}")
        for pid, bounds in self.programs.items():
            if not isinstance(bounds, ProgramBounds):
                raise ValueError(f"programs[{pid!r}] must be a ProgramBounds, got {type(bounds).__name__}")
        for group in self.groups:
            if not isinstance(group, GroupShare):
                raise ValueError(f"groups must hold GroupShare items, got {type(group).__name__}")
        for pid, unit in self.units.items():
            if not isinstance(unit, DecisionUnit):
                raise ValueError(f"units[{pid!r}] must be a DecisionUnit, got {type(unit).__name__}")
        names = [r.name for r in self.resources]
        for resource in self.resources:
            if not isinstance(resource, ResourceLimit):
                raise ValueError(f"resources must hold ResourceLimit items, got {type(resource).__name__}")
        if len(set(names)) < len(names):
            raise ValueError(f"resource names must be unique, got {', '.join(sorted(names))}")
        object.__setattr__(self, "budget", float(self.budget))
        object.__setattr__(self, "units", dict(self.units))
        object.__setattr__(self, "resources", tuple(self.resources))
        object.__setattr__(self, "programs", dict(self.programs))
        object.__setattr__(self, "groups", tuple(self.groups))
