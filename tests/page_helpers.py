"""Shared pieces of the page tests (AppTest): the sandbox doubles, a fresh database, and states built through the
engine. The fixtures built on them (`doubles`, `page_env`) are in conftest.py.

- `page_doubles()`: both doubles of the demo business on 127.0.0.1 (Xero's minute limit off), stopped on exit.
- `connected(db, sandbox)`: PEX token saved, Xero token granted, organisation chosen -> Connection.
- `set_up(db, sandbox)`: connected plus the demo setup saved -> Connection.
- `app(page)`: an AppTest of app.py switched to `pages/<page>.py`, not run yet.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from streamlit.testing.v1 import AppTest

from pexxero.connection import open_connection, today_eastern
from pexxero.sandbox import demo, seed, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


@contextmanager
def page_doubles():
    sb = start_sandbox()
    # page tests are not about Xero's 60-a-minute limit: without this, a preview after a test's sync waits a minute
    sb.xero.limits.minute_limit = 10_000
    try:
        yield sb
    finally:
        sb.stop()


def connected(db: str, sandbox, tenant_id: str = demo.TENANT_ID):
    conn = open_connection(db)
    conn.connect_pex(demo.PEX_TOKEN)
    conn.connect_xero(sandbox.xero.grant(), tenant_id)
    return conn


def set_up(db: str, sandbox):
    conn = connected(db, sandbox)
    conn.save_setup(seed.sandbox_setup(today_eastern()))
    return conn


def app(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(f"pages/{page}.py")
    return at


ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # backslash-escaped punctuation in markdown reads as itself


def read(markdown: str) -> str:
    """What a reader sees of markdown whose PEX or Xero text was escaped (widgets.plain)."""
    return ESCAPED.sub(r"\1", markdown)


def texts(at: AppTest) -> str:
    """Everything a user reads on the page, as one string (markdown, captions, alerts, titles, metrics)."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [read(str(e.value)) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}: {[b.label for b in at.button]}"
    return matches[0]


def wait_for_run(db: str, run_id: int, timeout: float = 60.0) -> dict:
    """Block until the background run `run_id` has finished (its row says so), then return the row."""
    import threading
    import time

    from pexxero import models
    from pexxero.store import Store

    with Store.open(db) as store:  # the store, not a connection: the workspace may hold several
        deadline = time.monotonic() + timeout
        tick = threading.Event()
        while time.monotonic() < deadline:
            run = store.get_run(run_id)
            if run is not None and run["status"] in models.FINISHED:
                return run
            tick.wait(0.05)  # the run is another process: its row is the only state there is to watch
        raise AssertionError(f"run {run_id} did not finish within {timeout} s: {store.get_run(run_id)}")


def fake_run(conn, status: str, items: list[tuple[int, str]], *, to_write: int = 0, step: str = "",
             message: str = "") -> int:
    """A run row with items in a given state, written through the store (what a sync process leaves)."""
    import time

    from pexxero import models
    from pexxero.store import sync_tables

    shown = list(items)  # an item is (pex_id, outcome) or (pex_id, outcome, Preview status of its row)
    items = [item[:2] for item in shown]
    run_id = conn.store.queue_run(conn.connection_id)
    fields = dict(status=status, started_at=sync_tables.now_iso(), to_write=to_write, step=step, message=message,
                  heartbeat_at=time.time(), tenant_id=conn.tenant_id())
    if status in models.FINISHED:
        fields["ended_at"] = sync_tables.now_iso()
        fields["written"] = sum(1 for _, o in items if o == models.CREATED)
        fields["failed"] = sum(1 for _, o in items if o == models.ITEM_FAILED)
    conn.store.update_run(run_id, **fields)
    conn.store.add_items(run_id, [
        models.SyncItem(pex_id=item[0], kind="purchase", record_type="BankTransaction", reference=f"PEX-{item[0]}",
                        date="2026-06-01", amount="-13500.00", label="Home Depot", outcome=item[1],
                        reason="" if item[1] != models.ITEM_SKIPPED else "already in Xero",
                        status=item[2] if len(item) > 2 else "")
        for item in shown
    ])
    if status in models.FINISHED:
        conn.store.set_items(run_id, [p for p, o in items if o == models.ITEM_FAILED],
                       message="Xero said: Account code '999' is not a valid code")
    return run_id


def progress_text(at: AppTest) -> str:
    """The text of the page's (first) progress bar."""
    bars = [e for e in at if type(e).__name__ == "Progress"]
    assert bars, "no progress bar on the page"
    return read(bars[0].proto.text)
