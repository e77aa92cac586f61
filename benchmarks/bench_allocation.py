"""Solver timings: 50 programmes with every divisible-money rule, and clinic x category cells (64 to 4,096)
with every rule kind including whole units, min_viable and staff-hour rows (prints figures; asserts nothing).

Run: .venv/bin/python benchmarks/bench_allocation.py [--sizes 50,64,256,1024,4096] [--repeats 3]
"core" is the time optimize() spends finding and certifying the plan (DP + repair + polish + envelope
bound, or the mixed-integer programme and envelope bound, as reported in result.solver.seconds); "full" adds the
explanations, baselines and the budget curve (four extra re-solves). For the cell sizes, "loss" compares with an
independent mixed-integer formulation (`benchmarks/unit_reference.py`) as a share of the achievable uplift (the
reference's value minus the plan-all-at-lower-limits value).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from unit_reference import solve_reference  # a sibling script: benchmarks/ is the script folder on sys.path

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.objectives import Objective
from allocation.problem import build_problem
from allocation.result import AllocationResult
from allocation.solver import optimize
from allocation.units import DecisionUnit, ResourceLimit

PROGRAMMES = 50
REPEATS = 30


def make_curves(seed: int, programmes: int = PROGRAMMES) -> list[OutcomeCurve]:
    """A third S-shaped, a third step-shaped (tree-like), a third concave; 25-point grids over 0..2x current."""
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(programmes):
        current = float(rng.uniform(50_000, 150_000))
        funding = np.linspace(0.0, 2.0 * current, 25)
        if i % 3 == 0:
            midpoint, width = rng.uniform(0.5, 1.5) * current, 0.15 * current
            ri = rng.uniform(20, 80) / (1 + np.exp(-(funding - midpoint) / width))
        elif i % 3 == 1:
            ri = rng.uniform(20, 80) * (1 - np.exp(-funding / current))
        else:
            ri = sum(rng.uniform(5, 20) * (funding >= at) for at in np.sort(rng.uniform(0, 2 * current, 4)))
        ri = np.asarray(ri, dtype=float)
        curves.append(
            OutcomeCurve(
                program_id=f"prog-{i:02d}",
                funding=funding,
                metrics={
                    "reliable_improvements": ri,
                    "reliable_improvements_lower": 0.8 * ri,
                    "reliable_improvements_upper": 1.2 * ri,
                    "dropouts": 30.0 - 0.1 * ri,
                },
                current_funding=current,
                observed_min=0.6 * current,
                observed_max=1.4 * current,
                referrals=float(rng.uniform(10, 100)),
                groups={"region": ("rural", "urban", "remote")[i % 3], "modality": ("tele", "in_person")[i % 2]},
            )
        )
    return curves


def make_constraints(curves: list[OutcomeCurve], *, two_columns: bool, mode: str = "exact") -> Constraints:
    budget = sum(c.current_funding for c in curves)
    groups = [
        GroupShare("region", "rural", min_share=0.30),
        GroupShare("region", "urban", max_share=0.40),
        GroupShare("region", "remote", min_share=0.20, max_share=0.35),
    ]
    if two_columns:
        groups.append(GroupShare("modality", "tele", min_share=0.45))
    return Constraints(
        budget=budget,
        budget_mode="exact" if mode == "exact" else "at_most",
        max_change=0.5,
        programs={
            "prog-00": ProgramBounds(locked=True),
            "prog-01": ProgramBounds(no_decrease=True),
            "prog-02": ProgramBounds(min=60_000.0, max=200_000.0),
            "prog-03": ProgramBounds(max=90_000.0),
        },
        groups=tuple(groups),
        within_observed_range=True,
    )


CATEGORIES = ("staffing", "training", "technology", "marketing")
HOURS_PER_FTE = 1_600.0
HOURS_PER_COHORT = 120.0  # therapist hours a training cohort takes out of clinic time
IT_HOURS_PER_MONEY = 0.01  # IT-support hours per unit of technology money, shared across the network


def make_cells(cells: int, seed: int) -> tuple[list[OutcomeCurve], Constraints]:
    """Clinics x 4 budget categories with every rule kind: whole FTEs (a clinic's loaded salary: a sixth of its
    current staffing money) and training cohorts (a tenth), off-or-viable technology (min_viable 80 % of current),
    therapist hours per clinic (per unit) and network IT-support hours (per money), +-50 % change limits on staffing
    and marketing, a locked and a no-decrease cell, tier and category shares (two grouping columns), at most the
    budget."""
    clinics = cells // len(CATEGORIES)
    curves = make_curves(seed, clinics * len(CATEGORIES))
    cells_out: list[OutcomeCurve] = []
    units: dict[str, DecisionUnit] = {}
    programs: dict[str, ProgramBounds] = {}
    hours: list[ResourceLimit] = []
    it_hours: dict[str, float] = {}
    it_current = 0.0
    for i, curve in enumerate(curves):
        clinic, category = divmod(i, len(CATEGORIES))
        name, kind = f"K{clinic:04d}", CATEGORIES[category]
        pid = f"{name}-{kind}"
        current = curve.current_funding
        cells_out.append(OutcomeCurve(pid, curve.funding, curve.metrics, current, curve.observed_min,
                                      curve.observed_max, curve.referrals,
                                      groups={"clinic": name, "category": kind, "tier": ("A", "B", "C")[clinic % 3]}))
        if kind in ("staffing", "marketing"):
            programs[pid] = ProgramBounds(min=0.5 * current, max=1.5 * current)
        if kind == "staffing":
            units[pid] = DecisionUnit(step=round(current / 6, -2), unit="FTE")
            staffing = pid
        elif kind == "training":
            units[pid] = DecisionUnit(step=round(current / 10, -2), unit="cohort")
            available = 1.05 * (6 * HOURS_PER_FTE + 10 * HOURS_PER_COHORT)
            hours.append(ResourceLimit(f"therapist-hours-{name}", available=available,
                                       per_unit={staffing: HOURS_PER_FTE, pid: HOURS_PER_COHORT}))
        elif kind == "technology":
            units[pid] = DecisionUnit(min_viable=0.8 * current, unit="licence")
            it_hours[pid] = IT_HOURS_PER_MONEY
            it_current += current
    it = ResourceLimit("it-support-hours", available=0.9 * IT_HOURS_PER_MONEY * it_current, per_money=it_hours)
    programs[cells_out[3].program_id] = ProgramBounds(locked=True)
    programs[cells_out[7].program_id] = ProgramBounds(no_decrease=True)
    constraints = Constraints(
        budget=sum(c.current_funding for c in cells_out), budget_mode="at_most", units=units,
        resources=(*hours, it), programs=programs,
        groups=(GroupShare("tier", "A", min_share=0.36), GroupShare("tier", "C", max_share=0.30),
                GroupShare("category", "marketing", max_share=0.22)),
    )
    return cells_out, constraints


def run_cells(cells: int, repeats: int) -> None:
    core: list[float] = []
    full: list[float] = []
    reference_times: list[float] = []
    losses: list[float] = []
    statuses: list[str] = []
    for seed in range(repeats):
        curves, constraints = make_cells(cells, seed)
        started = time.perf_counter()
        result = optimize(curves, constraints)
        full.append(1000 * (time.perf_counter() - started))
        core.append(1000 * result.solver.seconds)
        reference = solve_reference(curves, constraints)
        floor = build_problem(curves, constraints, Objective())
        at_lower = floor.value(floor.lo)
        if reference is None:
            statuses.append("reference found no plan")
            continue
        reference_times.append(1000 * reference.seconds)
        uplift = max(reference.value - at_lower, 1e-12)
        losses.append((reference.value - result.objective_value) / uplift)
        gap = result.optimality_gap
        statuses.append(f"exact={gap.reference_exact} bound_gap={gap.bound_relative:.1e} "
                        f"reference_proven={reference.proven_optimal}")
    units = sum(1 for c in curves if constraints.units.get(c.program_id) and constraints.units[c.program_id].step)
    print(f"{cells} clinic x category cells ({units} in whole units, {len(constraints.resources)} resource rows, "
          f"3 shares on 2 columns, at_most budget), {repeats} seeds")
    print(f"  core solve   median {statistics.median(core):8.1f} ms   max {max(core):8.1f} ms")
    print(f"  full result  median {statistics.median(full):8.1f} ms   max {max(full):8.1f} ms")
    if reference_times:
        print(f"  reference    median {statistics.median(reference_times):8.1f} ms")
        print(f"  loss vs reference (share of uplift): max {max(losses):.2e}  median {statistics.median(losses):.2e}")
    for status in statuses:
        print(f"    {status}")


def run(label: str, *, two_columns: bool, mode: str = "exact") -> None:
    core: list[float] = []
    full: list[float] = []
    last: AllocationResult | None = None
    for repeat in range(REPEATS):
        curves = make_curves(seed=repeat % 5)
        constraints = make_constraints(curves, two_columns=two_columns, mode=mode)
        started = time.perf_counter()
        last = optimize(curves, constraints)
        full.append(1000 * (time.perf_counter() - started))
        core.append(1000 * last.solver.seconds)
    assert last is not None

    def p95(values: list[float]) -> float:
        return float(np.percentile(values, 95))

    gap = last.optimality_gap
    print(f"{label}")
    print(f"  core solve   median {statistics.median(core):7.1f} ms   p95 {p95(core):7.1f} ms")
    print(f"  full result  median {statistics.median(full):7.1f} ms   p95 {p95(full):7.1f} ms")
    bound = "n/a" if gap.bound_relative is None else f"{gap.bound_relative:.2e}"
    print(
        f"  last run: method={last.solver.method} grid_step={last.solver.grid_step:,.0f} "
        f"gap_vs_dp={gap.relative:.2e} gap_vs_envelope_bound={bound} reference_exact={gap.reference_exact}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,64,256,1024,4096",
                        help="comma-separated sizes; 50 runs the divisible-money programmes, others clinic x "
                             "category cells")
    parser.add_argument("--repeats", type=int, default=3, help="seeded problems per cell size (medians over them)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if PROGRAMMES in sizes:
        print(f"{PROGRAMMES} programmes, {REPEATS} runs each (5 seeded curve sets), numpy {np.__version__}")
        run("exact budget, locked/no_decrease/min/max, max_change 50%, observed range, 3 region shares",
            two_columns=False)
        run("same + a modality share (second grouping column)", two_columns=True)
        run("same as first, budget_mode=at_most", two_columns=False, mode="at_most")
    for size in sizes:
        if size != PROGRAMMES:
            run_cells(size, args.repeats)


if __name__ == "__main__":
    main()
