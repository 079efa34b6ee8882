"""Shared fixtures. Each double fixture starts a real server on 127.0.0.1 and stops it after the test (or the
test module). The plain functions they use live in sandbox_env.py and page_helpers.py, imported by name."""

from __future__ import annotations

from typing import Iterator

import pytest
from page_helpers import ROOT, page_doubles
from sandbox_env import STORES, SandboxEnv, open_sandbox

from pexxero.sandbox.pex_double import PexDouble


@pytest.fixture
def pex_double():
    """The PEX double of the demo business (seed 1, today = today in US Eastern), on 127.0.0.1.

    Point a client at `pex_double.url + "/v4"` (or `Endpoints.from_env(pex_double.env)`), token `demo.PEX_TOKEN`.
    Rate limits are off; tests may flip `rate_limits`, queue `faults`, edit `transactions`, read `requests`.
    """
    with PexDouble() as double:
        yield double


@pytest.fixture
def xero_double():
    """The Xero double of the demo organisations (default limits, real clock), on 127.0.0.1.

    Point the SDK at `xero_double.env["XERO_API_URL"]` (identity/connections at `xero_double.url`); get a token set
    with `xero_double.grant()`. Tests may set `latency`, queue `faults`, read `requests` and the stored records.
    """
    from pexxero.sandbox.xero_double import XeroDouble

    with XeroDouble() as double:
        yield double


@pytest.fixture
def sandbox(tmp_path) -> Iterator[SandboxEnv]:
    """Doubles + temp DB + a connected Connection with the sandbox setup (receipts attached)."""
    with open_sandbox(tmp_path) as env:
        yield env


@pytest.fixture(scope="module")
def doubles():
    """Both doubles of the demo business for the page tests, one pair per test module (Xero's minute limit off)."""
    with page_doubles() as sb:
        yield sb


@pytest.fixture
def page_env(doubles, tmp_path, monkeypatch):
    """A fresh temp database in PEXXERO_DB and the doubles' env applied, so the app runs in sandbox mode against
    these doubles; yields the database path."""
    for name, value in doubles.env.items():
        monkeypatch.setenv(name, value)
    db = str(tmp_path / "pexxero.db")
    monkeypatch.setenv("PEXXERO_DB", db)
    monkeypatch.chdir(ROOT)
    yield db


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the test session, on a free port on 127.0.0.1, removed afterwards."""
    from pg_cluster import start_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster, request) -> str:
    """A fresh, empty database in the session's cluster for this test; its postgresql:// URL."""
    import re
    import uuid

    # unique in the cluster: an object's id may come back for a later test, and names are cut to 40 characters
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + f"_{uuid.uuid4().hex[:8]}"
    return pg_cluster.create_database(name)


@pytest.fixture(params=STORES)
def store_target(request, tmp_path):
    """The store's database for a test that runs on both: a SQLite file in tmp_path, then a fresh PostgreSQL
    database (`pg_url`). `-m "not postgresql"` runs the SQLite half alone."""
    if request.param == "sqlite":
        return tmp_path / "pexxero.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sandbox_on_both(tmp_path, store_target) -> Iterator[SandboxEnv]:
    """The `sandbox` fixture on each store (a module that runs on both names it `sandbox`)."""
    with open_sandbox(tmp_path, db=store_target) as env:
        yield env


@pytest.fixture
def store_kind() -> str:
    """"sqlite" unless a test is parametrised over `STORES` (sandbox_env.ON_BOTH_STORES)."""
    return "sqlite"


@pytest.fixture
def store_db(store_kind, tmp_path, request):
    """The database of `store_kind`: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    return tmp_path / "pexxero.db" if store_kind == "sqlite" else request.getfixturevalue("pg_url")
