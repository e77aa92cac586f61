"""Pilot evaluation against the truth (issue 7): bias, 95 % interval coverage and false-positive rate, printed.

Draws many pilots on small synthetic worlds (pilot mode: funding of randomly chosen programmes multiplied from a
chosen period on, so the true effect is known exactly, `features.world.pilot`). Each pilot is evaluated exactly
as a user's would be (aggregates -> `evaluate_pilot`, controls matched automatically) and the difference-in-
differences estimate of the ITT reliable-improvement rate is compared with the true ATT. Half the pilots change
nothing (factor 1), which gives the false-positive rate. Targets: coverage 93-97 %, false positives <= 5 %.
    python benchmarks/bench_pilot.py [--worlds 8] [--pilots-per-world 30] [--episodes 30000] [--controls auto|all]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from features.world.plan import PilotChange, build_plan
from features.world.truth import Truth
from pilots import PilotSpec, evaluate_pilot
from pilots.simulation import simulate_pilot

FACTORS = (1.0, 1.0, 1.5, 2.0)
PILOT_SIZES = (3, 4, 6)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=8)
    parser.add_argument("--pilots-per-world", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=30_000)
    parser.add_argument("--first-seed", type=int, default=7001)
    parser.add_argument("--controls", choices=("auto", "all"), default="auto")
    parser.add_argument("--start", type=int, default=4, help="index of the first post period (of 8)")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for world in range(args.worlds):
        seed = args.first_seed + world
        plan = build_plan("mental-health", args.episodes, seed)
        truth = Truth(plan, cohort_size=1500)
        ids = list(plan.programs["program_id"])
        rng = np.random.default_rng([seed, 99])
        for replicate in range(args.pilots_per_world):
            factor = FACTORS[replicate % len(FACTORS)]
            size = PILOT_SIZES[rng.integers(len(PILOT_SIZES))]
            chosen = tuple(sorted(rng.choice(ids, size=size, replace=False).tolist()))
            change = PilotChange(chosen, plan.periods[args.start], factor, replicate=replicate + 1)
            aggregates, true = simulate_pilot(plan, change, truth)
            controls = "auto" if args.controls == "auto" else [p for p in ids if p not in chosen]
            spec = PilotSpec(pilot_programs=list(chosen), pre_periods=list(plan.periods[: args.start]),
                             post_periods=list(plan.periods[args.start:]), controls=controls)
            result = evaluate_pilot(spec, aggregates)
            did = result.effect("reliable_improvement_itt").did
            assert did is not None
            rows.append((factor, true.reliable_improvement_rate, did.estimate, did.ci_low, did.ci_high,
                         did.p_value, result.power_before.mde, did.std_error, result.power_before.std_error,
                         did.clusters))
        print(f"world {seed}: {len(rows)} pilots so far, {time.perf_counter() - started:.0f} s", flush=True)
    a = np.array(rows)
    factor, true, est, low, high, p, mde, se, _, clusters = a.T
    zero = factor == 1.0
    covered = (low <= true) & (true <= high)
    print(f"\npilot evaluation vs truth: {len(a)} pilots on {args.worlds} worlds of ~{args.episodes:,} episodes, "
          f"controls {args.controls}, pilot sizes {PILOT_SIZES}, funding factors {sorted(set(FACTORS))}")
    print("estimand: ATT on the ITT reliable-improvement rate (share of episodes), post periods")
    error = est - true
    print(f"bias (mean estimate - truth)        {error.mean():+.4f}  (SE {error.std() / np.sqrt(len(a)):.4f})")
    print(f"RMSE                                {np.sqrt(np.mean((est - true) ** 2)):.4f}")
    print(f"95 % interval coverage, all         {covered.mean():.3f}  ({covered.sum()}/{len(a)})")
    for f in sorted(set(factor)):
        sel = factor == f
        print(f"  factor {f:.1f}: coverage {covered[sel].mean():.3f}, mean true effect {true[sel].mean():+.4f}, "
              f"mean estimate {est[sel].mean():+.4f}, rejections {np.mean(p[sel] < 0.05):.3f}  (n={sel.sum()})")
    naive = stats.t.ppf(0.975, clusters - 2) * se
    print(f"  for comparison, the same CR2 errors with t(G-2) instead of Satterthwaite df: coverage "
          f"{np.mean(np.abs(est - true) <= naive):.3f}, false positives {np.mean(np.abs(est[zero]) > naive[zero]):.3f}")
    print(f"false-positive rate (true effect 0) {np.mean(p[zero] < 0.05):.3f}  ({int(np.sum(p[zero] < 0.05))}/"
          f"{zero.sum()})")
    print(f"mean SE / SD of errors              {np.mean(se):.4f} / {np.std(est - true):.4f}")
    design_se = np.array([r[8] for r in rows])
    print(f"MDE sanity: design MDE median {np.median(mde):.4f}; its standard error (from pre periods only) median "
          f"{np.median(design_se):.4f} vs realised SD of estimate - truth {np.std(est - true):.4f}")
    big = ~zero & (np.abs(true) >= mde)
    if big.any():
        print(f"  pilots whose true effect >= their design MDE: {big.sum()}, detected {np.mean(p[big] < 0.05):.3f} "
              "(80 % power intended)")
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
