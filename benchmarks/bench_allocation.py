"""Solver timings for 50 programmes with every constraint type (prints figures; asserts nothing).

Run: .venv/bin/python benchmarks/bench_allocation.py
"core" is the time optimize() spends finding and certifying the plan (DP + repair + polish + envelope
bound, as reported in result.solver.seconds); "full" adds the explanations, baselines and the budget
curve (four extra coarse re-solves).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.result import AllocationResult
from allocation.solver import optimize

PROGRAMMES = 50
REPEATS = 30


def make_curves(seed: int) -> list[OutcomeCurve]:
    """A third S-shaped, a third step-shaped (tree-like), a third concave; 25-point grids over 0..2x current."""
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(PROGRAMMES):
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
    print(f"{PROGRAMMES} programmes, {REPEATS} runs each (5 seeded curve sets), numpy {np.__version__}")
    run("exact budget, locked/no_decrease/min/max, max_change 50%, observed range, 3 region shares", two_columns=False)
    run("same + a modality share (second grouping column)", two_columns=True)
    run("same as first, budget_mode=at_most", two_columns=False, mode="at_most")


if __name__ == "__main__":
    main()
