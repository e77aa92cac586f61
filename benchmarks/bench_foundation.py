"""Simulate and validate at scale: wall time and peak memory of each stage, printed (issue 2 targets:
simulate 1M episodes < 30 s and < 3 GB; validate 1M episodes < 20 s).

Each stage runs in its own process so its peak resident memory is its own. Usage:
    python benchmarks/bench_foundation.py [--episodes 1000000] [--format parquet|csv]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time


def run_stage(code: str) -> tuple[float, float]:
    """(seconds, peak RSS in GiB) of a fresh Python process running `code` (the process reports its own peak)."""
    report = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + report], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    return seconds, int(done.stdout.split()[-1]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup = (f"from synthetic.plan import build_plan; from synthetic.simulate import simulate_episodes;"
                 f"from features.tables import write_tables;"
                 f"p, e = simulate_episodes(build_plan('mental-health', {args.episodes}, 0));"
                 f"write_tables({folder!r}, p, e, {args.format!r})")
        subprocess.run([sys.executable, "-c", setup], check=True)
        val_s, val_gb = run_stage(f"from features.tables import load_tables; load_tables({folder!r})")
        sim_s, sim_gb = run_stage(
            "from synthetic.plan import build_plan; from synthetic.simulate import simulate_episodes;"
            f"from synthetic.truth import Truth; from features.tables import write_tables;"
            f"plan = build_plan('mental-health', {args.episodes}, 0); p, e = simulate_episodes(plan);"
            f"write_tables({folder!r}, p, e, {args.format!r}); Truth(plan).save({folder!r})")
    print(f"episodes={args.episodes:,} format={args.format}")
    print(f"simulate+write: {sim_s:6.1f} s  peak {sim_gb:5.2f} GiB   (target < 30 s, < 3 GiB)")
    print(f"load+validate:  {val_s:6.1f} s  peak {val_gb:5.2f} GiB   (target < 20 s)")


if __name__ == "__main__":
    main()
