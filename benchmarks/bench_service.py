"""Latency of the HTTP service under 8 concurrent clients, against a real uvicorn on 127.0.0.1 (prints figures).

Run: .venv/bin/python benchmarks/bench_service.py [--workdir DIR] [--seconds 20] [--compute-workers N]
     [--client raw|httpx]
The world is the mental-health preset widened to 50 programmes (the presets have 24 and 32; the modality
parameters are unchanged), ~30,000 episodes, models fitted with the default parameters and registered as
@champion in an MLflow store inside the work dir (reused on later runs). The service runs in a subprocess via
`serving.run.serve`, loading the champion from that registry exactly as `carealloc serve` would. Only loopback.
Compute workers default to one per core (CAREALLOC_COMPUTE_WORKERS; the figures print the number used); the
per-key rate limit is lifted so that the 8 clients measure latency rather than 429s. The load generator shares
the 2 cores with the service, so by default it is a light one (raw HTTP/1.1 from one asyncio loop); `--client
httpx` runs the earlier 8 httpx threads, which cost ~1.4 ms of CPU per request themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

PROGRAMMES = 50
EPISODES = 30_000
CLIENTS = 8
MODEL_NAME = "carealloc"


def world(programmes: int = PROGRAMMES, episodes: int = EPISODES) -> tuple[Any, Any]:
    from synthetic import presets
    from synthetic.plan import build_plan
    from synthetic.simulate import simulate_episodes

    name = f"bench-{programmes}"
    presets.PRESETS[name] = dataclasses.replace(presets.MENTAL_HEALTH, name=name, n_programs=programmes)
    return simulate_episodes(build_plan(name, episodes, seed=3))


def train_champion(uri: str, root: Path, programmes: int, episodes_wanted: int) -> None:
    import mlflow
    from mlflow import MlflowClient

    from models.bundle import make_bundle
    from models.forecast import build_forecaster
    from models.suite import fit_suite
    from tracking.registry import CareAllocPyfunc, record_digest

    programs, episodes = world(programmes, episodes_wanted)
    started = time.perf_counter()
    suite = fit_suite(programs, episodes, seed=0)
    forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach)
    bundle = make_bundle(forecaster, suite, programs, episodes)
    print(f"trained on {len(episodes):,} episodes, {len(bundle.programs)} programmes in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(bundle),
                                       registered_model_name=MODEL_NAME, pip_requirements=["carealloc"])
    client = MlflowClient(uri, uri)
    record_digest(client, MODEL_NAME, str(info.registered_model_version))  # the service refuses a version without one
    client.set_registered_model_alias(MODEL_NAME, "champion", str(info.registered_model_version))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(root: Path, uri: str, port: int, compute_workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CAREALLOC_DATA_DIR": str(root), "MLFLOW_TRACKING_URI": uri, "CAREALLOC_PORT": str(port),
           "CAREALLOC_HOST": "127.0.0.1", "CAREALLOC_LOG_LEVEL": "WARNING",
           "CAREALLOC_COMPUTE_WORKERS": str(compute_workers),
           # 8 clients measure latency, not the per-key limit (600/min by default would answer most with 429)
           "CAREALLOC_RATE_LIMIT_PER_MINUTE": "1000000", "CAREALLOC_RATE_LIMIT_BURST": "100000"}
    code = "from serving.run import serve; from serving.settings import ServiceSettings; serve(ServiceSettings())"
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parent.parent)


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                ready: dict[str, Any] = response.json()
                return ready
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("service not ready")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a kept-alive connection: (status, body); Content-Length or chunked bodies."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = (line.partition(":") for line in lines[1:] if line)
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, b"".join(chunks)
        chunks.append(chunk[:-2])


def run_raw(base: str, path: str, key: str, body: dict[str, Any], requests: int, seconds: float) -> dict[str, Any]:
    """As `run`, with a load generator that costs the machine little: CLIENTS kept-alive connections driven by one
    asyncio loop writing raw HTTP/1.1 (~0.1 ms of CPU per request, where 8 httpx threads took ~1.4 ms and their
    own GIL), so the figures are the server's rather than the client's. Same requests, same latency clock."""
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))

    async def client(deadline: float) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await _exchange(reader, writer, request)  # warm the connection
            while time.monotonic() < deadline and next(counter, None) is not None:
                started = time.perf_counter()
                try:
                    status, _ = await _exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors.append(type(exc).__name__)
                    return
                elapsed = time.perf_counter() - started
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors.append(str(status))
        finally:
            writer.close()

    async def all_clients() -> float:
        deadline = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(client(deadline) for _ in range(CLIENTS)))
        return time.perf_counter() - started

    wall = asyncio.run(all_clients())
    return _summary(latencies, errors, wall)


def _summary(latencies: list[float], errors: list[str], wall: float) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))] if ms else float("nan")
    return {"n": len(ms), "p50": statistics.median(ms) if ms else float("nan"), "p99": p99,
            "rps": len(ms) / wall, "errors": len(errors), "error_kinds": sorted(set(errors))}


def run(base: str, path: str, key: str, body: dict[str, Any], requests: int, seconds: float) -> dict[str, Any]:
    """`requests` calls (or until `seconds` pass) spread over CLIENTS threads; latencies of 2xx answers."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + seconds
    payload = json.dumps(body).encode()

    def client() -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key, "content-type": "application/json"},
                          timeout=60) as http:
            http.post(path, content=payload)  # warm the connection
            while time.monotonic() < deadline:
                with lock:
                    if next(counter, None) is None:
                        return
                started = time.perf_counter()
                try:
                    response = http.post(path, content=payload)
                    ok = response.status_code == 200
                except httpx.HTTPError as exc:
                    ok, response = False, None
                    errors.append(type(exc).__name__)
                elapsed = time.perf_counter() - started
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    elif response is not None:
                        errors.append(str(response.status_code))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _summary(latencies, errors, time.perf_counter() - started)


