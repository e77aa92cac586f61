"""What a recommendation carries back: the split, its evidence, and how far it could be from the best.

Everything is a frozen dataclass; ``to_dict`` turns it into plain JSON types (NaN/inf become None) so the
API and CLI never hand-convert numpy scalars.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # per dataclass, looked up once


def plain(value: Any) -> Any:
    """JSON-safe copy: dataclasses and mappings to dicts, sequences to lists, non-finite floats to None.

    The built-in types a result is made of are recognised by exact type first: a recommendation has some
    1,700 values and the general isinstance chain below cost more than 6 ms for them.
    """
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is tuple or kind is list:
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.get(kind)
        if names is None:
            names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


@dataclass(frozen=True)
class PlanEvaluation:
    """Forecast outcomes of any split (a scenario, the status quo, a baseline) under one objective."""

    funding: Mapping[str, float]
    objective_value: float
    totals: Mapping[str, float]  # "funding" plus the sum of every metric all curves have
    per_programme: Mapping[str, Mapping[str, float]]
    outside_forecast_grid: tuple[str, ...]  # funding clamped to the grid end for these programmes

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(self)
        return result


@dataclass(frozen=True)
class ProgrammeAllocation:
    program_id: str
    current_funding: float
    recommended_funding: float
    change: float
    change_pct: float | None  # None when current funding is zero
    lower_limit: float
    upper_limit: float
    objective_current: float
    objective_recommended: float
    metrics_current: Mapping[str, float]
    metrics_recommended: Mapping[str, float]
    marginal_gain_per_1000: float | None  # None when 1,000 more would leave the forecast grid
    flags: tuple[str, ...]
    units: int | None = None  # whole units funded, for a cell with a step
    unit: str | None = None  # what one unit is ("FTE")


@dataclass(frozen=True)
class ResourceUse:
    """How much of a resource limit (staff hours, a supervisor ratio) the plan uses."""

    name: str
    used: float
    available: float


@dataclass(frozen=True)
class BaselinePlan:
    """A simple rule's split, moved onto the constraints where possible so comparisons are fair."""

    name: str
    feasible: bool
    adjusted: bool  # the rule's raw split broke a constraint and was moved to the nearest feasible split
    objective_value: float | None
    allocation: Mapping[str, float] | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class BudgetPoint:
    fraction: float
    budget: float
    objective_value: float | None  # None when the constraints cannot be met at this budget


@dataclass(frozen=True)
class OptimalityGap:
    """``absolute``/``relative`` compare with the exact grid DP; ``bound_*`` with a proven upper bound."""

    reference: str
    reference_value: float
    reference_exact: bool
    reference_step: float
    absolute: float
    relative: float
    upper_bound: float | None
    bound_absolute: float | None
    bound_relative: float | None


@dataclass(frozen=True)
class SolverInfo:
    method: str
    iterations: int
    seconds: float
    grid_step: float
    polish_improved: bool
    numpy_version: str
    scipy_version: str
    python_version: str


@dataclass(frozen=True)
class AllocationResult:
    objective: Mapping[str, Any]
    objective_value: float
    budget: float
    budget_mode: str
    allocations: tuple[ProgrammeAllocation, ...]
    totals: Mapping[str, Mapping[str, float]]  # "plan" and "status_quo"
    unallocated: float
    binding_constraints: tuple[str, ...]
    shadow_price: float | None  # objective gain per extra 1,000 of budget
    optimality_gap: OptimalityGap
    budget_curve: tuple[BudgetPoint, ...]
    baselines: tuple[BaselinePlan, ...]
    solver: SolverInfo
    resources: tuple[ResourceUse, ...] = ()

    @property
    def allocation(self) -> dict[str, float]:
        return {a.program_id: a.recommended_funding for a in self.allocations}

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(self)
        return result
