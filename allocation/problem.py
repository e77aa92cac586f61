"""The optimisation problem in standard form: one box per programme, a budget row, group rows and resource rows.

Every rule in `Constraints` is folded into per-programme lower/upper limits (remembering which rule set
each limit, for explanations) and linear group rows, so the solvers, the feasibility check and the
explanations all read the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from allocation.constraints import BudgetMode, Constraints
from allocation.curves import OutcomeCurve
from allocation.objectives import Objective
from allocation.units import MAX_UNIT_LEVELS, DecisionUnit, ResourceLimit

# Plans may miss the budget by at most this much money (the issue allows one currency unit).
BUDGET_TOLERANCE = 0.5
# Rules met to within this share of the budget count as met when deciding feasibility: float rounding only (the LP
# scales money by the budget and HiGHS allows ~1e-7 per row; the DP, the greedy and the repair all manage this much,
# which they would not with BUDGET_TOLERANCE on a group floor).
FEASIBILITY_TOLERANCE = 1e-9


def money(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True, eq=False)
class GroupRow:
    """A group share rule turned into money: floor <= sum of members' funding <= cap."""

    label: str
    column: str
    value: str
    members: np.ndarray  # bool mask over programmes
    floor: float | None
    cap: float | None
    min_share: float | None
    max_share: float | None


@dataclass(frozen=True, eq=False)
class ResourceRow:
    """A resource limit turned into money: usage @ funding <= available (usage per money, per unit folded in).

    ``scale`` is the largest use one cell can make of it (or ``available`` if larger): rows are divided by it
    before a solver sees them, so staff hours and money reach HiGHS as numbers near one, and our re-check allows
    float rounding relative to it.
    """

    name: str
    usage: np.ndarray
    available: float
    scale: float

    def used(self, funding: np.ndarray) -> float:
        return float(self.usage @ funding)


@dataclass
class GroupCell:
    """Programmes of one group of the exactly handled grouping column (or of none: the rest), with the group's
    tightest floor and cap; the cells are disjoint, which is what the DP and the slope greedy rely on."""

    members: list[int]
    floor: float | None
    cap: float | None


