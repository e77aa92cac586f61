"""How soon the allocator page is usable, in Debian's headless Chromium against a real uvicorn (prints figures).

Run: .venv/bin/python benchmarks/bench_pages.py [--programmes 24,1024] [--repeats 3] [--max-episodes 400000]

For each size, a mental-health world with that many programmes (the preset's modality parameters; 24 is the demo's
size, 1,024 the issue's cell count) and the demo's ~2,100 episodes per programme up to --max-episodes, models
fitted with the default parameters, served by `create_app` exactly as `carealloc serve` serves a champion.
A signed-in allocator then, per repeat:
- opens /pages/allocator: "ready" is the time from navigation to the form being usable (the model line written and
  one bounds row per programme), by the page's own clock (performance.now());
- presses Recommend: "result" is the time from the press to the table, the key figures and both charts drawn;
  "server" is the part of it spent waiting for POST /v1/recommendations (its Resource Timing), so "result" minus
  "server" is the page's own work; "curves" is the time until the outcome curves (up to 100 programmes, one more
  request) are drawn too.
Targets (issue 18): interactive within 1 s for 24 programmes and 2 s for 1,024 cells. Medians over the repeats.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POLL = 0.01  # seconds between checks of the page: well under the figures measured


def bundle_for(programmes: int, episodes: int) -> Any:
    from models.bundle import make_bundle
    from models.forecast import build_forecaster
    from models.suite import fit_suite
    from synthetic import presets
    from synthetic.plan import build_plan
    from synthetic.simulate import simulate_episodes

    name = f"bench-pages-{programmes}"
    presets.PRESETS[name] = dataclasses.replace(presets.MENTAL_HEALTH, name=name, n_programs=programmes)
    started = time.perf_counter()
    programs, episodes = simulate_episodes(build_plan(name, episodes, seed=5))
    suite = fit_suite(programs, episodes, seed=0)
    forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach)
    bundle = make_bundle(forecaster, suite, programs, episodes)
    print(f"{programmes:,} programmes: {len(episodes):,} episodes simulated and fitted in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return bundle


@contextmanager
def serving(bundle: Any, folder: Path) -> Iterator[tuple[str, str]]:
    """(base URL, allocator key) of a uvicorn on a free loopback port, serving `bundle` as the champion."""
    import uvicorn

    from serving.app import create_app
    from serving.keys import new_key
    from serving.settings import ServiceSettings
    from serving.state import LoadedBundle

    key, record = new_key("allocator")
    settings = ServiceSettings(data_dir=folder, api_keys=(record,), audit_url=f"sqlite:///{folder / 'audit.db'}",
                               tracking_uri=f"sqlite:///{folder / 'unused.db'}", log_level="WARNING")
    loaded = LoadedBundle(bundle, "1", "carealloc", "provided", ("champion",))
    app = create_app(settings, loader=lambda *, allow_cache: loaded)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", key
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


def until(driver: Any, script: str, timeout: float = 120) -> float:
    """performance.now() when `script` (a JS expression) first holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.execute_script(f"return ({script}) ? performance.now() : null")
        if found is not None:
            return float(found)
        time.sleep(POLL)
    raise TimeoutError(script)


def measure(driver: Any, base: str, programmes: int) -> dict[str, float]:
    driver.get(f"{base}/pages/allocator")
    ready = until(driver, "document.getElementById('model-line').textContent.includes('current total spend') && "
                          f"document.querySelectorAll('#bounds-table tbody tr').length === {programmes}")
    driver.execute_script("performance.clearResourceTimings(); window.__pressed = performance.now();"
                          "document.getElementById('recommend').click();")
    drawn = until(driver, f"document.querySelectorAll('#allocation-table tbody tr').length === {programmes} && "
                          "document.querySelectorAll('#kpis > *').length > 0 && "
                          f"document.querySelectorAll('#allocation-chart rect.bar-recommended').length === {programmes}"
                          f" && document.querySelectorAll('#moves-chart rect[data-label]').length > 0")
    pressed = float(driver.execute_script("return window.__pressed"))
    curves = until(driver, "document.querySelectorAll('#curves figure.curve polyline.line').length === "
                           f"{min(programmes, 100)}")
    server = driver.execute_script(
        "const e = performance.getEntriesByType('resource').find(r => r.name.endsWith('/v1/recommendations'));"
        "return e ? e.responseEnd - e.startTime : null")
    return {"ready": ready, "result": drawn - pressed, "server": float(server or "nan"), "curves": curves - pressed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programmes", default="24,1024", help="comma-separated programme counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-episodes", type=int, default=400_000, help="largest world simulated (8 quarters)")
    args = parser.parse_args()
    from tests.browser import chromium, sign_in

    rows = []
    for programmes in (int(p) for p in args.programmes.split(",")):
        bundle = bundle_for(programmes, min(2_100 * programmes, args.max_episodes))
        with tempfile.TemporaryDirectory(prefix="bench-pages-") as folder, \
                serving(bundle, Path(folder)) as (base, key), chromium(Path(folder)) as driver:
            sign_in(driver, base, key, "/pages/allocator")
            measure(driver, base, programmes)  # warm: the first request builds the curves
            runs = [measure(driver, base, programmes) for _ in range(args.repeats)]
        median = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
        rows.append((programmes, median, max(r["ready"] for r in runs), max(r["result"] for r in runs)))

    print(f"\nallocator page in headless Chromium, medians of {args.repeats} (ms; max in brackets)")
    print(f"{'programmes':>10} {'ready':>14} {'result':>14} {'of it server':>13} {'page work':>10} {'curves':>8}")
    for programmes, m, ready_max, result_max in rows:
        print(f"{programmes:>10,} {m['ready']:>6.0f} ({ready_max:>5.0f}) {m['result']:>6.0f} ({result_max:>5.0f}) "
              f"{m['server']:>13.0f} {m['result'] - m['server']:>10.0f} {m['curves']:>8.0f}")
    print("targets: interactive within 1,000 ms for 24 programmes and 2,000 ms for 1,024 cells")


if __name__ == "__main__":
    main()
