"""The Dask engine at scale: generate a partitioned world, then train on a 2-worker local cluster (printed figures).

Stages and what is printed for each (wall time; peak RSS of the client process and of every worker, sampled
once a second with psutil through `client.run`):
1. `carealloc simulate --partitions K` in a child process (its own peak RSS: generation is bounded per part);
2. opening the dataset: per-part validation, repeated-id check, per-period outcome sums;
3. the temporal-holdout evaluation (fit on earlier periods, score the last two);
4. the fit on all periods and the forecaster, then the bundle's curves (client side).
MLflow logging is left out: it handles the bundle only and does not grow with the episodes.

The projection divides the workers' measured compute time (the task stream, LightGBM's training tasks included)
by the number of partitions, and scales that per-partition cost to a larger cluster; the client-side remainder
(wall time not covered by worker compute) is carried over unchanged. It is a projection from these figures, not
a measurement, and it ignores that LightGBM's data-parallel allreduce grows with the number of workers.

    python benchmarks/bench_dask.py [--episodes 5000000] [--partitions 40] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def worker_rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


class MemorySampler:
    """Peak RSS per worker, sampled in the background while a stage runs."""

    def __init__(self, client: object, every: float = 1.0):
        self.client, self.every = client, every
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(worker_rss).items():  # type: ignore[attr-defined]
                    self.peak[worker] = max(self.peak.get(worker, 0), rss)
            except Exception:  # a worker busy past the timeout is sampled next time
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def compute_seconds(stream: list[dict]) -> float:
    return sum(stop - start for task in stream for action, start, stop in (
        (s["action"], s["start"], s["stop"]) for s in task["startstops"]) if action == "compute")


def client_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, default=40)
    parser.add_argument("--keep", type=Path, default=None, help="Write the world here and keep it.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-dask-")) / "world"

    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("carealloc")), "simulate", "--out", str(folder),
                    "--episodes", str(args.episodes), "--partitions", str(args.partitions)], check=True)
    generate_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"1 generate   {time.perf_counter() - started:8.1f} s  simulate peak RSS {generate_peak:,.0f} MB "
          f"({args.episodes:,} episodes in {args.partitions} parts)", flush=True)

    from distributed import Client, LocalCluster, get_task_stream

    from core.settings import Settings
    from models.bundle import make_bundle
    from training.distributed import LOOPBACK_HTTP, DaskEngine, PartitionedEpisodes

    settings = Settings()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", scheduler_kwargs=LOOPBACK_HTTP) as cluster, Client(cluster) as client:
        total_wall, total_compute = 0.0, 0.0
        results: dict[str, object] = {}

        def stage(label: str, work: object) -> object:
            nonlocal total_wall, total_compute
            began = time.perf_counter()
            with MemorySampler(client) as memory, get_task_stream(client) as stream:
                result = work()  # type: ignore[operator]
            wall = time.perf_counter() - began
            busy = compute_seconds(stream.data)
            total_wall, total_compute = total_wall + wall, total_compute + busy
            workers = ", ".join(f"{rss / 2**20:,.0f}" for rss in memory.peak.values())
            print(f"{label:<12} {wall:8.1f} s  worker compute {busy:8.1f} s  peak RSS workers [{workers}] MB, "
                  f"client {client_peak_mb():,.0f} MB", flush=True)
            return result

        data = stage("2 open", lambda: PartitionedEpisodes.open(folder))
        engine = DaskEngine(client, data, settings.dask_sample_rows)  # type: ignore[arg-type]
        results["holdout"] = stage("3 holdout", lambda: engine.evaluate(None, settings.seed))
        fitted = stage("4 fit", lambda: engine.fit(None, settings.seed))
        suite, forecaster = fitted  # type: ignore[misc]
        stage("5 bundle", lambda: make_bundle(forecaster, suite, data.programs, None,  # type: ignore[attr-defined]
                                              outcomes=data.outcomes))  # type: ignore[attr-defined]
        metrics = results["holdout"]["metrics"]  # type: ignore[index]
        print(f"holdout: response AUC {metrics['response_auc']:.4f}, ECE {metrics['response_ece']:.4f}; "
              f"dropout AUC {metrics['dropout_auc']:.4f}, ECE {metrics['dropout_ece']:.4f}")

        workers = len(client.nthreads())
        per_partition = total_compute / args.partitions
        fixed = max(total_wall - total_compute / workers, 0.0)
        print(f"total {total_wall:.1f} s on {workers} workers; worker compute {total_compute:.1f} s = "
              f"{per_partition:.2f} worker-s per partition of {args.episodes // args.partitions:,} episodes; "
              f"client-side and coordination remainder {fixed:.1f} s")
        for episodes, cluster_workers in ((50_000_000, 16), (50_000_000, 64), (200_000_000, 64)):
            parts = episodes / (args.episodes / args.partitions)
            projected = fixed + per_partition * parts / cluster_workers
            print(f"projection (not measured): {episodes:,} episodes on {cluster_workers} single-thread workers "
                  f"~ {projected / 60:,.1f} min")


if __name__ == "__main__":
    main()