@dataclass(frozen=True, eq=False)
class Problem:
    """Curves sorted by program_id (so results never depend on input order) plus compiled limits."""

    curves: tuple[OutcomeCurve, ...]
    knots: tuple[np.ndarray, ...]
    scores: tuple[np.ndarray, ...]
    lo: np.ndarray
    hi: np.ndarray
    lo_source: tuple[str, ...]
    hi_source: tuple[str, ...]
    locked: np.ndarray
    budget: float
    mode: BudgetMode
    groups: tuple[GroupRow, ...]
    constraints: Constraints
    objective: Objective
    program_conflicts: tuple[str, ...]
    unit_step: np.ndarray  # money per whole unit; NaN where the cell takes any amount
    unit_label: tuple[str, ...]
    viable: np.ndarray  # off (0) or at least this much; 0 where the cell has no such rule or cannot be off
    resources: tuple[ResourceRow, ...]

    @cached_property
    def stepped(self) -> np.ndarray:
        return np.isfinite(self.unit_step)

    @property
    def discrete(self) -> bool:
        """Whole units or off-or-viable cells: only the mixed-integer programme solves these exactly."""
        return bool(self.stepped.any() or (self.viable > 0).any())

    @cached_property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.program_id for c in self.curves)

    @property
    def size(self) -> int:
        return len(self.curves)

    @cached_property
    def curve_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots and scores as one matrix each (shorter curves repeat their last point), built once per problem
        for the solver steps that treat all programmes at once."""
        width = max(len(k) for k in self.knots)

        def padded(rows: tuple[np.ndarray, ...]) -> np.ndarray:
            return np.vstack([r if len(r) == width else np.concatenate([r, np.full(width - len(r), r[-1])])
                              for r in rows])

        knots, scores = padded(self.knots), padded(self.scores)
        return knots, scores

    @cached_property
    def primary_column(self) -> str | None:
        """The grouping column handled exactly: the one with the most share rules (ties: alphabetical)."""
        counts: dict[str, int] = {}
        for group in self.groups:
            counts[group.column] = counts.get(group.column, 0) + 1
        if not counts:
            return None
        return min(counts, key=lambda column: (-counts[column], column))

    @cached_property
    def cells(self) -> tuple[GroupCell, ...]:
        """The primary column's groups in value order, then the programmes in none of them (if any)."""
        cells: dict[str, GroupCell] = {}
        for group in self.groups:
            if group.column != self.primary_column:
                continue
            cell = cells.setdefault(group.value, GroupCell(np.flatnonzero(group.members).tolist(), None, None))
            if group.floor is not None:
                cell.floor = group.floor if cell.floor is None else max(cell.floor, group.floor)
            if group.cap is not None:
                cell.cap = group.cap if cell.cap is None else min(cell.cap, group.cap)
        ordered = [cells[value] for value in sorted(cells)]
        grouped = {i for cell in ordered for i in cell.members}
        rest = [i for i in range(self.size) if i not in grouped]
        if rest or not ordered:
            ordered.append(GroupCell(rest, None, None))
        return tuple(ordered)

    @property
    def one_column(self) -> bool:
        """Every group rule is on one grouping column (or there are none) and no resource row crosses the cells:
        the disjoint cells then carry every linear rule."""
        return len({g.column for g in self.groups}) <= 1 and not self.resources

    def at_budget(self, budget: float) -> Problem:
        """The same problem with another budget: only the budget row and the groups' money limits change
        (programme limits never depend on the budget), so nothing is compiled again."""
        groups = tuple(dataclasses.replace(g, floor=_share_of(g.min_share, budget), cap=_share_of(g.max_share, budget))
                       for g in self.groups)
        other = dataclasses.replace(self, budget=budget, groups=groups,
                                    constraints=dataclasses.replace(self.constraints, budget=budget))
        if "curve_table" in self.__dict__:  # the padded curves do not depend on the budget either
            other.__dict__["curve_table"] = self.__dict__["curve_table"]
        return other

    def value_parts(self, funding: np.ndarray) -> np.ndarray:
        """Each programme's score at its funding, interpolated on its curve as np.interp does (flat beyond the
        ends), for all programmes in one pass: the solver calls this for every candidate plan."""
        knots, scores = self.curve_table
        x = np.asarray(funding, dtype=float)
        if knots.shape[1] == 1:
            return scores[:, 0].copy()
        rows = np.arange(len(x))
        left = np.clip((knots <= x[:, None]).sum(axis=1) - 1, 0, knots.shape[1] - 2)
        x0, x1 = knots[rows, left], knots[rows, left + 1]
        y0, y1 = scores[rows, left], scores[rows, left + 1]
        share = np.clip(np.divide(x - x0, x1 - x0, out=np.zeros_like(x), where=x1 > x0), 0.0, 1.0)
        return y0 + share * (y1 - y0)

    def value(self, funding: np.ndarray) -> float:
        return float(np.sum(self.value_parts(funding)))

    def violations(self, funding: np.ndarray) -> list[str]:
        """Our own re-check of every constraint; solvers' success flags are never trusted."""
        problems: list[str] = []
        if not np.all(np.isfinite(funding)):
            return ["plan contains NaN or inf"]
        total = float(np.sum(funding))
        if self.mode == "exact" and abs(total - self.budget) > BUDGET_TOLERANCE:
            problems.append(f"plan spends {money(total)} but the budget is {money(self.budget)}")
        if self.mode == "at_most" and total > self.budget + BUDGET_TOLERANCE:
            problems.append(f"plan spends {money(total)}, more than the budget of {money(self.budget)}")
        slack = 1e-6 * np.maximum(1.0, np.abs(self.hi))
        below, above = funding < self.lo - slack, funding > self.hi + slack
        # checked for all programmes at once (the solver re-checks every candidate plan); words only for breaches
        for i in np.flatnonzero(below | above).tolist():
            pid = self.ids[i]
            if below[i]:
                problems.append(f"programme {pid} gets {money(funding[i])}, below its limit {money(self.lo[i])}")
            if above[i]:
                problems.append(f"programme {pid} gets {money(funding[i])}, above its limit {money(self.hi[i])}")
        problems.extend(self.unit_violations(funding))
        for group in self.groups:
            amount = float(np.sum(funding[group.members]))
            if group.floor is not None and amount < group.floor - BUDGET_TOLERANCE:
                problems.append(f"group {group.label} gets {money(amount)}, below its floor {money(group.floor)}")
            if group.cap is not None and amount > group.cap + BUDGET_TOLERANCE:
                problems.append(f"group {group.label} gets {money(amount)}, above its cap {money(group.cap)}")
        return problems

    def unit_violations(self, funding: np.ndarray) -> list[str]:
        """Whole units, off-or-viable cells and resource rows (vectorised: checked for every candidate plan)."""
        problems: list[str] = []
        stepped = self.stepped
        if stepped.any():
            steps = self.unit_step[stepped]
            off_lattice = np.abs(funding[stepped] - np.round(funding[stepped] / steps) * steps) > 1e-6 * steps
            for i in np.flatnonzero(stepped)[off_lattice].tolist():
                problems.append(f"programme {self.ids[i]} gets {money(funding[i])}, not a whole number of "
                                f"{self.unit_label[i]} at {money(self.unit_step[i])} each")
        gap = (funding > OFF_FUNDING) & (funding < self.viable - 1e-6 * np.maximum(1.0, self.viable))
        for i in np.flatnonzero(gap).tolist():
            problems.append(f"programme {self.ids[i]} gets {money(funding[i])}: neither off (0) nor its "
                            f"min_viable {money(self.viable[i])}")
        for row in self.resources:
            used = row.used(funding)
            if used > row.available + 1e-6 * row.scale:
                problems.append(f"resource {row.name}: the plan uses {used:,.1f}, more than the "
                                f"{row.available:,.1f} available")
        return problems

    def units(self, funding: np.ndarray) -> list[int | None]:
        """Whole units per cell (None where the cell takes any amount)."""
        return [round(float(x) / s) if math.isfinite(s) else None
                for x, s in zip(funding.tolist(), self.unit_step.tolist(), strict=True)]


