"""Load: 16 concurrent clients on the mixed workload for 60 s, then 60 s more with a champion reload halfway, then
60 s more with a reload and the audit store locked for 10 s in the middle (another process holding SQLite's write
lock, as a backup or a stuck export would).

Run: .venv/bin/python benchmarks/bench_load.py [--workdir DIR] [--seconds 60] [--clients 16] [--lock-seconds 10]
Same world, registry and real uvicorn on 127.0.0.1 as benchmarks/bench_service.py (its start-up code is reused).
Each client cycles through recommendations (50 programmes), forecasts (5 programmes x 5 levels) and patient risk
(10 episodes). Before the second phase a copy of the champion is registered as a new version and moved to
@champion; halfway through, a data scientist's key calls POST /v1/admin/reload. Prints p50/p99 per route and every
error (any non-200 answer or transport failure counts; in the third phase a 503 "audit-unavailable" is counted
apart, with its latency, and /healthz is polled every 0.25 s for its slowest answer). Rate limits are raised for
the run: the bench shares one key per role between its clients, which the per-key defaults are not meant for.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from bench_service import MODEL_NAME, free_port, prepare, served_inputs, start_service, wait_ready


def register_copy_as_champion(uri: str) -> str:
    """The champion's bundle logged again as a new version and made @champion (what a retrain would do)."""
    import mlflow
    from mlflow import MlflowClient

    from tracking.registry import CareAllocPyfunc, load_bundle, record_digest

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    current = client.get_model_version_by_alias(MODEL_NAME, "champion")
    bundle = load_bundle(f"models:/{MODEL_NAME}/{current.version}")
    experiment = mlflow.get_experiment_by_name("bench")
    assert experiment is not None
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(bundle),
                                       registered_model_name=MODEL_NAME, pip_requirements=["carealloc"])
    version = str(info.registered_model_version)
    record_digest(client, MODEL_NAME, version)  # the service refuses a version without one
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    return version


