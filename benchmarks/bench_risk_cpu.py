"""CPU per `POST /v1/patients/risk` request, in process (prints figures; asserts nothing).

Run: .venv/bin/python benchmarks/bench_risk_cpu.py [--workdir DIR] [--repeats 200] [--profile [--verbose]]
The service is one process and this work holds the GIL, so CPU per request bounds the latency 8 concurrent
clients see (bench_service.py): at 2 cores a 1-episode request must stay within a few ms of CPU. CPU time
(`time.process_time`, all threads of this process) rather than wall time, so other work on the machine barely
moves the figures; each figure is the median over many requests.

Same world and model parameters as bench_service.py (50 programmes, ~30,000 episodes, default parameters); the
bundle is pickled and unpickled like a registry load and cached in the work dir (`bundle.pkl`) for later runs.
It is served by `create_app` (lifespan, audit store, keys, one LightGBM thread as serving/registry.py sets)
through httpx's ASGI transport on this thread's event loop, so no socket or HTTP parsing is counted. Figures:
the whole request (middleware, audit rows, auth, validation, scoring, response), `serving.risk.score` alone,
`GET /healthz` as the floor every request pays before any route work, and with `--profile` where the time of a
request goes (cProfile, cumulative per stage; it inflates Python-heavy stages, so read proportions).
Outside a main checkout (a git worktree), put the checkout first: PYTHONPATH=. .venv/bin/python benchmarks/...
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pickle
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_service import world

EPISODE_COUNTS = (1, 100)
STAGES = (  # (label, end of the file path, function): cumulative profile time of each, per request; stages of
    # earlier code paths are kept so the figures of an older checkout can be compared (absent ones are left out)
    ("whole request (middleware and all inside)", "serving/middleware.py", "__call__"),
    ("  audit row written before", "serving/audit.py", "begin"),
    ("  audit row completed after", "serving/audit.py", "finish"),
    ("  strict-JSON check of the body", "serving/middleware.py", "json_problem"),
    ("  metrics and access log", "serving/middleware.py", "_record"),
    ("  FastAPI: body JSON parse", "starlette/requests.py", "json"),
    ("  FastAPI: dependencies and body validation", "fastapi/dependencies/utils.py", "solve_dependencies"),
    ("    of which auth (key, rate limit, role)", "serving/security.py", "authorize"),
    ("  FastAPI: response validation and JSON", "fastapi/routing.py", "serialize_response"),
    ("  route: serving.risk.score", "serving/risk.py", "score"),
    ("    request bodies -> columns", "serving/risk.py", "episodes_columns"),
    ("    bundle.feature_columns", "models/bundle.py", "feature_columns"),
    ("      features.build.episode_columns", "features/build.py", "episode_columns"),
    ("    unseen-category check", "usecases/risk.py", "unseen_categories"),
    ("    risk and SHAP in one pass, both models", "models/scoring.py", "probability_and_contributions"),
    ("    booster matrix, all calls", "models/classifier.py", "feature_matrix"),
    ("    SHAP contributions, all calls", "models/classifier.py", "contributions"),
    ("    LightGBM Booster.predict, all calls", "lightgbm/basic.py", "__inner_predict_np2d"),
    ("    top factors in words, both models", "models/explain.py", "top_factors"),
    ("    response objects", "serving/risk.py", "_factors"),
)


def bundle_in(root: Path) -> Any:
    """The trained bundle as the service would load it (a pickle round trip, so no per-process memo survives)."""
    cached = root / "bundle.pkl"
    if not cached.is_file():
        from models.bundle import make_bundle
        from models.forecast import build_forecaster
        from models.suite import fit_suite

        programs, episodes = world()
        started = time.perf_counter()
        suite = fit_suite(programs, episodes, seed=0)
        forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach)
        bundle = make_bundle(forecaster, suite, programs, episodes)
        print(f"trained on {len(episodes):,} episodes in {time.perf_counter() - started:.0f} s", flush=True)
        cached.write_bytes(pickle.dumps(bundle))
    bundle = pickle.loads(cached.read_bytes())
    bundle.limit_threads(1)  # as serving/registry.py does
    return bundle


def episode_rows(count: int) -> list[dict[str, Any]]:
    import json

    _, episodes = world()
    sample = episodes.head(count).drop(columns=["final_score", "dropped_out", "sessions_attended", "satisfaction"])
    rows: list[dict[str, Any]] = json.loads(sample.to_json(orient="records"))
    return rows


def cpu_ms(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, 10th percentile) CPU ms per call over `repeats` calls, after a few warm-up calls."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        call()
        samples.append((time.process_time() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[len(samples) // 10]


def inline_threads() -> None:
    """Run the work FastAPI and the middleware hand to worker threads on the calling thread instead, so one
    cProfile sees all of a request (3.11's profiler watches one thread). Profiling only."""
    import anyio.to_thread

    async def run_sync(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


def stage_table(stats: pstats.Stats, requests: int) -> str:
    """Cumulative ms per request of the stages in STAGES (functions missing from the profile are left out).
    cProfile inflates Python-heavy stages against C ones, so read proportions, not absolute figures."""
    found: dict[tuple[str, str], float] = {}
    for (path, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for _, suffix, function in STAGES:
            if name == function and path.endswith(suffix):
                found[(suffix, function)] = found.get((suffix, function), 0.0) + cumulative
    lines = [f"{label:48s} {found[(suffix, function)] * 1000 / requests:8.2f}"
             for label, suffix, function in STAGES if (suffix, function) in found]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=None, help="Reuse the bundle trained by an earlier run.")
    parser.add_argument("--repeats", type=int, default=200, help="Requests per figure (the median is printed).")
    parser.add_argument("--profile", action="store_true", help="Also print where one request's time goes.")
    parser.add_argument("--verbose", action="store_true", help="With --profile: the top of the raw profile too.")
    args = parser.parse_args()
    root = (args.workdir or Path(tempfile.mkdtemp(prefix="carealloc-risk-cpu-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if args.profile:
        inline_threads()

    import asyncio

    import httpx

    from serving import risk
    from serving.app import create_app
    from serving.keys import new_key
    from serving.schemas import RiskCreate
    from serving.settings import ServiceSettings
    from serving.state import LoadedBundle

    bundle = bundle_in(root)
    started = time.process_time()
    loaded = LoadedBundle(bundle, "bench", "carealloc", "provided", ("champion",)).prepared()
    print(f"scorer and curves after load (look-ups, SHAP tables checked against LightGBM, compiled loop): "
          f"{(time.process_time() - started) * 1000:.0f} ms CPU, once per load")
    key, record = new_key("clinician")
    settings = ServiceSettings(data_dir=root, api_keys=(record,), audit_url=f"sqlite:///{root / 'audit.db'}",
                               tracking_uri="sqlite:///unused.db", log_level="WARNING",
                               rate_limit_per_minute=1_000_000, rate_limit_burst=100_000)
    app = create_app(settings, loader=lambda *, allow_cache: loaded)
    print(f"{len(bundle.programs)} programmes, {bundle.suite.dropout.booster_.num_trees()} trees per model, "
          f"median of {args.repeats} calls, CPU ms per call (10th percentile in brackets)")
    print(f"{'episodes':>8s} {'whole request':>16s} {'risk.score':>14s}")
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                               headers={"X-API-Key": key})
    try:
        def health() -> None:
            assert loop.run_until_complete(client.get("/healthz")).status_code == 200

        floor, floor_low = cpu_ms(health, args.repeats)
        print(f"{'healthz':>8s} {floor:8.2f} ({floor_low:5.2f}) {'':14s} the floor of any request: middleware, "
              "audit rows, routing, client")
        for count in EPISODE_COUNTS:
            body = {"episodes": episode_rows(count)}
            request = RiskCreate.model_validate(body)

            def post(body: dict[str, Any] = body) -> None:
                response = loop.run_until_complete(client.post("/v1/patients/risk", json=body))
                assert response.status_code == 200, response.text

            def scored(request: RiskCreate = request) -> None:
                risk.score(loaded, request)

            repeats = args.repeats if count == 1 else max(20, args.repeats // 5)
            whole, whole_low = cpu_ms(post, repeats)
            alone, alone_low = cpu_ms(scored, repeats)
            print(f"{count:8d} {whole:8.2f} ({whole_low:5.2f}) {alone:7.2f} ({alone_low:5.2f})", flush=True)
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(20):
                    post()
                profile.disable()
                text = io.StringIO()
                stats = pstats.Stats(profile, stream=text)
                print(f"--- profiled ms per request with {count} episode(s) (cProfile, 20 requests) ---")
                print(stage_table(stats, 20))
                if args.verbose:
                    stats.sort_stats("cumulative").print_stats(80)
                    print(text.getvalue())
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()

if __name__ == "__main__":
    main()