# Funding up to this counts as "off" for a min_viable cell (float rounding of a zero).
OFF_FUNDING = 1e-6


def _share_of(share: float | None, budget: float) -> float | None:
    return None if share is None else share * budget


# Placeholders for the max_change reasons, worded only for the limits they set: formatting both for every
# programme was a third of compiling a 1,024-programme problem.
_CHANGE_BELOW, _CHANGE_ABOVE = "max_change below current", "max_change above current"


def _program_limits(curve: OutcomeCurve, constraints: Constraints) -> tuple[float, str, float, str, bool, list[str]]:
    """Lower and upper funding limit of one programme, the rule behind each, and any contradiction."""
    pid = curve.program_id
    bounds = constraints.programs.get(pid)
    current = curve.current_funding
    conflicts: list[str] = []
    if bounds is not None and bounds.locked:
        grid = f"forecast grid covers {money(curve.funding_min)} to {money(curve.funding_max)}"
        if not curve.funding_min <= current <= curve.funding_max:
            conflicts.append(f"programme {pid} is locked at {money(current)} but its {grid}")
        if bounds.min is not None and bounds.min > current:
            conflicts.append(f"programme {pid} is locked at {money(current)} but its minimum is {money(bounds.min)}")
        if bounds.max is not None and bounds.max < current:
            conflicts.append(f"programme {pid} is locked at {money(current)} but its maximum is {money(bounds.max)}")
        return current, "locked at current funding", current, "locked at current funding", True, conflicts

    lower: list[tuple[float, str]] = [(curve.funding_min, "start of its forecast grid")]
    upper: list[tuple[float, str]] = [(curve.funding_max, "end of its forecast grid")]
    if bounds is not None and bounds.min is not None:
        lower.append((bounds.min, "its minimum"))
    if bounds is not None and bounds.max is not None:
        upper.append((bounds.max, "its maximum"))
    if constraints.max_change is not None:
        change = constraints.max_change
        lower.append((current * (1 - change), _CHANGE_BELOW))
        upper.append((current * (1 + change), _CHANGE_ABOVE))
    if constraints.within_observed_range:
        lower.append((curve.observed_min, "lowest funding observed"))
        upper.append((curve.observed_max, "highest funding observed"))
    if bounds is not None and bounds.no_decrease:
        lower.append((current, "no_decrease (current funding)"))
    lo, lo_why = max(lower, key=lambda item: item[0])
    hi, hi_why = min(upper, key=lambda item: item[0])
    if lo_why is _CHANGE_BELOW:  # worded only where it sets the limit
        lo_why = f"max_change {constraints.max_change:.0%} below current {money(current)}"
    if hi_why is _CHANGE_ABOVE:
        hi_why = f"max_change {constraints.max_change:.0%} above current {money(current)}"
    if lo > hi + 1e-9 * max(1.0, hi):
        conflicts.append(
            f"programme {pid}: lower limit {money(lo)} ({lo_why}) exceeds upper limit {money(hi)} ({hi_why})"
        )
    return lo, lo_why, hi, hi_why, False, conflicts


