"""The pages as a person uses them: Debian's headless Chromium driven by Selenium against a real uvicorn on
127.0.0.1, serving the session's trained bundle. The service sends `Content-Security-Policy: default-src 'self'` on
every response, so an inline script or style would show up as a console error, and every test ends with a console
free of SEVERE entries (apart from the API refusals a test provokes on purpose). Screenshots at 1280 px and at
phone width (390 px) go to test-output/screenshots/."""

from __future__ import annotations

import copy
import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from models.evaluation import reliability_table
from models.suite import targets
from serving.app import create_app
from serving.settings import ServiceSettings
from serving.state import LoadedBundle
from tests.browser import WAIT, chromium, needs_chromium, rows, severe, sign_in, wait

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
SHOWN_METRICS = {"response_auc": 0.6284, "response_ece": 0.0167, "dropout_ece": 0.0122, "holdout_score": 1.23456}
"""Metrics the models page must round, not clip, each to a value it keeps apart from the others."""
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
pytestmark = [pytest.mark.slow, needs_chromium]


def _bundle_with_calibration(trained: Any, small_world: Any) -> LoadedBundle:
    """The session's bundle as v7, with reliability bins on its last two periods (in-sample: only for drawing;
    the training job stores true holdout bins, see tests/training/test_train.py)."""
    suite, _, bundle = trained
    _, programs, episodes = small_world
    copied = copy.copy(bundle)
    copied.model_version = "7"
    copied.metrics = {**copied.metrics, **SHOWN_METRICS}
    last = episodes["period"].isin(sorted(programs["period"].unique())[-2:]).to_numpy()
    from features.build import episode_features

    X = episode_features(programs, episodes).loc[last]
    improved, dropped = targets(episodes[last])
    copied.calibration = {
        "response": reliability_table(improved, suite.response.predict_proba(X)[:, 1]).to_dict("records"),
        "dropout": reliability_table(dropped, suite.dropout.predict_proba(X)[:, 1]).to_dict("records")}
    return LoadedBundle(copied, "7", "carealloc", "provided", ("champion",))


@pytest.fixture(scope="module")
def served_settings(keys: Any, tmp_path_factory: pytest.TempPathFactory) -> ServiceSettings:
    folder = tmp_path_factory.mktemp("pages")
    return ServiceSettings(data_dir=folder, api_keys=tuple(record for _, record in keys.values()),
                           audit_url=f"sqlite:///{folder / 'audit.db'}", tracking_uri="sqlite:///unused.db",
                           mlflow_ui_url="http://127.0.0.1:5000")


@pytest.fixture(scope="module")
def server(trained: Any, small_world: Any, served_settings: ServiceSettings) -> Iterator[str]:
    settings = served_settings
    loaded = _bundle_with_calibration(trained, small_world)
    app = create_app(settings, loader=lambda *, allow_cache: loaded)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uvi = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uvi.run, kwargs={"sockets": [sock]}, name="pages-uvicorn", daemon=True)
    thread.start()
    started = threading.Event()

    def watch() -> None:
        while not uvi.started and thread.is_alive():
            started.wait(0.05)
        started.set()

    threading.Thread(target=watch, daemon=True).start()
    assert started.wait(WAIT) and uvi.started, "uvicorn did not start"
    base = f"http://127.0.0.1:{port}"
    # the service's own policy (serving/headers.py), so an inline script or style is a console error here
    policy = httpx.get(f"{base}/signin", timeout=WAIT).headers["content-security-policy"]
    assert policy.startswith("default-src 'self'"), policy
    yield base
    uvi.should_exit = True
    thread.join(WAIT)
    sock.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path) as driver:
        yield driver