def workload(base: str, keys: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    programs, rows = served_inputs(base, keys["allocator"], 10)
    budget = sum(p["current_funding"] for p in programs)
    return [
        ("POST /v1/recommendations", "/v1/recommendations", keys["allocator"],
         {"budget": budget, "max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.1}]}),
        ("POST /v1/forecasts", "/v1/forecasts", keys["allocator"],
         {"programs": [{"program_id": p["program_id"], "multiples": [0.6, 0.8, 1.0, 1.2, 1.4]} for p in programs[:5]]}),
        ("POST /v1/patients/risk", "/v1/patients/risk", keys["clinician"], {"episodes": rows}),
    ]


def phase(base: str, calls: list[tuple[str, str, str, dict[str, Any]]], clients: int, seconds: float,
          reload_key: str | None = None, lock: tuple[Path, float] | None = None,
          ) -> tuple[dict[str, list[float]], list[str], dict[str, Any]]:
    """`lock`: (audit store, seconds) held locked around the phase's middle; refusals land in reload_info."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    refused: list[float] = []
    health: list[float] = []
    versions: dict[str, int] = defaultdict(int)
    guard = threading.Lock()
    deadline = time.monotonic() + seconds
    reload_info: dict[str, Any] = {}

    def client(offset: int) -> None:
        i = offset
        with httpx.Client(base_url=base, timeout=120) as http:
            while time.monotonic() < deadline:
                label, path, key, body = calls[i % len(calls)]
                i += 1
                started = time.perf_counter()
                try:
                    response = http.post(path, json=body, headers={"X-API-Key": key})
                except httpx.HTTPError as exc:
                    with guard:
                        errors.append(f"{label}: {type(exc).__name__}")
                    continue
                elapsed = time.perf_counter() - started
                with guard:
                    if response.status_code == 200:
                        latencies[label].append(elapsed)
                        versions[response.headers.get("carealloc-model-version", "?")] += 1
                    elif lock is not None and response.status_code == 503 and "audit-unavailable" in response.text:
                        refused.append(elapsed)
                    else:
                        errors.append(f"{label}: {response.status_code}")

    def reloader() -> None:
        time.sleep(seconds / 4 if lock is not None else seconds / 2)  # with a lock: before it, not refused by it
        started = time.perf_counter()
        response = httpx.post(f"{base}/v1/admin/reload", headers={"X-API-Key": reload_key or ""}, timeout=300)
        reload_info.update(status=response.status_code, seconds=time.perf_counter() - started,
                           body=response.json())

    def locker(path: Path, held: float) -> None:
        time.sleep(max(0.0, seconds / 2 - held / 2))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(held)
        holder.rollback()
        holder.close()

    def prober() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                http.get("/healthz")
                health.append(time.perf_counter() - started)
                time.sleep(0.25)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    if reload_key is not None:
        threads.append(threading.Thread(target=reloader))
    if lock is not None:
        threads += [threading.Thread(target=locker, args=lock), threading.Thread(target=prober)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reload_info["answers_per_version"] = dict(versions)
    reload_info["refused"] = refused
    reload_info["health"] = health
    return latencies, errors, reload_info


def report(title: str, latencies: dict[str, list[float]], errors: list[str], seconds: float) -> None:
    print(f"\n{title}")
    print(f"{'route':28s} {'n':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>7s}")
    for label in sorted(latencies):
        ms = sorted(x * 1000 for x in latencies[label])
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        print(f"{label:28s} {len(ms):6d} {statistics.median(ms):8.1f} {p99:8.1f} {len(ms) / seconds:7.1f}")
    kinds: dict[str, int] = defaultdict(int)
    for error in errors:
        kinds[error] += 1
    print(f"errors: {len(errors)}" + (f" {dict(kinds)}" if errors else ""), flush=True)


def print_reload(reload_info: dict[str, Any]) -> None:
    body = reload_info.get("body", {})
    print(f"reload: status {reload_info.get('status')} in {reload_info.get('seconds', float('nan')):.1f} s, "
          f"v{body.get('previous_version')} -> v{body.get('model_version')}; answers per model version: "
          f"{reload_info['answers_per_version']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=None, help="Reuse a trained champion from an earlier run.")
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of each phase.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--compute-workers", type=int, default=2)
    parser.add_argument("--lock-seconds", type=float, default=10.0, help="Audit store locked in phase 3.")
    args = parser.parse_args()
    root, uri, keys = prepare(args.workdir, "carealloc-load-")
    os.environ["CAREALLOC_RATE_LIMIT_PER_MINUTE"] = "1000000"
    os.environ["CAREALLOC_RATE_LIMIT_BURST"] = "100000"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_service(root, uri, port, args.compute_workers)
    try:
        ready = wait_ready(base, process)
        calls = workload(base, keys)
        print(f"service on {base}: model v{ready['model_version']}, {args.clients} concurrent clients, "
              f"{os.cpu_count()} cores (shared with other work: figures are indicative)", flush=True)
        latencies, errors, _ = phase(base, calls, args.clients, args.seconds)
        report(f"phase 1: {args.seconds:.0f} s mixed workload", latencies, errors, args.seconds)
        new_version = register_copy_as_champion(uri)
        latencies, errors, reload_info = phase(base, calls, args.clients, args.seconds,
                                               reload_key=keys["data_scientist"])
        report(f"phase 2: {args.seconds:.0f} s mixed workload, @champion moved to v{new_version} and reloaded at "
               f"{args.seconds / 2:.0f} s", latencies, errors, args.seconds)
        print_reload(reload_info)
        new_version = register_copy_as_champion(uri)
        latencies, errors, info = phase(base, calls, args.clients, args.seconds, reload_key=keys["data_scientist"],
                                        lock=(root / "audit.db", args.lock_seconds))
        report(f"phase 3: {args.seconds:.0f} s mixed workload, reload to v{new_version} at {args.seconds / 4:.0f} s "
               f"and the audit store locked for {args.lock_seconds:.0f} s around {args.seconds / 2:.0f} s", latencies,
               errors, args.seconds)
        print_reload(info)
        refused = sorted(x * 1000 for x in info["refused"])
        if refused:
            p99 = refused[min(len(refused) - 1, round(0.99 * (len(refused) - 1)))]
            print(f"503 audit-unavailable during the lock: {len(refused)}, p50 {statistics.median(refused):.1f} ms, "
                  f"p99 {p99:.1f} ms, slowest {refused[-1]:.0f} ms")
        else:
            print("503 audit-unavailable during the lock: none")
        print(f"/healthz during phase 3: {len(info['health'])} probes, slowest {max(info['health']) * 1000:.1f} ms",
              flush=True)
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