def _unit_limits(pid: str, unit: DecisionUnit | None, lo: float, lo_why: str, hi: float, hi_why: str,
                 locked: bool) -> tuple[float, str, float, str, float, float, list[str]]:
    """A cell's limits moved onto its decision units: (lo, why, hi, why, step or NaN, viable threshold, conflicts).

    A stepped cell's limits become the first and last whole unit inside them; min_viable either stays a
    threshold (when the cell may be off: its lower limit is 0) or raises the lower limit.
    """
    if unit is None:
        return lo, lo_why, hi, hi_why, math.nan, 0.0, []
    conflicts: list[str] = []
    viable = 0.0
    if unit.min_viable is not None and unit.min_viable > 0:
        if unit.min_viable > hi + 1e-9 * max(1.0, hi):
            conflicts.append(f"programme {pid}: min_viable {money(unit.min_viable)} is above its upper limit "
                             f"{money(hi)} ({hi_why})")
        elif lo > 0 or locked:
            if unit.min_viable > lo:
                lo, lo_why = unit.min_viable, "min_viable (the cell cannot be off)"
        else:
            viable = unit.min_viable
    if unit.step is None:
        return lo, lo_why, hi, hi_why, math.nan, viable, conflicts
    step = unit.step
    if (hi - lo) / step + 1 > MAX_UNIT_LEVELS:
        conflicts.append(f"programme {pid}: step {step:,.2f} cuts its range {money(lo)} to {money(hi)} into more "
                         f"than {MAX_UNIT_LEVELS:,} whole {unit.unit}; use a step of at least "
                         f"{(hi - lo) / (MAX_UNIT_LEVELS - 1):,.2f}")
        return lo, lo_why, hi, hi_why, step, viable, conflicts
    if not locked and step > hi - lo + 1e-9 * max(1.0, hi):
        conflicts.append(f"programme {pid}: step {money(step)} (one {unit.unit}) is larger than its range "
                         f"{money(lo)} ({lo_why}) to {money(hi)} ({hi_why})")
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    if viable > 0:
        viable = math.ceil(viable / step - 1e-9) * step
    if first > last and not conflicts:
        conflicts.append(f"programme {pid}: no whole number of {unit.unit} at {money(step)} each lies between "
                         f"{money(lo)} ({lo_why}) and {money(hi)} ({hi_why})")
    if first > last:
        return lo, lo_why, hi, hi_why, step, viable, conflicts
    if viable > last * step:
        conflicts.append(f"programme {pid}: min_viable rounds up to {money(viable)} (whole {unit.unit}), above its "
                         f"upper limit {money(last * step)}")
    new_lo, new_hi = first * step, last * step
    lo_why = lo_why if abs(new_lo - lo) <= 1e-9 * max(1.0, lo) else f"{lo_why}, rounded up to whole {unit.unit}"
    hi_why = hi_why if abs(new_hi - hi) <= 1e-9 * max(1.0, hi) else f"{hi_why}, rounded down to whole {unit.unit}"
    return new_lo, lo_why, new_hi, hi_why, step, viable, conflicts


