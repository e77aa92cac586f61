"""Decision quality against the truth on fresh synthetic worlds (issue 4): printed, never asserted.

For each seed: simulate a world the models never saw (~50k episodes), train on its history, recommend with the
budget equal to current spend and every programme within +/-30 % of current funding, and score the
recommendation, the baselines and the oracle with the world's truth.
    python benchmarks/bench_decision_quality.py [--seeds 1001 1002 ...] [--episodes 50000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from synthetic.decision import fresh_world_score

BASELINES = ("equal_split", "proportional_to_referrals", "greedy_cost_per_improvement")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1001, 1002, 1003, 1004, 1005, 1006, 1007])
    parser.add_argument("--episodes", type=int, default=50_000)
    parser.add_argument("--preset", default="mental-health")
    args = parser.parse_args()
    header = f"{'seed':>6} {'sq':>8} {'oracle':>8} {'model':>7} " + " ".join(f"{b[:14]:>14}" for b in BASELINES)
    print(f"share of achievable uplift captured ({args.preset}, {args.episodes:,} episodes per world)")
    print(header)
    captured: dict[str, list[float]] = {"model": [], **{b: [] for b in BASELINES}}
    for seed in args.seeds:
        started = time.perf_counter()
        score = fresh_world_score(seed, args.episodes, args.preset).to_dict()
        model = score["captured_share"]
        captured["model"].append(model)
        cells = []
        for b in BASELINES:
            value = score["baselines_captured_share"].get(b)
            if value is not None:
                captured[b].append(value)
            cells.append(f"{value:14.3f}" if value is not None else f"{'infeasible':>14}")
        print(f"{seed:>6} {score['truth_status_quo']:8.1f} {score['truth_oracle']:8.1f} {model:7.3f} "
              + " ".join(cells) + f"   ({time.perf_counter() - started:.0f} s)")
    print(f"{'median':>6} {'':>8} {'':>8} {statistics.median(captured['model']):7.3f} "
          + " ".join(f"{statistics.median(captured[b]):14.3f}" if captured[b] else f"{'-':>14}" for b in BASELINES))
    print(f"{'min':>6} {'':>8} {'':>8} {min(captured['model']):7.3f} "
          + " ".join(f"{min(captured[b]):14.3f}" if captured[b] else f"{'-':>14}" for b in BASELINES))
    print("targets: model median >= 0.75 and never below 0")


if __name__ == "__main__":
    main()
