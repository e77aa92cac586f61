"""Training speed and memory at scale, and forecasting speed (issue 3 targets, printed, never asserted).

- Training all models (response, dropout, reach) on N episodes: wall time and peak memory of a fresh process
  (target for 1M episodes: < 120 s, < 6 GB on 2 cores). This is the model fitting itself (fit_suite); the
  full `carealloc train` job also runs the holdout evaluation and logs to MLflow.
- Forecasting one programme's curve over 50 funding levels (target < 20 ms), median of 50: computed live from
  the models, and as served from the bundle's precomputed curves.
    python benchmarks/bench_training.py [--episodes 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

FIT = """
import resource, time
from features.tables import load_tables
from models.suite import fit_suite
t = load_tables({folder!r})
started = time.perf_counter()
suite = fit_suite(t.programs, t.episodes)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

FORECAST = """
import statistics, time
import numpy as np
from features.tables import load_tables
from models.suite import fit_suite
from models.forecast import build_forecaster
from models.bundle import make_bundle
t = load_tables({folder!r})
suite = fit_suite(t.programs, t.episodes)
f = build_forecaster(t.programs, t.episodes, suite.response, suite.dropout, suite.reach)
bundle = make_bundle(f, suite, t.programs, t.episodes)
pid = sorted(f.programs)[0]
levels = f.programs[pid].current_funding * np.linspace(0.5, 1.5, 50)
for curve in (f.curve, bundle.curve):
    times = []
    for _ in range(50):
        started = time.perf_counter()
        curve(pid, levels)
        times.append(time.perf_counter() - started)
    print(statistics.median(times) * 1000, max(times) * 1000)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "carealloc", "simulate", "--out", folder, "--episodes",
                        str(args.episodes), "--seed", "0"], check=True, capture_output=True)
        out = subprocess.run([sys.executable, "-c", FIT.format(folder=folder)], check=True, capture_output=True,
                             text=True).stdout.split()
        print(f"fit response+dropout+reach on {args.episodes:,} episodes: {float(out[0]):.1f} s, "
              f"peak {int(out[1]) / 2**20:.2f} GiB (process incl. loading)   (target < 120 s, < 6 GiB at 1M)")
        small = tempfile.mkdtemp()
        subprocess.run([sys.executable, "-m", "carealloc", "simulate", "--out", small, "--episodes", "50000",
                        "--seed", "0"], check=True, capture_output=True)
        live_med, live_max, served_med, served_max = subprocess.run(
            [sys.executable, "-c", FORECAST.format(folder=small)], check=True, capture_output=True,
            text=True).stdout.split()
        print("one programme's curve over 50 funding levels (target < 20 ms):")
        print(f"  from the models (200-patient mix x 50 levels x 2 boosters): median {float(live_med):.1f} ms, "
              f"max {float(live_max):.1f} ms")
        print(f"  as served (bundle's precomputed curves, interpolated):        median {float(served_med):.2f} ms, "
              f"max {float(served_max):.2f} ms")


if __name__ == "__main__":
    main()