def _resource_rows(resources: Sequence[ResourceLimit], ids: Sequence[str], steps: np.ndarray,
                   hi: np.ndarray) -> tuple[ResourceRow, ...]:
    index = {pid: i for i, pid in enumerate(ids)}
    rows = []
    for resource in resources:
        unknown = sorted((set(resource.per_unit) | set(resource.per_money)) - set(index))
        if unknown:
            raise ValueError(f"resource {resource.name} names unknown programme(s): {', '.join(unknown)}")
        usage = np.zeros(len(ids))
        for pid, amount in resource.per_money.items():
            usage[index[pid]] += amount
        for pid, amount in resource.per_unit.items():
            step = steps[index[pid]]
            if not math.isfinite(step):
                raise ValueError(f"resource {resource.name}: per_unit usage given for programme {pid}, which has "
                                 "no step (give it a step or use per_money)")
            usage[index[pid]] += amount / step
        usage.flags.writeable = False
        scale = max(abs(resource.available), float(np.max(np.abs(usage) * hi)), 1e-12)
        rows.append(ResourceRow(resource.name, usage, resource.available, scale))
    return tuple(rows)


def build_problem(curves: Sequence[OutcomeCurve], constraints: Constraints, objective: Objective) -> Problem:
    """Validate inputs and compile them; per-programme contradictions are kept for the feasibility report."""
    if not curves:
        raise ValueError("at least one outcome curve is needed")
    ordered = tuple(sorted(curves, key=lambda c: c.program_id))
    ids = [c.program_id for c in ordered]
    duplicates = sorted(pid for pid, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate program_id(s): {', '.join(duplicates)}")
    unknown = sorted(set(constraints.programs) - set(ids))
    if unknown:
        raise ValueError(f"bounds given for unknown programme(s): {', '.join(unknown)}")
    unknown = sorted(set(constraints.units) - set(ids))
    if unknown:
        raise ValueError(f"decision units given for unknown programme(s): {', '.join(unknown)}")

    scores = tuple(objective.score_grid(c) for c in ordered)
    limits = []
    for curve in ordered:
        lo, lo_why, hi, hi_why, locked, conflicts = _program_limits(curve, constraints)
        unit = constraints.units.get(curve.program_id)
        lo, lo_why, hi, hi_why, step, viable, more = _unit_limits(curve.program_id, unit, lo, lo_why, hi, hi_why,
                                                                   locked)
        label = "unit" if unit is None else unit.unit
        limits.append((lo, lo_why, hi, hi_why, locked, conflicts + more, step, viable, label))
    budget = constraints.budget
    groups = []
    for share in constraints.groups:
        members = np.array([c.groups.get(share.column) == share.value for c in ordered], dtype=bool)
        groups.append(
            GroupRow(
                label=share.label,
                column=share.column,
                value=share.value,
                members=members,
                floor=_share_of(share.min_share, budget),
                cap=_share_of(share.max_share, budget),
                min_share=share.min_share,
                max_share=share.max_share,
            )
        )
    problem = Problem(
        curves=ordered,
        knots=tuple(c.funding for c in ordered),
        scores=scores,
        lo=np.array([item[0] for item in limits], dtype=float),
        hi=np.array([max(item[0], item[2]) for item in limits], dtype=float),
        lo_source=tuple(item[1] for item in limits),
        hi_source=tuple(item[3] for item in limits),
        locked=np.array([item[4] for item in limits], dtype=bool),
        budget=budget,
        mode=constraints.budget_mode,
        groups=tuple(groups),
        constraints=constraints,
        objective=objective,
        program_conflicts=tuple(msg for item in limits for msg in item[5]),
        unit_step=np.array([item[6] for item in limits], dtype=float),
        unit_label=tuple(item[8] for item in limits),
        viable=np.array([item[7] for item in limits], dtype=float),
        resources=(),
    )
    if constraints.resources:
        rows = _resource_rows(constraints.resources, problem.ids, problem.unit_step, problem.hi)
        problem = dataclasses.replace(problem, resources=rows)
    return problem
