"""A practice's journey in a real headless Chromium against `streamlit run app.py`: a workspace of two connections
(two Xero organisations, one Xero sign-in) on the sandbox doubles.

Overview lists both → the sidebar picker chooses the second → its Preview → OPEN PREVIEW on the first row opens the
first's Preview → SYNC ALL on Overview → both runs succeed, and each organisation ends exact: every record written
once, into its own organisation, and a fresh preview of each finds nothing new. Every wait is on page state.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dashboard_server import serve_dashboard
from page_helpers import page_doubles
from workspace_helpers import FIRST, SECOND, two_connections

from pexxero.sandbox import demo
from pexxero.workspace import open_workspace

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ORGANISATIONS = {FIRST: demo.TENANT_ID, SECOND: demo.SECOND_TENANT_ID}



def _references(sandbox, tenant_id: str) -> Counter:
    records = [t for t in sandbox.xero.bank_transactions(tenant_id) if not t["Type"].endswith("-TRANSFER")]
    records += sandbox.xero.bank_transfers(tenant_id)
    return Counter(r.get("Reference") for r in records if str(r.get("Reference") or "").startswith("PEX-"))


@pytest.fixture
def practice(tmp_path, monkeypatch):
    """The doubles in this process, a workspace of two connections seeded on them, and `streamlit run app.py`
    pointed at both; yields (url, database, doubles)."""
    with page_doubles() as sandbox:
        for name, value in sandbox.env.items():
            monkeypatch.setenv(name, value)
        db = str(tmp_path / "practice.db")
        two_connections(db, sandbox)
        with serve_dashboard(sandbox.env, db) as url:
            yield url, db, sandbox


def test_overview_pick_preview_and_sync_all(practice):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (tests/run.sh installs it)")
    from playwright.sync_api import expect

    url, db, sandbox = practice
    before = {name: _references(sandbox, tenant) for name, tenant in ORGANISATIONS.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=30_000)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(30_000)

        def settled():
            expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)

        def go(title: str) -> None:
            page.locator('[data-testid="stSidebarNavLink"]', has_text=title).click()
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()

        def header_names(organisation: str) -> None:
            expect(page.locator('[data-testid="stText"]', has_text=f"Xero organisation: {organisation}")
                   .first).to_be_visible()

        # ----- Overview: one row per connection, each naming its business and organisation
        page.goto(url)
        expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
        for organisation in (demo.TENANT_NAME, demo.SECOND_TENANT_NAME):
            expect(page.get_by_text(f"Xero organisation: {organisation}").first).to_be_visible()
        expect(page.get_by_text("Never synced")).to_have_count(2)
        settled()
        page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

        # ----- the sidebar picker chooses the second connection; Preview is its own
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').click()
        page.get_by_role("option", name=SECOND, exact=True).click()
        header_names(demo.SECOND_TENANT_NAME)
        go("Preview")
        expect(page.get_by_text("built just now")).to_be_visible(timeout=60_000)
        header_names(demo.SECOND_TENANT_NAME)
        expect(page.get_by_text(f"Xero organisation: {demo.TENANT_NAME}", exact=True)).to_have_count(0)
        settled()

        # ----- a row's OPEN PREVIEW opens that connection's Preview
        go("Overview")
        first_row = page.locator(f".st-key-ov_row_{open_workspace(db).connection(FIRST).connection_id}")
        expect(first_row.get_by_text(f"Xero organisation: {demo.TENANT_NAME}")).to_be_visible()
        first_row.get_by_role("button", name="OPEN PREVIEW").click()
        expect(page.get_by_role("heading", name="Preview", exact=True)).to_be_visible()
        header_names(demo.TENANT_NAME)
        expect(page.get_by_text("built just now")).to_be_visible(timeout=60_000)
        settled()

        # ----- SYNC ALL: both connections' background syncs, followed on the Overview
        go("Overview")
        page.get_by_role("button", name="SYNC ALL").click()
        expect(page.get_by_text(f"{FIRST}: started (run ")).to_be_visible()
        expect(page.get_by_text(f"{SECOND}: started (run ")).to_be_visible()
        expect(page.get_by_text("Succeeded just now")).to_have_count(2, timeout=180_000)
        settled()
        page.screenshot(path=str(ARTIFACTS / "overview-synced.png"), full_page=True)
        browser.close()

    # ----- each organisation ends exact
    ws = open_workspace(db)
    for name, tenant in ORGANISATIONS.items():
        conn = ws.connection(name)
        run = conn.last_finished_run()
        assert run["status"] == "succeeded" and run["tenant_id"] == tenant
        after = _references(sandbox, tenant)
        added = after - before[name]
        assert sum(added.values()) == run["written"] > 0
        assert all(after[ref] == 1 for ref in added), "a record written twice"
        assert conn.preview(save_plan=False).frame["status"].eq("new").sum() == 0, f"{name} left something new"