def shoot(driver: WebDriver, name: str) -> None:
    """Full-page screenshots at 1280 px and at phone width, once the charts are redrawn for each width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        driver.set_window_size(width, 900)
        inner = driver.execute_script("return window.innerWidth")
        if driver.find_elements(By.CSS_SELECTOR, "svg"):
            wait(driver).until(lambda d, w=inner: d.execute_script(
                "return document.documentElement.getAttribute('data-charts-width')") == str(w))
        height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 6000)
        driver.set_window_size(width, height + 120)
        if driver.find_elements(By.CSS_SELECTOR, "svg"):
            inner = driver.execute_script("return window.innerWidth")
            wait(driver).until(lambda d, w=inner: d.execute_script(
                "return document.documentElement.getAttribute('data-charts-width')") == str(w))
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(SHOTS / f"{name}-{width}.png"))
    driver.set_window_size(1280, 900)


def test_allocator_recommends_compares_a_scenario_and_sees_field_errors(server: str, browser: WebDriver,
                                                                         keys: Any, trained: Any) -> None:
    browser.get(f"{server}/signin")
    field = wait(browser).until(ec.visibility_of_element_located((By.ID, "api_key")))
    field.send_keys("ca_aaaaaaaaaaaa_not-a-key", Keys.ENTER)
    error = wait(browser).until(ec.visibility_of_element_located((By.ID, "api_key-error")))
    described = browser.find_element(By.ID, "api_key").get_attribute("aria-describedby")
    assert "not valid" in error.text and described.endswith("api_key-error")
    shoot(browser, "signin")
    assert severe(browser, ("status of 401",)) == []  # the refused sign-in itself

    sign_in(browser, server, keys["allocator"][0], "/pages/allocator")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "model-line"), "current total spend"))
    programmes = len(rows(browser, "#bounds-table tbody tr"))
    assert programmes == len(trained[2].programs)
    browser.find_element(By.ID, "add-group").click()
    Select(browser.find_element(By.ID, "group-0-column")).select_by_value("region")
    Select(browser.find_element(By.ID, "group-0-value")).select_by_value("rural")
    browser.find_element(By.ID, "recommend").click()
    wait(browser).until(lambda d: len(rows(d, "#allocation-table tbody tr")) == programmes)
    assert len(rows(browser, "#allocation-chart rect.bar-recommended")) == programmes
    assert "reliable improvements" in browser.find_element(By.ID, "explanation").text
    assert any("floor" in li.text or "limit" in li.text for li in rows(browser, "#explanation li"))
    assert len(rows(browser, "#baselines-table tbody tr")) >= 2
    wait(browser).until(lambda d: len(rows(d, "#curves figure.curve polyline.line")) == programmes)
    assert len(rows(browser, "#curves rect.observed")) == programmes

    first = browser.find_element(By.CSS_SELECTOR, "#scenario-table input")
    moved = round(float(first.get_attribute("value")) * 1.2)
    first.clear()
    first.send_keys(str(moved))
    browser.find_element(By.ID, "compare").click()
    table = wait(browser).until(ec.visibility_of_element_located((By.ID, "comparison-table")))
    plans = {r.get_attribute("data-plan"): r.text for r in rows(browser, "#comparison-table tbody tr")}
    assert set(plans) == {"status_quo", "recommended", "your_scenario"}
    assert plans["your_scenario"] != plans["recommended"]
    assert "Your scenario gives" in table.find_element(By.TAG_NAME, "caption").text
    improvements = {r.get_attribute("data-plan"): float(r.find_elements(By.TAG_NAME, "td")[1].get_attribute(
        "data-sort-value")) for r in rows(browser, "#comparison-table tbody tr")}
    by_improvements = browser.find_element(
        By.XPATH, "//table[@id='comparison-table']//th/button[starts-with(., 'Expected improvements')]")
    by_improvements.click()
    assert [r.get_attribute("data-plan") for r in rows(browser, "#comparison-table tbody tr")] == sorted(
        improvements, key=improvements.__getitem__)
    by_improvements.click()
    assert [r.get_attribute("data-plan") for r in rows(browser, "#comparison-table tbody tr")] == sorted(
        improvements, key=improvements.__getitem__, reverse=True)

    browser.find_element(By.ID, "download-csv").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "download-status"), "Downloaded"))
    browser.execute_script("document.getElementById('download-status').textContent = ''")
    browser.find_element(By.ID, "download-report").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "download-status"), "Downloaded"))
    downloads = Path(browser.capabilities["chrome"]["userDataDir"]).parent / "downloads"
    wait(browser).until(lambda d: any(f.name.endswith("-report.pdf") for f in downloads.glob("*")))
    report = next(f for f in downloads.glob("*") if f.name.endswith("-report.pdf"))
    assert report.read_bytes().startswith(b"%PDF")
    assert severe(browser) == []
    shoot(browser, "allocator")

    change = browser.find_element(By.ID, "max_change")
    change.clear()
    change.send_keys("0")
    browser.find_element(By.ID, "recommend").click()
    message = wait(browser).until(ec.visibility_of_element_located((By.ID, "max_change-error")))
    assert "greater than 0" in message.text and change.get_attribute("aria-invalid") == "true"
    change.clear()
    change.send_keys("1")
    share = browser.find_element(By.ID, "group-0-min_share")
    share.clear()
    share.send_keys("90")
    browser.find_element(By.ID, "recommend").click()
    banner = wait(browser).until(ec.visibility_of_element_located((By.ID, "form-error")))
    assert "no allocation meets all constraints" in banner.text
    assert severe(browser, ("status of 422",)) == []


def _money(x: float) -> str:
    """What the page shows: CA.fmt.money's Math.round (halves up, unlike Python's round) through
    Intl.NumberFormat('en-US', {style: 'currency', currency: 'USD', maximumFractionDigits: 0})."""
    whole = math.floor(x + 0.5)
    return f"{'-' if whole < 0 else ''}${abs(whole):,}"


def test_allocator_dashboard_tiles_match_the_recommendation(server: str, browser: WebDriver, keys: Any) -> None:
    sign_in(browser, server, keys["allocator"][0], "/pages/allocator")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "model-line"), "current total spend"))
    browser.find_element(By.ID, "recommend").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "recommend-status"), "Done"))
    body = browser.execute_async_script(  # the same request again, as JSON, from the page's own session
        "const done = arguments[arguments.length - 1];"
        "CA.api('POST', '/v1/recommendations', Allocator.currentRequest()).then(function (a) { done(a.data); });")
    tiles = {t.get_attribute("data-kpi"): t for t in rows(browser, "#kpis .kpi")}
    assert list(tiles) == ["budget", "plan", "status_quo", "gain", "moved"]

    def value(key: str) -> str:
        return str(tiles[key].find_element(By.CLASS_NAME, "kpi-value").text)

    assert value("budget") == _money(body["budget"]) and "USD" in tiles["budget"].text
    moved = sum(max(0.0, a["change"]) for a in body["allocations"])
    assert moved > 0 and value("moved") == _money(moved)
    for key in ("plan", "status_quo"):
        totals = body["totals"][key]
        assert value(key) == f"{totals['reliable_improvements']:,.1f}"
        assert (f"{totals['reliable_improvements_lower']:,.1f} – {totals['reliable_improvements_upper']:,.1f}"
                in tiles[key].text)
    gain = body["totals"]["plan"]["reliable_improvements"] - body["totals"]["status_quo"]["reliable_improvements"]
    assert value("gain") == f"{gain:+,.1f}"
    first = body["allocations"][0]
    cells = browser.find_elements(By.CSS_SELECTOR, f"#allocation-table tr[data-program='{first['program_id']}'] td")
    assert cells[0].text == _money(first["current_funding"])  # the table's money is in the currency too

    bars = rows(browser, "#moves-chart rect")
    assert len(bars) == len(body["allocations"])  # one bar per programme, largest increase first
    changes = {a["program_id"]: a["change"] for a in body["allocations"]}
    drawn = [b.get_attribute("data-label") for b in bars]
    assert sorted(drawn) == sorted(changes)
    assert [changes[p] for p in drawn] == sorted(changes.values(), reverse=True)
    for bar in bars:
        change = changes[bar.get_attribute("data-label")]
        assert "bar-gain" in bar.get_attribute("class") if change >= 0 else "bar-cut" in bar.get_attribute("class")
        hover = bar.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        assert hover.startswith(f"{bar.get_attribute('data-label')}: ") and _money(abs(change))[1:] in hover
    assert "Change in funding (USD)" in browser.find_element(By.ID, "moves-chart").text
    bars[0].click()  # a tap shows the hover text too
    assert browser.find_element(By.ID, "moves-detail").text == bars[0].find_element(
        By.TAG_NAME, "title").get_attribute("textContent")

    def shown_order() -> list[str]:
        return [r.get_attribute("data-program") for r in rows(browser, "#allocation-table tbody tr")]

    def sort_state() -> dict[str, str]:
        return {th.find_element(By.TAG_NAME, "button").text.rstrip("\xa0 ▲▼↕"): th.get_attribute("aria-sort")
                for th in rows(browser, "#allocation-table thead th[aria-sort]")}

    assert shown_order() == [a["program_id"] for a in body["allocations"]] and sort_state() == {}
    current = {a["program_id"]: a["current_funding"] for a in body["allocations"]}
    by_current = sorted(current, key=lambda p: (current[p], shown_order().index(p)))
    header = browser.find_element(By.XPATH, "//table[@id='allocation-table']//th/button[starts-with(., 'Current')]")
    header.click()
    assert shown_order() == by_current and sort_state() == {"Current": "ascending"}
    header.send_keys(Keys.ENTER)  # the keyboard works the header button too
    assert [current[p] for p in shown_order()] == sorted(current.values(), reverse=True)
    assert sort_state() == {"Current": "descending"}
    change = browser.find_element(By.XPATH, "//table[@id='allocation-table']//th/button[starts-with(., 'Change')]")
    change.send_keys(Keys.SPACE)
    pct = {a["program_id"]: a["change_pct"] for a in body["allocations"]}
    assert [pct[p] for p in shown_order()] == sorted(pct.values())  # numerically: -12.5 % before -3.0 %
    assert sort_state() == {"Change": "ascending"}
    browser.find_element(By.XPATH, "//table[@id='allocation-table']//th/button[starts-with(., 'Programme')]").click()
    assert shown_order() == sorted(current) and sort_state() == {"Programme": "ascending"}

    def baseline_values() -> list[float | None]:
        cells = [r.find_elements(By.TAG_NAME, "td")[0] for r in rows(browser, "#baselines-table tbody tr")]
        return [float(c.get_attribute("data-sort-value")) if c.get_attribute("data-sort-value") else None
                for c in cells]

    scored = [b["objective_value"] for b in body["baselines"] if b["feasible"]] + [body["objective_value"]]
    browser.find_element(By.XPATH, "//table[@id='baselines-table']//th/button[starts-with(., 'Expected')]").click()
    assert [v for v in baseline_values() if v is not None] == sorted(scored)
    browser.find_element(By.XPATH, "//table[@id='baselines-table']//th/button[starts-with(., 'Expected')]").click()
    assert [v for v in baseline_values() if v is not None] == sorted(scored, reverse=True)
    assert rows(browser, "#baselines-table tbody tr")[0].find_element(By.TAG_NAME, "th").text != ""

    timing = browser.execute_script(  # 1,024 programmes, drawn off to the side and removed again
        "const box = document.createElement('div'); box.className = 'chart'; document.body.appendChild(box);"
        "const rows = []; for (let i = 0; i < 1024; i += 1) {"
        "  rows.push({ label: 'P' + i, value: Math.sin(i) * 50000, title: 'P' + i }); }"
        "const start = performance.now();"
        "Charts.divergingBars(box, rows, { label: 'many', axisTitle: 'Change in funding (USD)' });"
        "const took = performance.now() - start; const bars = box.querySelectorAll('rect').length; box.remove();"
        "return { ms: took, bars: bars };")
    print(f"diverging chart of 1,024 bars drawn in {timing['ms']:.1f} ms")
    assert timing["bars"] == 1024
    assert severe(browser) == []
    shoot(browser, "allocator-dashboard")
    browser.set_window_size(390, 900)
    wait(browser).until(lambda d: d.execute_script(
        "return document.documentElement.getAttribute('data-charts-width')") == str(d.execute_script(
            "return window.innerWidth")))
    outside = browser.execute_script(  # past the right edge at phone width, other than inside a scrolling box
        "const edge = document.documentElement.clientWidth;"
        "return Array.from(document.querySelectorAll('#results *, #kpis *')).filter(function (n) {"
        "  return !n.closest('.scroll') && n.getBoundingClientRect().right > edge + 0.5; })"
        ".map(function (n) { return n.tagName + (n.id ? '#' + n.id : '') + '.' + n.getAttribute('class'); });")
    assert outside == []


def test_allocator_funds_a_cell_in_whole_ftes_and_reads_the_plan_by_site(server: str, browser: WebDriver,
                                                                         keys: Any) -> None:
    sign_in(browser, server, keys["allocator"][0], "/pages/allocator")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "model-line"), "current total spend"))
    programs = httpx.get(f"{server}/v1/programs", headers={"X-API-Key": keys["allocator"][0]},
                         timeout=WAIT).json()["programs"]
    first = programs[0]
    salary = round(first["current_funding"] / 6, -3)
    change = browser.find_element(By.ID, "max_change")
    change.clear()
    change.send_keys("50")
    browser.find_element(By.CSS_SELECTOR, "#bounds summary").click()
    browser.find_element(By.ID, f"bound-{first['program_id']}-step").send_keys(str(salary))
    browser.find_element(By.ID, f"bound-{first['program_id']}-unit").send_keys("FTE")
    browser.find_element(By.ID, "recommend").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "recommend-status"), "Done"))
    request = browser.execute_script("return Allocator.currentRequest()")
    assert request["programs"] == {first["program_id"]: {"step": salary, "unit": "FTE"}}
    body = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "CA.api('POST', '/v1/recommendations', Allocator.currentRequest()).then(function (a) { done(a.data); });")
    stepped = next(a for a in body["allocations"] if a["program_id"] == first["program_id"])
    assert stepped["units_label"] == f"{stepped['units']} FTE"
    row = browser.find_element(By.CSS_SELECTOR, f"#allocation-table tr[data-program='{first['program_id']}']")
    assert stepped["units_label"] in row.text

    breakdown = wait(browser).until(ec.visibility_of_element_located((By.ID, "breakdown-table")))
    assert Select(browser.find_element(By.ID, "breakdown-column")).first_selected_option.get_attribute(
        "value") == "site_id"
    site_of = {p["program_id"]: p["groups"]["site_id"] for p in programs}
    totals: dict[str, float] = {}
    for a in body["allocations"]:
        totals[site_of[a["program_id"]]] = totals.get(site_of[a["program_id"]], 0.0) + a["recommended_funding"]
    shown = {r.get_attribute("data-group"): r for r in rows(browser, "#breakdown-table tbody tr")}
    assert set(shown) == set(totals)
    modalities = sorted({p["modality"] for p in programs})
    for site, total in totals.items():
        cells = shown[site].find_elements(By.TAG_NAME, "td")
        assert float(cells[len(modalities)].get_attribute("data-sort-value")) == pytest.approx(total)
    assert f"{stepped['units']} FTE" in shown[site_of[first["program_id"]]].text
    Select(browser.find_element(By.ID, "breakdown-column")).select_by_value("region")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "breakdown-name"), "region"))
    regions = {r.get_attribute("data-group") for r in rows(browser, "#breakdown-table tbody tr")}
    assert regions == {p["groups"]["region"] for p in programs}
    header = breakdown.find_element(By.XPATH, ".//th/button[starts-with(., 'Total')]")
    header.click()
    ordered = [float(r.find_elements(By.TAG_NAME, "td")[len(modalities)].get_attribute("data-sort-value"))
               for r in rows(browser, "#breakdown-table tbody tr")]
    assert ordered == sorted(ordered)
    assert severe(browser) == []
    shoot(browser, "allocator-cells")


def test_allocator_saves_shares_loads_and_deletes_a_scenario_and_downloads_xlsx(server: str, browser: WebDriver,
                                                                                  keys: Any) -> None:
    from openpyxl import load_workbook

    sign_in(browser, server, keys["allocator"][0], "/pages/allocator")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "model-line"), "current total spend"))
    wait(browser).until(ec.visibility_of_element_located((By.ID, "saved-empty")))
    assert browser.find_element(By.ID, "save-scenario").get_attribute("disabled") is not None  # nothing shown yet
    change = browser.find_element(By.ID, "max_change")
    change.clear()
    change.send_keys("20")
    browser.find_element(By.ID, "add-group").click()
    Select(browser.find_element(By.ID, "group-0-column")).select_by_value("region")
    Select(browser.find_element(By.ID, "group-0-value")).select_by_value("rural")
    share = browser.find_element(By.ID, "group-0-min_share")
    share.clear()
    share.send_keys("12")
    browser.find_element(By.ID, "recommend").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "recommend-status"), "Done"))

    browser.find_element(By.ID, "save-scenario").click()  # no name: the message sits beside the field
    message = wait(browser).until(ec.visibility_of_element_located((By.ID, "scenario-name-error")))
    assert "name" in message.text
    browser.find_element(By.ID, "scenario-name").send_keys("Rural floor <b>12</b>")
    browser.find_element(By.ID, "scenario-shared").click()
    browser.find_element(By.ID, "save-scenario").click()
    wait(browser).until(lambda d: len(rows(d, "#saved-table tbody tr")) == 1)
    row = rows(browser, "#saved-table tbody tr")[0]
    assert row.find_element(By.TAG_NAME, "th").text == "Rural floor <b>12</b>"  # text, never markup
    assert row.find_elements(By.TAG_NAME, "td")[1].text == "yes"
    shared = httpx.get(f"{server}/v1/saved-scenarios", headers={"X-API-Key": keys["data_scientist"][0]},
                       timeout=WAIT).json()["scenarios"]
    assert [(s["name"], s["mine"]) for s in shared] == [("Rural floor <b>12</b>", False)]

    browser.find_element(By.ID, "download-xlsx").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "download-status"), "Downloaded"))
    downloads = Path(browser.capabilities["chrome"]["userDataDir"]).parent / "downloads"
    wait(browser).until(lambda d: any(f.name.endswith(".xlsx") for f in downloads.glob("*")))
    sheet = load_workbook(next(f for f in downloads.glob("*") if f.name.endswith(".xlsx")))["Allocation"]
    header = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if r[0] and str(r[0]).startswith("# ")}
    assert header["# model version"] == "7" and header["# max change per programme"] == "20.0 %"
    assert header["# group limits"] == "region=rural >= 12.0 %"

    change.clear()
    change.send_keys("45")
    browser.find_element(By.CSS_SELECTOR, "[data-group-row] button").click()  # remove the floor
    assert rows(browser, "[data-group-row]") == []
    browser.find_element(By.CSS_SELECTOR, "#saved-table tbody button").click()  # Load
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "save-status"), "Loaded"))
    assert change.get_attribute("value") == "20"
    assert browser.find_element(By.ID, "group-0-value").get_attribute("value") == "rural"
    assert browser.find_element(By.ID, "group-0-min_share").get_attribute("value") == "12"
    shoot(browser, "allocator-saved")

    buttons = {b.text: b for b in rows(browser, "#saved-table tbody button")}
    buttons["Stop sharing"].click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "save-status"), "Stopped sharing"))
    assert httpx.get(f"{server}/v1/saved-scenarios", headers={"X-API-Key": keys["data_scientist"][0]},
                     timeout=WAIT).json()["scenarios"] == []
    wait(browser).until(lambda d: "Delete" in [b.text for b in rows(d, "#saved-table tbody button")])
    next(b for b in rows(browser, "#saved-table tbody button") if b.text == "Delete").click()
    wait(browser).until(ec.visibility_of_element_located((By.ID, "saved-empty")))
    assert browser.find_element(By.ID, "saved-table").is_displayed() is False
    assert severe(browser) == []


def test_clinician_ranks_patients_and_sees_why(server: str, browser: WebDriver, keys: Any,
                                               episode_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    upload = tmp_path / "my-episodes.csv"
    pd.DataFrame(episode_rows[::5]).to_csv(upload, index=False)  # 60 episodes of several programmes
    sign_in(browser, server, keys["clinician"][0], "/pages/clinician")
    wait(browser).until(lambda d: len(rows(d, "#program option")) > 1)
    browser.find_element(By.ID, "episodes-file").send_keys(str(upload))
    browser.find_element(By.ID, "score").click()
    wait(browser).until(lambda d: len(rows(d, "#ranking-table tbody tr")) == len(episode_rows[::5]))
    risks = [float(r.find_elements(By.TAG_NAME, "td")[1].text.rstrip(" %"))
             for r in rows(browser, "#ranking-table tbody tr")]
    assert risks == sorted(risks, reverse=True)  # ranked by dropout risk
    Select(browser.find_element(By.ID, "rank-by")).select_by_value("non_response")
    risks = [float(r.find_elements(By.TAG_NAME, "td")[2].text.rstrip(" %"))
             for r in rows(browser, "#ranking-table tbody tr")]
    assert risks == sorted(risks, reverse=True)
    top = browser.find_element(By.CSS_SELECTOR, "#ranking-table tbody button")
    top.send_keys(Keys.ENTER)  # keyboard again
    wait(browser).until(lambda d: len(rows(d, "#dropout-chart rect")) >= 3)
    assert len(rows(browser, "#non_response-chart rect")) >= 3
    assert "base rate" in browser.find_element(By.ID, "dropout-summary").text
    assert len(rows(browser, "#dropout-words li")) >= 3
    for chart in ("#dropout-chart", "#non_response-chart"):  # plain words, never feature names or raw values
        labels = [t.text for t in rows(browser, f"{chart} text") if t.text and t.text[0] not in "+-0123456789"]
        assert labels and not any("_" in t or " = " in t or t.lower().startswith("log ") for t in labels), labels
    words = browser.find_element(By.ID, "patient").text
    assert "of the scale" not in words and "program id" not in words.lower()
    assert "patient_id" in browser.find_element(By.ID, "base-rates").text  # named as ignored, never sent on
    assert severe(browser) == []
    shoot(browser, "clinician")

    bad = tmp_path / "bad.csv"
    broken = [dict(r) for r in episode_rows[:3]]
    broken[2]["baseline_score"] = 999
    pd.DataFrame(broken).to_csv(bad, index=False)
    browser.find_element(By.ID, "episodes-file").send_keys(str(bad))
    browser.find_element(By.ID, "score").click()
    message = wait(browser).until(ec.visibility_of_element_located((By.ID, "episodes-file-error")))
    assert "baseline_score" in message.text and "lines 4" in message.text
    assert severe(browser, ("status of 422",)) == []


def test_limited_clinician_sees_other_programmes_refused(server: str, browser: WebDriver, keys: Any,
                                                         episode_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    upload = tmp_path / "two-programmes.csv"
    own = [r for r in episode_rows if r["program_id"] == "P001"][:3]
    other = [r for r in episode_rows if r["program_id"] == "P002"][:2]
    pd.DataFrame(own + other).to_csv(upload, index=False)
    sign_in(browser, server, keys["limited_clinician"][0], "/pages/clinician")
    assert "P001" in browser.find_element(By.ID, "scope-line").text
    wait(browser).until(lambda d: len(rows(d, "#program option")) == 2)  # "all of mine" and P001 only
    browser.find_element(By.ID, "episodes-file").send_keys(str(upload))
    browser.find_element(By.ID, "score").click()
    message = wait(browser).until(ec.visibility_of_element_located((By.ID, "episodes-file-error")))
    assert "P002" in message.text and "own programmes" in message.text
    assert browser.find_element(By.ID, "ranking").is_displayed() is False
    assert severe(browser, ("status of 403",)) == []


def test_roles_only_reach_their_pages(server: str, browser: WebDriver, keys: Any) -> None:
    browser.get(f"{server}/pages/models")
    wait(browser).until(ec.url_to_be(f"{server}/signin?next=/pages/models"))
    sign_in(browser, server, keys["allocator"][0], "/pages/allocator")
    links = {a.get_attribute("href").removeprefix(server) for a in rows(browser, "header nav a")}
    assert links == {"/pages/allocator", "/pages/outcomes"}
    browser.get(f"{server}/pages/clinician")
    heading = wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#forbidden h1")))
    assert "not available" in heading.text
    shoot(browser, "forbidden")
    assert severe(browser, ("status of 403",)) == []
    browser.find_element(By.CSS_SELECTOR, ".signout button").click()
    wait(browser).until(ec.url_to_be(f"{server}/signin"))
    browser.get(f"{server}/pages/allocator")
    wait(browser).until(ec.url_to_be(f"{server}/signin?next=/pages/allocator"))


def test_data_scientist_sees_versions_metrics_and_calibration(server: str, browser: WebDriver, keys: Any) -> None:
    sign_in(browser, server, keys["data_scientist"][0], "/pages/models")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "models-line"), "v7"))
    wait(browser).until(lambda d: len(rows(d, "#calibration figure")) == 2)
    assert len(rows(browser, "#calibration circle")) >= 6
    assert len(rows(browser, "#components-table tbody tr")) == 3
    assert browser.find_element(By.ID, "mlflow-link").get_attribute("href") == "http://127.0.0.1:5000/"
    shown = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
             for r in rows(browser, "#metrics-table tbody tr")}
    assert {k: shown[k] for k in SHOWN_METRICS} == {"response_auc": "0.63", "response_ece": "0.017",
                                                    "dropout_ece": "0.012", "holdout_score": "1.23"}
    links = {a.get_attribute("href").removeprefix(server) for a in rows(browser, "header nav a")}
    assert links == {"/pages/allocator", "/pages/outcomes", "/pages/models"}
    assert severe(browser) == []
    shoot(browser, "models")


def test_allocator_follows_outcomes_against_the_plans_forecasts(server: str, browser: WebDriver, keys: Any,
                                                                 served_settings: ServiceSettings, trained: Any,
                                                                 small_world: Any) -> None:
    from records.plans import PLANS, PlanStore
    from tests.serving.test_review_api import _two_reviews
    from usecases.recommendation import RecommendationRequest, recommend

    _, programs, _ = small_world
    plans = PlanStore(served_settings.resolved_outcomes_url)  # a plan issued for the last quarter, to draw over it
    plan_id = plans.save(recommend(trained[2], RecommendationRequest(max_change=0.3)), {"max_change": 0.3},
                         issued_by="test")
    with plans.engine.begin() as connection:
        connection.execute(PLANS.update().where(PLANS.c.plan_id == plan_id).values(
            forecast_period=str(programs["period"].max())))
    plans.close()
    review = _two_reviews(served_settings, trained, small_world)
    sign_in(browser, server, keys["allocator"][0], "/pages/outcomes")
    wait(browser).until(lambda d: d.execute_script(
        "return document.documentElement.getAttribute('data-outcomes-ready')"))
    assert review.period in browser.find_element(By.ID, "review-line").text
    programmes = set(trained[2].programs)
    assert {f.get_attribute("data-program") for f in rows(browser, "#trends figure")} == programmes
    assert len(rows(browser, "#trends figure svg")) == len(programmes)
    assert len(rows(browser, "#trends .band")) == len(programmes)
    assert len(rows(browser, "#trends .forecast-mark")) == len(programmes)  # the plan's forecast, once each
    alerts = rows(browser, "#alerts-table tbody tr")
    assert len(alerts) == max(1, len(review.alerts))
    if review.proposal_plan_id:
        assert len(rows(browser, "#proposal-table tbody tr")) == len(programmes)
    Select(browser.find_element(By.ID, "kpi")).select_by_value("dropout_rate")
    wait(browser).until(lambda d: "dropout" in d.execute_script(  # in the page: the charts are being replaced
        "const svg = document.querySelector('#trends svg'); return svg ? svg.getAttribute('aria-label') : ''"))
    assert severe(browser) == []
    shoot(browser, "outcomes")


@pytest.mark.parametrize(("page", "rendered"), [
    ("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='tag/'], [data-section-id^='operation/']")])
def test_api_docs_render_offline_under_the_services_policy(server: str, browser: WebDriver, page: str,
                                                           rendered: str) -> None:
    browser.get(f"{server}{page}")
    wait(browser).until(lambda d: len(rows(d, rendered)) >= 5)
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    # ReDoc's bundle hard-codes its "API docs by Redocly" logo from its CDN; the policy refuses it (img-src 'self'
    # data:), ReDoc then hides the image, and nothing else leaves this service
    outside = [url for url in loaded if not url.startswith(server) and url != REDOC_LOGO]
    assert loaded and outside == [], loaded
    assert severe(browser, (REDOC_LOGO,)) == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"api{page.replace('/', '-')}-1280.png"))
