"""Takes docs/tieout.png: the Tie-out page of the sandbox business after a full sync, in headless Debian chromium
against `streamlit run app.py` in sandbox mode.

    python docs/tieout_screenshot.py

The doubles run in this process; a database next to them is connected, set up with the demo setup and synced
(as the Connect, Setup and Sync pages would leave it), then the dashboard is started on it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    from playwright.sync_api import expect, sync_playwright

    from page_helpers import set_up
    from pexxero.sandbox import start_sandbox
    from pexxero.sync import run_sync

    sandbox = start_sandbox()
    sandbox.xero.limits.minute_limit = 10_000
    sandbox.apply_env()
    directory = tempfile.mkdtemp(prefix="pexxero-shot-")
    db = str(Path(directory) / "pexxero.db")
    conn = set_up(db, sandbox)
    print("sync:", run_sync(conn)["status"])
    port = free_port()
    env = dict(os.environ, PEXXERO_DB=db, PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 2100})  # the page is drawn inside its own scroller
            deadline = time.monotonic() + 60
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:  # noqa: BLE001 - the server is still starting
                    if time.monotonic() > deadline:
                        raise
                    page.wait_for_timeout(500)
            page.locator('[data-testid="stSidebarNavLink"]', has_text="Tie-out").click()
            expect(page.get_by_role("heading", name="Tie-out", exact=True)).to_be_visible(timeout=60_000)
            expect(page.get_by_text("ready to lock up to", exact=False).first).to_be_visible(timeout=90_000)
            expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)
            expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible(timeout=60_000)
            expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible(timeout=60_000)
            expect(page.locator('[data-testid="stDataFrame"] canvas').nth(1)).to_be_visible(timeout=60_000)
            page.wait_for_timeout(3000)  # the chart's and the tables' last draw
            page.screenshot(path=str(ROOT / "docs" / "tieout.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        sandbox.stop()
    print("docs/tieout.png written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
