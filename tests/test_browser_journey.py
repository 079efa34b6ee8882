"""The whole journey in a real headless Chromium against `streamlit run app.py` in sandbox mode.

Connect PEX, connect Xero through the consent popup, pick the organisation, use the demo setup, preview, download
the CSV, sync, reload mid-sync and see the progress carry on, find the run in History, tie out the month (the page
says what `pexxero.tieout.tie_out` says of the same database), UNDO THIS RUN on the sync (every record it wrote
is DELETED in the Xero double, History shows the undo run) and see those items `new` again in the Preview. A
screenshot of each page goes to artifacts/; any exception element on a page fails the test. Every wait is on page
state. The doubles run in this process (their state is read directly); the server gets the sandbox's demo Xero
app, so it is in sandbox mode as a user's first start is.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path

import pytest

from dashboard_server import serve_dashboard
from page_helpers import page_doubles

from pexxero import models
from pexxero import tieout_views as tv
from pexxero.connection import open_connection, today_eastern
from pexxero.tieout import tie_out

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
LATENCY = 0.2  # seconds per Xero API call in the sandbox: a sync lasts long enough to reload mid-run



@pytest.fixture
def dashboard(tmp_path, monkeypatch):
    """The doubles in this process and `streamlit run app.py` pointed at them with the sandbox's demo Xero app (so
    in sandbox mode), on a fresh database; yields (url, database, doubles). This process reads the same database
    with the same key file (no PEXXERO_ENCRYPTION_KEY on either side)."""
    with page_doubles() as sandbox:
        sandbox.xero.latency = LATENCY
        for name, value in sandbox.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("PEXXERO_ENCRYPTION_KEY", raising=False)
        db = str(tmp_path / "journey.db")
        with serve_dashboard(sandbox.env, db) as url:
            yield url, db, sandbox


def _xero_record(sandbox, tenant_id: str, item: dict) -> dict:
    """The Xero double's record that a run item names (by its Xero id), deleted or not."""
    pool = (sandbox.xero.bank_transfers(tenant_id) if item["record_type"] == "BankTransfer"
            else sandbox.xero.bank_transactions(tenant_id))
    found = [r for r in pool if (r.get("BankTransactionID") or r.get("BankTransferID")) == item["xero_id"]]
    assert len(found) == 1, item
    return found[0]


def test_whole_journey(dashboard):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (tests/run.sh installs it)")
    from playwright.sync_api import expect

    url, db, sandbox = dashboard
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

        def metric(label: str):
            """The value of the metric labelled `label`."""
            return page.get_by_test_id("stMetric").filter(
                has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)).get_by_test_id(
                "stMetricValue")

        def new_in_preview(count: int) -> None:
            """A fresh preview (the kept one is as old as its "built" line) counts `count` new."""
            go("Preview")
            page.get_by_role("button", name="Refresh", exact=True).click()
            expect(metric("New")).to_have_text(f"{count:,}", timeout=60_000)
            settled()

        def go(title: str) -> None:
            page.locator('[data-testid="stSidebarNavLink"]', has_text=title).click()
            expect(page.get_by_role("heading", name=headings.get(title, title), exact=True)).to_be_visible()

        # ----- Connect: PEX (the sandbox prefills the demo token), then Xero through its consent popup
        page.goto(url)
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

        # ----- Preview again: what the sync wrote is no longer new
        conn = open_connection(db)
        tenant_id = conn.tenant_id()
        (sync_run,) = conn.history()
        assert sync_run["status"] == models.SUCCEEDED and sync_run["mode"] != models.UNDO, sync_run
        created = [it for it in conn.run_items(sync_run["id"]) if it["outcome"] == models.CREATED]
        assert len(created) > 3 and {it["record_type"] for it in created} == {"BankTransaction", "BankTransfer"}
        new_before = sum(r["status"] == "new" for r in rows)
        new_in_preview(new_before - len(created))

        # ----- Tie-out: the page says what the engine says of the same database (the month the page opens on)
        go("Tie-out")
        today = today_eastern()
        first, last = conn.date_range(conn.setup(), today)
        month = tv.default_month(today, tv.month_choices(first, min(last, today)))
        # the page's last part: once it shows, the tie-out has been read and drawn
        expect(page.get_by_text("Every day", exact=True)).to_be_visible(timeout=60_000)
        settled()
        tie = tie_out(conn, month=month, refresh=False)  # the copy of PEX the page just refreshed, Xero as it is
        expect(page.get_by_text(tie.verdict.sentence(), exact=True)).to_be_visible()
        for label, value in tv.summary_metrics(tie):
            expect(metric(label)).to_have_text(value)
        items = len(tv.items_table(tie))
        expect(page.get_by_text(f"{items:,} of {items:,} items", exact=True)).to_be_visible()
        expect(page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg')
               .first).to_be_visible()
        page.get_by_text("Every day", exact=True).click()
        days = page.get_by_test_id("stExpander").filter(has_text="Every day")
        expect(days.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible()
        shot("tieout")

        # ----- History: UNDO THIS RUN on the sync, its plan, YES, REMOVE THEM; the undo is a run of its own
        go("History")
        page.get_by_role("button", name="UNDO THIS RUN").click()
        n = len(created)
        expect(page.get_by_text(f"Run {sync_run['id']} created {n} records still in Xero: {n} can be removed.",
                                exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="CANCEL")).to_be_visible()
        page.get_by_role("button", name="YES, REMOVE THEM").click()
        said = page.get_by_text(re.compile(r"^Run \d+: Succeeded\. "))
        expect(said).to_be_visible(timeout=90_000)
        settled()
        undo_run = conn.history()[0]
        assert undo_run["mode"] == models.UNDO and undo_run["undoes"] == sync_run["id"], undo_run
        assert undo_run["status"] == models.SUCCEEDED and undo_run["written"] == n, undo_run
        expect(said).to_have_text(f"Run {undo_run['id']}: Succeeded. {undo_run['message']}")
        assert {_xero_record(sandbox, tenant_id, it)["Status"] for it in created} == {"DELETED"}
        runs = page.get_by_test_id("stMain").get_by_test_id("stSelectbox").filter(
            has=page.get_by_text("Run", exact=True))
        runs.get_by_role("combobox").click()
        page.keyboard.press("ArrowDown")  # the list opens on the arrow key (a click may only focus the box)
        option = page.get_by_role("option", name=f"Run {undo_run['id']} · ")
        expect(option).to_contain_text("Succeeded")
        option.click()
        expect(page.get_by_text(f"{n} removed from Xero", exact=True)).to_be_visible()  # the undo run's items
        expect(page.get_by_role("button", name="UNDO THIS RUN")).to_have_count(0)  # an undo is not undone
        shot("undo")

        # ----- Preview: what the undo removed is new again
        new_in_preview(new_before)
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download the reconciliation (CSV)").click()
        text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
        status = {r["pex_id"]: r["status"] for r in csv.DictReader(io.StringIO(text))}
        assert {status[str(it["pex_id"])] for it in created} == {"new"}
        browser.close()

    # the README's screenshots: refreshed on request, so a test run leaves the working tree clean
    for name in ("preview", "sync") if os.environ.get("PEXXERO_UPDATE_DOCS") else ():
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"{name}.png", docs / f"{name}.png")
