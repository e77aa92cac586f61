"""Debian's headless Chromium driven by Selenium, for the tests that use the pages as a person does (the pages'
browser tests and the newcomer's walkthrough). Tests using it skip only where the binaries are not installed
(`make system` installs them, so CI runs them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 60  # seconds: the machine may be busy; waits end as soon as the condition holds
needs_chromium = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                    reason="needs Debian's chromium and chromium-driver (make system installs them)")


@contextmanager
def chromium(folder: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium at 1280 x 900 with its profile in `folder` and downloads in `folder/downloads`,
    recording every console entry."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={folder / 'chromium'}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads(folder)),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(1280, 900)
    try:
        yield driver
    finally:
        driver.quit()


def downloads(folder: Path) -> Path:
    return folder / "downloads"


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT)


def severe(driver: WebDriver, allowed: tuple[str, ...] = ()) -> list[str]:
    """SEVERE console entries, except the provoked API refusals named in `allowed` (e.g. 'status of 422')."""
    entries = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return [m for m in entries if not any(a in m for a in allowed)]


def sign_in(driver: WebDriver, server: str, key: str, page: str) -> None:
    driver.get(f"{server}{page}")
    field = wait(driver).until(ec.visibility_of_element_located((By.ID, "api_key")))
    field.send_keys(key, Keys.ENTER)  # keyboard only
    wait(driver).until(ec.url_to_be(f"{server}{page}"))


def rows(driver: WebDriver, css: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, css)
