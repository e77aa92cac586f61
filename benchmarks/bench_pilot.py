"""Pilot evaluation against the truth (issue 7): bias, spread, 95 % interval coverage and false-positive rate.

Draws many pilots on small synthetic worlds (pilot mode: funding of randomly chosen programmes multiplied from a
chosen period on, so the true effect is known exactly, `synthetic.pilot`). Each pilot is evaluated exactly
as a user's would be (aggregates -> `evaluate_pilot`, controls matched automatically) and the difference-in-
differences estimate of the ITT reliable-improvement rate is compared with the true ATT. Half the pilots change
nothing (factor 1), which gives the false-positive rate. Targets: coverage 93-97 %, false positives <= 5 %.

Beside the method `evaluate_pilot` uses (CR2 errors, Satterthwaite degrees of freedom) the same pilots are scored
with two alternatives, so the choice stays checkable: the same CR2 errors with t(G-2) critical values, and the
restricted wild cluster bootstrap (WCR, Webb six-point weights; its interval is the set of effects its test does
not reject, so it covers the truth exactly when the test at the truth gives p > 0.05). Coverage comes with two
Monte Carlo standard errors: binomial (pilots independent) and clustered by world (pilots of one world share its
programmes).
    python benchmarks/bench_pilot.py [--worlds 8] [--pilots-per-world 30] [--episodes 30000] [--controls auto|all]
                                      [--first-seed 7001] [--rows pilots.csv]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from pilots import PilotSpec, evaluate_pilot
from pilots.estimators import Estimate, difference_in_differences
from synthetic.pilot_runs import simulate_pilot
from synthetic.plan import PilotChange, build_plan
from synthetic.truth import Truth

FACTORS = (1.0, 1.0, 1.5, 2.0)
PILOT_SIZES = (3, 4, 6)
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
"""Webb (2014) six-point weights: with under a dozen clusters Rademacher weights give too few distinct draws."""
BOOTSTRAP_DRAWS = 1999


def programme_changes(aggregates: pd.DataFrame, spec: PilotSpec, pilots: list[str],
                      controls: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ITT rate change, treated flag and post-period episodes per programme, as `evaluate_pilot` pools them.

    Rebuilt here because the bootstrap needs the programme rows, not only the fitted `Estimate`; `main` checks that
    they give the same estimate and standard error as the evaluation.
    """
    programs = [*pilots, *controls]
    rows = aggregates[aggregates["program_id"].isin(programs)]
    phase = np.where(rows["period"].isin(spec.post_periods), "post",
                     np.where(rows["period"].isin(spec.pre_periods), "pre", ""))
    sums = rows.assign(phase=phase)[phase != ""].groupby(["program_id", "phase"])[
        ["episodes", "reliable_improvements"]].sum().unstack("phase").loc[programs]
    rate = sums["reliable_improvements"] / sums["episodes"]
    change = (rate["post"] - rate["pre"]).to_numpy(float)
    return change, np.isin(programs, pilots), sums[("episodes", "post")].to_numpy(float)


def wild_cluster_p(change: np.ndarray, treated: np.ndarray, weight: np.ndarray, value: float,
                   signs: np.ndarray) -> float:
    """WCR p-value of "difference-in-differences == value" (Roodman, MacKinnon, Nielsen & Webb 2019, Stata J 19:4).

    One row per programme, so the wild draws act on the rows of the restricted fit; each draw is refitted and
    studentised with the same CR2 error as the evaluation, and the p-value is the share of |t*| at least |t|.
    `signs` holds one weight per draw (row) and programme (column).
    """
    x = np.column_stack([np.ones(len(change)), treated.astype(float)])
    bread = np.linalg.inv(x.T @ (weight[:, None] * x))
    hat = x @ bread @ x.T * weight[None, :]
    a = (x @ bread)[:, 1] * weight  # estimate = a @ y
    d = a**2 / (1.0 - np.clip(np.diag(hat), 0.0, 1.0 - 1e-12))
    annihilator = np.eye(len(change)) - hat
    beta = bread @ (x.T @ (weight * change))
    t = (beta[1] - value) / np.sqrt(d @ (annihilator @ change) ** 2)
    restricted = change - x @ (beta - bread[:, 1] * (beta[1] - value) / bread[1, 1])  # residuals with beta_1 = value
    draws = signs * restricted[None, :]
    t_star = (draws @ a) / np.sqrt((draws @ annihilator.T) ** 2 @ d)
    return float(np.mean(np.abs(t_star) >= abs(t) - 1e-12))


