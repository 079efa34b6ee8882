"""Shared pieces of the page tests (AppTest): the sandbox doubles, a fresh database, and states built through the
engine. Import the fixtures into a test module with `from page_helpers import *  # noqa: F401,F403`.

- `sandbox`: both doubles of the demo business on 127.0.0.1, one pair per test module.
- `page_env`: a fresh temp database in PEXXERO_DB and the doubles' env applied (monkeypatched), so the app runs
  in sandbox mode against these doubles; yields the database path.
- `connected(db, sandbox)`: PEX token saved, Xero token granted, organisation chosen -> Connection.
- `set_up(db, sandbox)`: connected plus the demo setup saved -> Connection.
- `app(page)`: an AppTest of app.py switched to `pages/<page>.py`, not run yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pexxero.engine import open_connection, today_eastern
from pexxero.sandbox import demo, seed, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


@pytest.fixture(scope="module")
def sandbox():
    sb = start_sandbox()
    yield sb
    sb.stop()


@pytest.fixture
def page_env(sandbox, tmp_path, monkeypatch):
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    db = str(tmp_path / "pexxero.db")
    monkeypatch.setenv("PEXXERO_DB", db)
    monkeypatch.chdir(ROOT)
    yield db


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


def texts(at: AppTest) -> str:
    """Everything a user reads on the page, as one string (markdown, captions, alerts, titles, metrics)."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}: {[b.label for b in at.button]}"
    return matches[0]
