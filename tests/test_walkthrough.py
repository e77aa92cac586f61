"""A newcomer's path through the README as one test: clone the repository, run the README's first command (`make
demo`), sign in to the allocator page with the key the demo prints, recommend, save a scenario and download the
report, with no error on the way, no warning in the demo's output and no step the README does not name.

The clone runs on the interpreter of this test session: `make test` has just installed exactly what `make demo`
would install, so the demo target runs with that environment's stamp taken as up to date (installing again would
add a minute and test pip, not the README). Everything else is the clone's own: its code (first on PYTHONPATH),
its Makefile, its data folder. Only the variables the README documents are set (CAREALLOC_PORT)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from tests.browser import WAIT, chromium, downloads, needs_chromium, rows, severe, sign_in, wait
from tests.postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_MINUTES = 10
pytestmark = [
    pytest.mark.slow, needs_chromium,
    pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None or shutil.which("make") is None,
                       reason="needs a git checkout, git and make"),
]


class DemoOutput:
    """The demo's merged stdout and stderr as it arrives, read on a thread so the pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if found := re.search(pattern, line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    raise AssertionError(f"the demo never printed /{pattern}/; it printed:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 1.0))

    def text(self) -> str:
        self._thread.join(WAIT)
        return "\n".join(self.lines)


def _first_command() -> str:
    block = re.findall(r"^```bash\n(.*?)^```", README, flags=re.S | re.M)[0]
    return block.splitlines()[0].split("#")[0].strip()


def test_a_newcomer_goes_from_a_clone_to_a_signed_in_page_a_saved_scenario_and_a_report(tmp_path: Path) -> None:
    # the steps below are the README's own words
    assert _first_command() == "make demo"
    for promise in ("sign in at `/signin` with a printed key", "`CAREALLOC_PORT`", "saved scenarios (save the shown "
                    "request under a name", "the report as PDF"):
        assert promise in README, promise

    clone = tmp_path / "carealloc"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=WAIT)
    assert not (clone / "data").exists()
    venv = Path(sys.prefix)
    port = free_port()
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("CAREALLOC_", "MLFLOW_", "PYTEST"))}
    environment |= {"PYTHONPATH": str(clone), "CAREALLOC_PORT": str(port), "COLUMNS": "80"}
    demo = subprocess.Popen(["make", "-o", f"{venv}/.installed", "demo", f"VENV={venv}"], cwd=clone,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    output = DemoOutput(demo)
    try:
        allocator_key = output.wait_for(r"^\s+allocator: (ca_\S+)$", DEMO_MINUTES * 60).group(1)
        output.wait_for(rf"serving on http://127\.0\.0\.1:{port} ", WAIT)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, demo)
        with chromium(tmp_path) as browser:
            sign_in(browser, base, allocator_key, "/pages/allocator")
            wait(browser).until(ec.text_to_be_present_in_element((By.ID, "model-line"), "current total spend"))
            browser.find_element(By.ID, "recommend").click()
            wait(browser).until(ec.text_to_be_present_in_element((By.ID, "recommend-status"), "Done"))
            assert rows(browser, "#allocation-table tbody tr")

            browser.find_element(By.ID, "scenario-name").send_keys("My first plan")
            browser.find_element(By.ID, "save-scenario").click()
            wait(browser).until(lambda d: [r.find_element(By.TAG_NAME, "th").text
                                           for r in rows(d, "#saved-table tbody tr")] == ["My first plan"])
            saved = httpx.get(f"{base}/v1/saved-scenarios", headers={"X-API-Key": allocator_key}, timeout=WAIT)
            assert [s["name"] for s in saved.json()["scenarios"]] == ["My first plan"]

            browser.find_element(By.ID, "download-report").click()
            wait(browser).until(ec.text_to_be_present_in_element((By.ID, "download-status"), "Downloaded"))
            wait(browser).until(lambda d: any(f.name.endswith("-report.pdf") for f in downloads(tmp_path).glob("*")))
            report = next(f for f in downloads(tmp_path).glob("*") if f.name.endswith("-report.pdf"))
            assert report.read_bytes().startswith(b"%PDF")
            assert severe(browser) == []
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C, as the demo says
        try:
            demo.wait(WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(WAIT)
    printed = output.text()
    for trouble in ("Traceback", "Error", "Warning", "WARNING"):
        assert trouble not in printed, f"the demo printed {trouble!r}:\n{printed}"
    assert (clone / "data" / "api_keys.json").is_file()  # where the README says the demo keeps the key hashes
    assert allocator_key not in (clone / "data" / "api_keys.json").read_text()


def _wait_ready(base: str, demo: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert demo.poll() is None, "the demo stopped serving"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the demo's service never became ready")