def clustered_se(values: np.ndarray, groups: np.ndarray) -> float:
    """Standard error of a mean whose observations are correlated within groups (here: pilots of one world)."""
    deviations = pd.Series(values - values.mean()).groupby(groups).sum().to_numpy()
    k = len(deviations)
    if k < 2:
        return float("nan")
    return float(np.sqrt(np.sum(deviations**2) * k / (k - 1)) / len(values))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=8)
    parser.add_argument("--pilots-per-world", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=30_000)
    parser.add_argument("--first-seed", type=int, default=7001)
    parser.add_argument("--controls", choices=("auto", "all"), default="auto")
    parser.add_argument("--start", type=int, default=4, help="index of the first post period (of 8)")
    parser.add_argument("--rows", help="also write one CSV row per pilot here")
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
            inputs = programme_changes(aggregates, spec, result.pilot_programs, result.control_programs)
            rebuilt: Estimate = difference_in_differences(*inputs)
            assert np.isclose(rebuilt.estimate, did.estimate) and np.isclose(rebuilt.std_error, did.std_error)
            signs = WEBB[np.random.default_rng([seed, replicate, 7]).integers(6, size=(BOOTSTRAP_DRAWS, did.clusters))]
            rows.append({"world": seed, "factor": factor, "size": size, "true": true.reliable_improvement_rate,
                         "estimate": did.estimate, "se": did.std_error, "df": did.df, "clusters": did.clusters,
                         "low": did.ci_low, "high": did.ci_high, "p": did.p_value,
                         "wcr_p_truth": wild_cluster_p(*inputs, true.reliable_improvement_rate, signs),
                         "mde": result.power_before.mde, "design_se": result.power_before.std_error})
        print(f"world {seed}: {len(rows)} pilots so far, {time.perf_counter() - started:.0f} s", flush=True)
    frame = pd.DataFrame(rows)
    if args.rows:
        frame.to_csv(args.rows, index=False)
    report(frame, args)
    print(f"total time {time.perf_counter() - started:.0f} s")


def report(frame: pd.DataFrame, args: argparse.Namespace) -> None:
    n = len(frame)
    error = (frame["estimate"] - frame["true"]).to_numpy()
    zero = (frame["factor"] == 1.0).to_numpy()
    world = frame["world"].to_numpy()
    print(f"\npilot evaluation vs truth: {n} pilots on {args.worlds} worlds of ~{args.episodes:,} episodes "
          f"(seeds {args.first_seed}..{args.first_seed + args.worlds - 1}), controls {args.controls}, "
          f"pilot sizes {PILOT_SIZES}, funding factors {sorted(set(FACTORS))}")
    print("estimand: ATT on the ITT reliable-improvement rate (share of episodes), post periods")
    print(f"bias (mean estimate - truth)   {error.mean():+.4f}  (SE {error.std(ddof=1) / np.sqrt(n):.4f})")
    print(f"SD of estimate - truth         {error.std(ddof=1):.4f}")
    rms = float(np.sqrt(np.mean(frame["se"] ** 2)))
    print(f"CR2 standard error             mean {frame['se'].mean():.4f}, root mean square {rms:.4f} "
          f"(rms SE / SD of error {rms / error.std(ddof=1):.3f})")
    t = np.abs(error) / frame["se"].to_numpy()
    methods = {
        "CR2 + Satterthwaite df (used)": t <= stats.t.ppf(0.975, frame["df"]),
        "CR2 + t(G-2)": t <= stats.t.ppf(0.975, frame["clusters"] - 2),
        "wild cluster bootstrap (WCR, Webb)": frame["wcr_p_truth"].to_numpy() > 0.05,
    }
    print(f"\n{'95 % interval':36s} {'coverage':>8s} {'MC SE (iid / by world)':>24s} {'false positives':>18s}")
    for name, covered in methods.items():
        c = covered.astype(float)
        rejected = 1.0 - c[zero]  # at factor 1 the truth is 0, so missing it is a false positive
        print(f"{name:36s} {c.mean():8.3f} {np.sqrt(c.mean() * (1 - c.mean()) / n):11.4f} / "
              f"{clustered_se(c, world):.4f}   {rejected.mean():.3f} ({int(rejected.sum())}/{zero.sum()}) "
              f"SE {clustered_se(rejected, world[zero]):.3f}")
    used = methods["CR2 + Satterthwaite df (used)"]
    for column, label in (("factor", "factor"), ("size", "piloted programmes")):
        for value, part in frame.groupby(column):
            sel = (frame[column] == value).to_numpy()
            print(f"  {label} {value}: coverage {used[sel].mean():.3f}, SD of error {error[sel].std(ddof=1):.4f} vs "
                  f"rms SE {np.sqrt(np.mean(part['se'] ** 2)):.4f}, median df {part['df'].median():.1f}, mean true "
                  f"effect {part['true'].mean():+.4f}, rejections of 0 {np.mean(part['p'] < 0.05):.3f}  "
                  f"(n={sel.sum()})")
    mde = frame["mde"].to_numpy()
    print(f"MDE sanity: design MDE median {np.median(mde):.4f}; its standard error (from pre periods only) median "
          f"{frame['design_se'].median():.4f} vs realised SD of estimate - truth {error.std(ddof=1):.4f}")
    big = ~zero & (np.abs(frame["true"].to_numpy()) >= mde)
    if big.any():
        print(f"  pilots whose true effect >= their design MDE: {big.sum()}, detected "
              f"{np.mean(frame['p'].to_numpy()[big] < 0.05):.3f} (80 % power intended)")


if __name__ == "__main__":
    main()