def prepare(workdir: Path | None, prefix: str, programmes: int = PROGRAMMES,
            episodes: int = EPISODES) -> tuple[Path, str, dict[str, str]]:
    """The work dir, its MLflow store with a trained @champion (trained on first use) and fresh keys per role."""
    root = (workdir or Path(tempfile.mkdtemp(prefix=prefix))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    if not (root / "mlflow.db").is_file():
        train_champion(uri, root, programmes, episodes)

    from serving.keys import create_demo_keys
    from serving.settings import ServiceSettings

    return root, uri, dict(create_demo_keys(ServiceSettings(data_dir=root)))


def served_inputs(base: str, allocator_key: str, episodes_wanted: int, programmes: int = PROGRAMMES,
                  world_episodes: int = EPISODES) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The service's programmes and contract-form episodes (no outcomes) of those programmes, as JSON rows."""
    programs: list[dict[str, Any]] = httpx.get(f"{base}/v1/programs",
                                               headers={"X-API-Key": allocator_key}).json()["programs"]
    _, episodes = world(programmes, world_episodes)
    sample = episodes[episodes["program_id"].isin([p["program_id"] for p in programs])].head(episodes_wanted)
    rows = json.loads(sample.drop(columns=["final_score", "dropped_out", "sessions_attended", "satisfaction"])
                      .to_json(orient="records"))
    return programs, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=None, help="Reuse a trained champion from an earlier run.")
    parser.add_argument("--seconds", type=float, default=25.0, help="Time cap per scenario.")
    parser.add_argument("--compute-workers", type=int, default=None,
                        help="CAREALLOC_COMPUTE_WORKERS for the service (default: one per core).")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="Load generator: raw HTTP/1.1 on one asyncio loop (default) or 8 httpx threads.")
    parser.add_argument("--programmes", type=int, default=PROGRAMMES,
                        help="Programmes (cells) in the world; 1024 with --episodes 400000 for the cells target.")
    parser.add_argument("--episodes", type=int, default=EPISODES, help="Episodes in the world (8 quarters).")
    args = parser.parse_args()
    root, uri, keys = prepare(args.workdir, f"carealloc-bench-{args.programmes}-", args.programmes, args.episodes)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workers = (os.cpu_count() or 1) if args.compute_workers is None else args.compute_workers
    process = start_service(root, uri, port, workers)
    try:
        ready = wait_ready(base, process)
        programs, rows = served_inputs(base, keys["allocator"], 100, args.programmes, args.episodes)
        budget = sum(p["current_funding"] for p in programs)
        scenarios = [
            (f"POST /v1/recommendations ({len(programs)} programmes)", "/v1/recommendations", keys["allocator"],
             {"budget": budget, "max_change": 0.3, "groups": [{"column": "region", "value": "rural",
                                                              "min_share": 0.1}]}, 160),
            ("POST /v1/patients/risk (1 episode)", "/v1/patients/risk", keys["clinician"],
             {"episodes": rows[:1]}, 800),
            ("POST /v1/patients/risk (100 episodes)", "/v1/patients/risk", keys["clinician"],
             {"episodes": rows[:100]}, 160),
        ]
        print(f"service on {base}: model v{ready['model_version']} ({ready['source']}), {len(programs)} programmes, "
              f"{CLIENTS} concurrent clients ({args.client}), {os.cpu_count()} cores, {workers} compute workers")
        print(f"{'endpoint':44s} {'n':>5s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>7s} {'errors':>6s}")
        total_errors = 0
        for label, path, key, body, count in scenarios:
            result = (run_raw if args.client == "raw" else run)(base, path, key, body, count, args.seconds)
            total_errors += result["errors"]
            kinds = f" {result['error_kinds']}" if result["errors"] else ""
            print(f"{label:44s} {result['n']:5d} {result['p50']:8.1f} {result['p99']:8.1f} {result['rps']:7.1f} "
                  f"{result['errors']:6d}{kinds}", flush=True)
        print(f"total errors: {total_errors}")
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
