"""Honest uncertainty against the truth (issue 16): interval coverage, sharpness, calibrated P(beats status quo).

For each regime and seed: simulate a world the models never saw, train as `carealloc train` does (holdout
evaluation calibrates the intervals, then every period is fitted), and score against the world's exact truth:

1. coverage of the 90 % intervals, every programme at 0.5x, 0.7x, 1x, 1.3x and 1.5x its current funding:
   - the expected band against the truth's expected count;
   - the realised band against next-period counts drawn from the world (referrals Poisson around the expected
     referrals times the world's log-normal demand swing, episodes binomial on reach, reliable improvements
     binomial on the truth's rate per episode), `--draws` per programme-level;
   sharpness = median half-width / forecast, per band, at each multiple;
2. reliability of P(plan beats status quo): random constraint sets (budget 0.95-1.05x current spend, max change
   5-50 %, some programmes locked) are optimised; stated probabilities are binned and set beside how often the
   truth says the plan beat the status quo (expected reliable improvements, plan > current funding);
3. the `risk_averse` objective's stated lower bound (sum of programme lower bounds) against the plan's truth.

Seeds 9001.. are reserved for this benchmark: the tests use 11 and below, bench_decision_quality 1001-1007,
tuning and the demo 0-100. Printed, never asserted.
    python benchmarks/bench_uncertainty.py [--regimes smooth,...] [--seeds 9001 9002] [--episodes 20000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from allocation import Constraints, InfeasibleConstraintsError, Objective, ProgramBounds, optimize
from features.contract import validate_tables
from models.bundle import make_bundle
from models.evaluation import evaluate_holdout
from models.forecast import Forecaster, build_forecaster
from models.suite import fit_suite
from synthetic.plan import build_plan
from synthetic.regimes import REGIMES
from synthetic.simulate import simulate_episodes
from synthetic.truth import Truth
from usecases.confidence import probability_beats_status_quo
from usecases.curves import outcome_curves

MULTIPLES = (0.5, 0.7, 1.0, 1.3, 1.5)
DEMAND_SWING = 0.12
"""Log-SD of a period's demand around its trend in `synthetic.plan.build_plan` (the realised next period's)."""
FAST_PARAMS = {"n_estimators": 120, "learning_rate": 0.06, "num_leaves": 15, "min_child_samples": 40}
BINS = np.linspace(0.0, 1.0, 11)


@dataclass
class WorldResult:
    coverage: pd.DataFrame
    plans: pd.DataFrame
    calibration: dict[str, float]




def train_like_carealloc(plan: Any, params: dict[str, Any] | None, seed: int) -> tuple[Forecaster, Any]:
    programs, episodes = validate_tables(*simulate_episodes(plan))
    holdout = evaluate_holdout(programs, episodes, params, seed)
    suite = fit_suite(programs, episodes, params, seed)
    forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach, seed=seed)
    forecaster.intervals = holdout["intervals"]
    return forecaster, make_bundle(forecaster, suite, programs, episodes)


def coverage_rows(forecaster: Forecaster, truth: Truth, rng: np.random.Generator, draws: int) -> pd.DataFrame:
    rows = []
    for pid in truth.program_ids:
        current = truth.current_funding[pid]
        levels = current * np.array(MULTIPLES)
        fc = forecaster.curve(pid, levels)
        true = truth.curve(pid, levels)
        referrals = float(truth.plan.next_referrals[truth.program_ids.index(pid)])
        for j, multiple in enumerate(MULTIPLES):
            expected_episodes = float(true["episodes"].iloc[j])
            expected_ri = float(true["reliable_improvements"].iloc[j])
            reach = min(expected_episodes / max(referrals, 1e-9), 1.0)
            rate = expected_ri / max(expected_episodes, 1e-9)
            realised_referrals = rng.poisson(referrals * np.exp(rng.normal(0.0, DEMAND_SWING, draws)))
            realised_episodes = rng.binomial(realised_referrals, reach)
            realised_ri = rng.binomial(realised_episodes, min(rate, 1.0))
            lo, hi = fc["reliable_improvements_lower"].iloc[j], fc["reliable_improvements_upper"].iloc[j]
            rlo = fc["reliable_improvements_realised_lower"].iloc[j]
            rhi = fc["reliable_improvements_realised_upper"].iloc[j]
            forecast = float(fc["reliable_improvements"].iloc[j])
            rows.append({
                "program_id": pid, "multiple": multiple, "forecast": forecast, "truth": expected_ri,
                "expected_covered": float(lo <= expected_ri <= hi),
                "realised_covered": float(np.mean((realised_ri >= rlo) & (realised_ri <= rhi))),
                "expected_sharpness": (hi - lo) / 2 / max(forecast, 1e-9),
                "realised_sharpness": (rhi - rlo) / 2 / max(forecast, 1e-9),
                "outside": bool(fc["outside_observed_range"].iloc[j]),
            })
    return pd.DataFrame(rows)


def plan_rows(bundle: Any, truth: Truth, rng: np.random.Generator, sets: int,
              budget_range: tuple[float, float]) -> pd.DataFrame:
    curves = outcome_curves(bundle)
    current = {c.program_id: c.current_funding for c in curves}
    status_quo = truth.value(current)
    total = sum(current.values())
    rows = []
    for _ in range(sets):
        locked = {p: ProgramBounds(locked=True) for p in current if rng.random() < 0.2}
        constraints = Constraints(budget=total * rng.uniform(*budget_range), budget_mode="exact",
                                  max_change=float(rng.uniform(0.05, 0.5)), programs=locked)
        for kind in ("reliable_improvements", "risk_averse"):
            try:
                result = optimize(curves, constraints, Objective(kind=kind))
            except InfeasibleConstraintsError:
                continue
            plan = dict(result.allocation)
            lower = sum(float(np.interp(plan[c.program_id], c.funding, c.metrics["reliable_improvements_lower"]))
                        for c in curves)
            value = truth.value(plan)
            rows.append({"objective": kind, "stated": probability_beats_status_quo(curves, plan),
                         "beat": float(value > status_quo), "stated_lower": lower, "truth": value})
    return pd.DataFrame(rows)


def reliability_table(plans: pd.DataFrame) -> pd.DataFrame:
    which = np.clip(np.digitize(plans["stated"], BINS[1:-1]), 0, len(BINS) - 2)
    table = plans.assign(bin=which).groupby("bin").agg(stated=("stated", "mean"), observed=("beat", "mean"),
                                                      plans=("beat", "size")).reset_index()
    table["range"] = [f"{BINS[b]:.1f}-{BINS[b + 1]:.1f}" for b in table["bin"]]
    return table[["range", "plans", "stated", "observed"]]


def run_world(regime: str, preset: str, episodes: int, seed: int, params: dict[str, Any] | None, draws: int,
              sets: int, budget_range: tuple[float, float]) -> WorldResult:
    plan = build_plan(preset, episodes, seed, regime)
    forecaster, bundle = train_like_carealloc(plan, params, seed)
    truth = Truth(plan)
    rng = np.random.default_rng([seed, 16])
    return WorldResult(coverage_rows(forecaster, truth, rng, draws), plan_rows(bundle, truth, rng, sets, budget_range),
                       forecaster.intervals.to_dict())


def print_coverage(regime: str, coverage: pd.DataFrame) -> None:
    print(f"\nregime {regime}: 90 % interval coverage and sharpness (median half-width / forecast)")
    print(f"{'multiple':>8} {'cells':>6} {'outside':>8} {'cover E':>8} {'cover R':>8} {'sharp E':>8} {'sharp R':>8}")
    for multiple, g in coverage.groupby("multiple"):
        print(f"{multiple:8.1f} {len(g):6d} {g['outside'].mean():8.2f} {g['expected_covered'].mean():8.3f} "
              f"{g['realised_covered'].mean():8.3f} {g['expected_sharpness'].median():8.3f} "
              f"{g['realised_sharpness'].median():8.3f}")
    print(f"{'all':>8} {len(coverage):6d} {coverage['outside'].mean():8.2f} "
          f"{coverage['expected_covered'].mean():8.3f} {coverage['realised_covered'].mean():8.3f} "
          f"{coverage['expected_sharpness'].median():8.3f} {coverage['realised_sharpness'].median():8.3f}")


def print_plans(regime: str, plans: pd.DataFrame) -> None:
    for kind, g in plans.groupby("objective"):
        print(f"\nregime {regime}: P(plan beats status quo), objective {kind} ({len(g)} plans)")
        print(reliability_table(g).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    averse = plans[plans["objective"] == "risk_averse"]
    if len(averse):
        held = (averse["truth"] >= averse["stated_lower"]).mean()
        margin = ((averse["truth"] - averse["stated_lower"]) / averse["truth"]).median()
        print(f"risk_averse: truth >= stated lower bound in {held:.3f} of {len(averse)} plans "
              f"(median margin {margin:.1%} of the truth)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", default=",".join(REGIMES), help="comma-separated world regimes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[9001, 9002, 9003])
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--preset", default="mental-health")
    parser.add_argument("--draws", type=int, default=50, help="realised next periods per programme-level")
    parser.add_argument("--constraint-sets", type=int, default=40, help="random constraint sets per world")
    parser.add_argument("--budget-range", type=float, nargs=2, default=[0.95, 1.05],
                        help="budget as a multiple of current spend, drawn uniformly per constraint set")
    parser.add_argument("--default-params", action="store_true",
                        help="train with the project's default LightGBM parameters (slower) instead of FAST_PARAMS")
    args = parser.parse_args()
    params = None if args.default_params else FAST_PARAMS
    for regime in [r.strip() for r in args.regimes.split(",") if r.strip()]:
        coverage, plans = [], []
        for seed in args.seeds:
            started = time.perf_counter()
            result = run_world(regime, args.preset, args.episodes, seed, params, args.draws, args.constraint_sets,
                               tuple(args.budget_range))
            coverage.append(result.coverage)
            plans.append(result.plans)
            c = result.calibration
            print(f"regime {regime} seed {seed}: {c['cells']:.0f} calibration cells, model spread "
                  f"{c['model_spread']:.3f}, demand spread {c['demand_spread']:.3f}, scores "
                  f"[{c['score_low']:.2f}, {c['score_high']:.2f}] ({time.perf_counter() - started:.0f}s)", flush=True)
        print_coverage(regime, pd.concat(coverage, ignore_index=True))
        print_plans(regime, pd.concat(plans, ignore_index=True))


if __name__ == "__main__":
    main()
