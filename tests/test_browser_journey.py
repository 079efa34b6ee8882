"""The whole journey in a real headless Chromium against `streamlit run app.py` in sandbox mode.

Connect PEX, connect Xero through the consent popup, pick the organisation, use the demo setup, preview, download
the CSV, sync, reload mid-sync and see the progress carry on, find the run in History. A screenshot of each page
goes to artifacts/; any exception element on a page fails the test. Every wait is on page state.
"""

from __future__ import annotations

import csv
import io
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
LATENCY = "0.2"  # seconds per Xero API call in the sandbox: a sync lasts long enough to reload mid-run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(tmp_path):
    """`streamlit run app.py` in sandbox mode (no Xero app configured, a fresh database); yields its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "PEX_", "PEXXERO_"))}
    env.update(PEXXERO_DB=str(tmp_path / "journey.db"), PEXXERO_SANDBOX_LATENCY=LATENCY,
               PYTHONPATH=str(ROOT), PEXXERO_ENCRYPTION_KEY="")
    env.pop("PEXXERO_ENCRYPTION_KEY")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue = queue.Queue()
    log: list[str] = []

    def pump():
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:  # wait until streamlit says it serves (or died)
            line = lines.get(timeout=60)
            assert line is not None, "streamlit exited:\n" + "".join(log)
            if "URL:" in line:
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_whole_journey(dashboard, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (tests/run.sh installs it)")
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=30_000)  # a busy 2-core machine: the first run also starts the sandbox
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        context.set_default_timeout(30_000)
        page = context.new_page()

        def settled():
            """The app finished its run: no 'running' indicator, and no exception element anywhere."""
            expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)

        def shot(name: str) -> None:
            settled()
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

        headings = {"Setup": "Connector Setup", "History": "Sync History"}

        def go(title: str) -> None:
            page.locator('[data-testid="stSidebarNavLink"]', has_text=title).click()
            expect(page.get_by_role("heading", name=headings.get(title, title), exact=True)).to_be_visible()

        # ----- Connect: PEX (the sandbox prefills the demo token), then Xero through its consent popup
        page.goto(dashboard)
        expect(page.get_by_text("Sandbox mode", exact=False).first).to_be_visible()
        expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()  # the first page
        go("Connect")
        page.get_by_role("button", name="SAVE PEX TOKEN").click()
        expect(page.get_by_text("PEX is connected.")).to_be_visible()

        oauth = page.frame_locator('iframe[title="streamlit_oauth.authorize_button"]')
        with page.expect_popup() as popup_info:
            oauth.get_by_role("button", name="CONNECT TO XERO").click()
        popup = popup_info.value
        expect(popup.get_by_text("wants access to")).to_be_visible()
        popup.locator("#allow").click()
        popup.wait_for_event("close", timeout=30_000)  # streamlit-oauth closes it once it reads the code

        # ----- Tenant Selection
        expect(page.get_by_text("Tenant Selection")).to_be_visible()
        page.get_by_role("button", name="CONFIRM").click()
        expect(page.get_by_text("Xero is connected to")).to_be_visible()
        shot("connect")

        # ----- Setup: the demo setup
        go("Setup")
        page.get_by_role("button", name="Use the demo setup").click()
        expect(page.get_by_text("The demo setup is saved.")).to_be_visible()
        page.get_by_role("button", name="NEXT").click()
        expect(page.get_by_text("Step 2 of 7: PEX Sync Options")).to_be_visible()
        shot("setup")

        # ----- Preview and its CSV
        go("Preview")
        expect(page.get_by_text("built just now")).to_be_visible(timeout=60_000)
        expect(page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg')
               .first).to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible()
        shot("preview")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download the reconciliation (CSV)").click()
        text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) > 50 and {"pex_id", "status", "reason"} <= set(rows[0])
        assert {r["status"] for r in rows} >= {"new", "synced", "possible duplicate"}

        # ----- Sync: start, reload mid-run, the progress carries on
        go("Sync")
        page.get_by_role("button", name="SYNC", exact=True).click()
        running = page.get_by_text("Running", exact=True)
        expect(running).to_be_visible(timeout=30_000)
        page.reload()
        expect(page.get_by_role("heading", name="Sync", exact=True)).to_be_visible()
        expect(page.get_by_text("Run 1")).to_be_visible()
        expect(running).to_be_visible()  # still running after the reload: the run lives outside the page
        expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
        expect(page.get_by_text("Succeeded", exact=True)).to_be_visible(timeout=90_000)
        expect(page.get_by_text("Item outcomes")).to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible()
        shot("sync")

        # ----- History
        go("History")
        expect(page.get_by_text("Runs over time")).to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible()
        shot("history")
        browser.close()

    # the README's screenshots: refreshed on request, so a test run leaves the working tree clean
    for name in ("preview", "sync") if os.environ.get("PEXXERO_UPDATE_DOCS") else ():
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"{name}.png", docs / f"{name}.png")
