"""Decision units: funding a manager can execute (whole FTEs, licence packs, cohorts) and the resources they use.

A cell with a ``step`` is funded in whole units counted from zero: its funding is ``k * step`` for a whole
number ``k >= 0``, and ``k`` is what the plan reports ("3 FTE"). Counting from zero rather than from the cell's
lower limit or its current funding keeps the count meaningful on its own (3 FTE is 3 salaries whatever the
phasing limits are) and independent of how the forecast grid happens to start; a current funding that is not a
whole number of units is simply not itself on the lattice, so a change limit that admits no whole number of
units is reported as a conflict.

``min_viable`` makes a cell either off (0) or funded at ``min_viable`` or more. "Off" needs 0 to be allowed by
the cell's other limits (its forecast grid starts at 0, no minimum, change limit or no-decrease rule keeps it
above); where it is not, ``min_viable`` acts as a plain minimum.

A resource is a linear row over cells: ``sum_i per_unit_i * units_i + per_money_i * funding_i <= available``
(therapist hours per clinic, or a supervisor ratio written as therapists - 6 x supervisors <= 0, usages may be
negative). Since ``units_i = funding_i / step_i`` the row is linear in funding, so every solver that takes
linear rows takes it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# A stepped cell gets one binary per unit level; more levels than this means the step is no decision unit.
MAX_UNIT_LEVELS = 1_000


@dataclass(frozen=True)
class DecisionUnit:
    """How one cell is funded: in whole ``step``-sized units (``unit`` names them), and/or off or >= min_viable."""

    step: float | None = None
    unit: str = "unit"
    min_viable: float | None = None

    def __post_init__(self) -> None:
        if self.step is not None and (not math.isfinite(self.step) or self.step <= 0):
            raise ValueError(f"DecisionUnit.step must be a finite amount > 0, got {self.step}")
        if self.min_viable is not None and (not math.isfinite(self.min_viable) or self.min_viable < 0):
            raise ValueError(f"DecisionUnit.min_viable must be a finite amount >= 0, got {self.min_viable}")
        if not self.unit:
            raise ValueError("DecisionUnit.unit must be a non-empty label")
        if self.step is None and self.min_viable is None:
            raise ValueError("DecisionUnit needs a step, a min_viable or both")


@dataclass(frozen=True)
class ResourceLimit:
    """``sum per_unit[cell] * units + per_money[cell] * funding <= available`` over the cells it names."""

    name: str
    available: float
    per_unit: Mapping[str, float] = field(default_factory=dict)
    per_money: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("ResourceLimit needs a name")
        if not math.isfinite(self.available):
            raise ValueError(f"resource {self.name}: available must be finite, got {self.available}")
        for label, usage in (("per_unit", self.per_unit), ("per_money", self.per_money)):
            for cell, amount in usage.items():
                if not math.isfinite(amount):
                    raise ValueError(f"resource {self.name}: {label}[{cell!r}] must be finite, got {amount}")
        if not self.per_unit and not self.per_money:
            raise ValueError(f"resource {self.name}: give per_unit or per_money usage for at least one cell")
        object.__setattr__(self, "available", float(self.available))
        object.__setattr__(self, "per_unit", {str(k): float(v) for k, v in self.per_unit.items()})
        object.__setattr__(self, "per_money", {str(k): float(v) for k, v in self.per_money.items()})


def unit_count(funding: float, step: float) -> int:
    """Whole units a stepped cell's funding buys (the plan's funding is on the lattice to float rounding)."""
    return round(funding / step)
