"""A whole sandbox for engine tests: both doubles on loopback, a temp database, and a connected Connection with the
sandbox setup — the state a user reaches after `connect pex`, `connect xero` and `config import`.

    def test_something(sandbox):  # the fixture, in conftest.py
        run = run_sync(sandbox.conn)
        assert sandbox.references()["PEX-400000001"] == 1

or, outside pytest (a bench script):  `with open_sandbox(tmp_dir) as env: ...`

`open_two_businesses(tmp_dir)` gives both demo businesses on one pair of doubles, each in a database of its own
connected to its own organisation (the isolation tests).

`env.env` holds the variables a child process needs (`python -m pexxero --db env.db_path ...`): the doubles' URLs,
the Xero app credentials; the database's key file sits beside it, so the child decrypts the same credentials.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

from pexxero.clients.endpoints import Endpoints
from pexxero.connection import Connection, open_connection
from pexxero.sandbox import demo
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.seed import sandbox_setup
from pexxero.sandbox.xero_double import XeroDouble
from pexxero.store.backend import is_postgres

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SandboxEnv:
    pex: PexDouble
    xero: XeroDouble
    conn: Connection
    db_path: Path | str  # a file, or a postgresql:// URL
    today: date
    tenant_id: str = demo.TENANT_ID
    env: dict[str, str] = field(default_factory=dict)
    gateway_options: dict = field(default_factory=dict)
    pinned: Optional[date] = None  # "today" as this process's engine sees it, when the test pinned it
    pex_token: str = demo.PEX_TOKEN  # which of the PEX double's businesses this connection reads

    @property
    def business(self):
        """The PEX double's business behind this connection's token (its ledgers, receipts, calls)."""
        return self.pex.business(self.pex_token)

    # ------------------------------------------------------------------------------------ Xero's books

    def references(self) -> Counter:
        """How many records the Xero double holds per `PEX-` reference: spend/receive money and bank transfers
        (a transfer's own SPEND-TRANSFER/RECEIVE-TRANSFER lines are part of the transfer, not records of their own)."""
        records = [t for t in self.xero.bank_transactions(self.tenant_id) if not t["Type"].endswith("-TRANSFER")]
        records += self.xero.bank_transfers(self.tenant_id)
        return Counter(r.get("Reference") for r in records if str(r.get("Reference") or "").startswith("PEX-"))

    def duplicates(self) -> dict[str, int]:
        return {ref: n for ref, n in self.references().items() if n > 1}

    # ------------------------------------------------------------------------------------ receipts

    def receipts_held(self) -> Counter:
        """(reference, PEX attachment id) -> how many times Xero holds that receipt (files are named after it)."""
        held = Counter()
        for tx in self.xero.bank_transactions(self.tenant_id):
            for att in self.xero.attachments(self.tenant_id, tx["BankTransactionID"]):
                held[(tx["Reference"], att["FileName"].rsplit(".", 1)[0])] += 1
        return held

    def receipts_wanted(self) -> set[tuple[str, str]]:
        """Every loaded PEX receipt of every PEX transaction in range that is a bank transaction in Xero now."""
        from pexxero.models import CHANGED, SYNCED

        frame = self.conn.preview(refresh=True, save_plan=False).frame
        written = {f"PEX-{int(r.pex_id)}" for r in frame.itertuples() if r.status in (SYNCED, CHANGED)
                   and r.planned is not None and r.planned.record_type == "BankTransaction"}
        return {(f"PEX-{tx}", a["AttachmentId"]) for tx, atts in self.business.attachments.items()
                for a in atts if f"PEX-{tx}" in written and a["UploadStatus"] == "Loaded"}

    def assert_receipts_once(self) -> None:
        """Each receipt of each written record is in Xero exactly once: none missing, none twice."""
        held = self.receipts_held()
        wanted = self.receipts_wanted()
        assert wanted, "no receipts to check: the test does not exercise receipts"
        assert {k: n for k, n in held.items() if n > 1} == {}
        assert sorted(wanted - set(held)) == []

    def writes_elsewhere(self, since: int = 0) -> list:
        """Write requests (from request number `since`) to any organisation other than the one the sandbox works on
        (there must be none)."""
        return [r for r in self.xero.requests[since:] if r.method in ("PUT", "POST") and "/api.xro/" in r.path
                and (r.tenant_id or "").lower() != self.tenant_id.lower()]

    def assert_exactly_once_here(self) -> None:
        """Every receipt once, none missing, and nothing written into another organisation."""
        self.assert_receipts_once()
        assert self.writes_elsewhere() == []

    def writes(self) -> int:
        """Write requests the Xero double received so far (PUT/POST to the accounting API)."""
        return sum(1 for r in self.xero.requests if r.method in ("PUT", "POST") and "/api.xro/" in r.path)

    # ------------------------------------------------------------------------------------ holding a call

    def held(self) -> bool:
        """A request is being held by a queued "timeout" fault (until `xero.faults.release()`)."""
        return bool(self.xero.faults._releasers)

    def hold_next(self, method: str, path_contains: str) -> None:
        """Hold the next matching request in flight until `release()`: lets a test change Xero mid-run."""
        self.xero.faults.timeout_seconds = 60.0
        self.xero.faults.queue("timeout", method=method, path_contains=path_contains)

    def wait_held(self, timeout: float = 30.0) -> None:
        assert self.xero.wait_for(self.held, timeout), "the request to hold never arrived"

    def release(self) -> None:
        self.xero.faults.release()

    def hold_then(self, method: str, path: str, run: Callable[[], Any], while_held: Callable[[], None], *,
                  timeout: float = 60.0) -> Any:
        """Run `run()` on a thread; when Xero holds its first `method path` request, call `while_held()` (the
        runner is then waiting for Xero and touching nothing), release the request, and return what `run()`
        returned."""
        self.hold_next(method, path)
        box: dict = {}
        worker = threading.Thread(target=lambda: box.update(result=run()))
        worker.start()
        try:
            self.wait_held()
            while_held()
        finally:
            self.release()
            worker.join(timeout)
        return box["result"]

    # ------------------------------------------------------------------------------------ PEX side

    def expire_pex_cache(self) -> None:
        """Make the next plan re-read PEX (the local copy is otherwise reused for ten minutes)."""
        self.conn.store.expire_pex_reads(self.conn.connection_id)

    def add_pex_purchase(self, amount: str = "-42.17", merchant: str = "Corner Hardware", days_back: int = 1) -> int:
        """A new settled purchase in the PEX double (`days_back` days ago, untagged); returns its TransactionId."""
        from datetime import datetime, time, timedelta
        from decimal import Decimal

        rows = self.business.transactions["cardholder"]
        tx_id = max(r["TransactionId"] for r in rows) + 1
        when = datetime.combine(self.today - timedelta(days=days_back), time(11, 30))
        row = demo._pex_row(rows[0]["AcctId"], "Network", "Spend", Decimal(amount), when, merchant,
                            TransactionId=tx_id, MerchantName=merchant, MerchantNameNormalized=merchant,
                            MerchantLocalTime=demo.pex_time(when), AuthTransactionId=demo.AUTH_TX_BASE + tx_id)
        rows.append(row)
        return tx_id

    # ------------------------------------------------------------------------------------ connections

    def connection(self) -> Connection:
        """Another Connection on the same database (as a second process or page would open it)."""
        return make_connection(self.db_path, self.env, self.gateway_options, today=self.pinned)

    def setup(self, **sections) -> None:
        """Replace setup sections, e.g. `env.setup(purchases=replace(setup.purchases, attachments=False))`."""
        self.conn.save_setup(replace(self.conn.setup(), **sections))

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`python -m pexxero --db DB ARGS...` in a child process pointed at the doubles."""
        return subprocess.run([sys.executable, "-m", "pexxero", "--db", str(self.db_path), *args],
                              env=self.child_env(), cwd=str(PROJECT_ROOT), capture_output=True, text=True,
                              timeout=timeout)

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        return env


def make_connection(db_path: Path, env: dict[str, str], gateway_options: Optional[dict] = None, *,
                    today: Optional[date] = None) -> Connection:
    """A Connection whose Xero gateway is built with `gateway_options` (e.g. minute_limit) for tests; with `today`,
    its PEX client counts PEX's 365 days from that day instead of the real one."""
    conn = open_connection(db_path, endpoints=Endpoints.from_env(env))
    if today is not None:
        def pex_factory(c: Connection):
            from pexxero.clients.pex import PexClient

            return PexClient(c.store.load_credentials(c.connection_id, "pex")["token"],
                             base_url=c.endpoints.pex_api_url, today=lambda: today)

        conn.pex_factory = pex_factory
    if gateway_options:
        def factory(c: Connection):
            from pexxero.clients.xero import XeroGateway

            return XeroGateway(demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET, c.store.token_keeper(c.connection_id),
                               c.tenant_id() or None, endpoints=c.endpoints, **gateway_options)

        conn.xero_factory = factory
    return conn


@contextmanager
def pinned_today(day: date) -> Iterator[None]:
    """Today on PEX's clock is `day` for the engine in this process (preview, sync, config import): with both
    doubles generated for the same day, a test sees the demo business exactly as it would be on that date.
    (PEX clients take their own `today`: see `make_connection`.) Child processes keep the real date."""
    import pexxero.clients.pex
    import pexxero.connection
    import pexxero.local_pex

    saved = pexxero.connection.today_eastern, pexxero.local_pex.today_eastern, pexxero.clients.pex.eastern_today
    pexxero.connection.today_eastern = pexxero.local_pex.today_eastern = pexxero.clients.pex.eastern_today = \
        lambda: day
    try:
        yield
    finally:
        pexxero.connection.today_eastern, pexxero.local_pex.today_eastern, pexxero.clients.pex.eastern_today = saved


@contextmanager
def open_sandbox(directory: Path, *, xero: Optional[XeroDouble] = None, pex: Optional[PexDouble] = None,
                 tenant_id: str = demo.TENANT_ID, attachments: bool = True,
                 gateway_options: Optional[dict] = None, today: Optional[date] = None,
                 db: Optional[str | Path] = None) -> Iterator[SandboxEnv]:
    """Start the doubles (or use the given, not yet started ones), connect, import the sandbox setup.

    `db`: the database (a file, or a postgresql:// URL; default pexxero.db in `directory`). A PostgreSQL database
    takes its key from PEXXERO_KEY, so one is set for this process and the children (`env.env`).

    Both doubles are generated for one day (read once: two reads could fall either side of midnight in US
    Eastern time). `today` pins that day for the doubles and for this process's engine (`pinned_today`)."""
    pex = pex or PexDouble(today=today)
    # generous minute limits on both sides, so a test never waits on a rolling minute (tests that are about
    # limits pass their own double and gateway options)
    xero = xero or XeroDouble(today=pex.today, minute_limit=100_000)
    if gateway_options is None:
        gateway_options = {"minute_limit": 100_000}
    pex.start()
    xero.start()
    key = {"PEXXERO_KEY": PG_TEST_KEY} if is_postgres(db) and not os.environ.get("PEXXERO_KEY") else {}
    saved = {k: os.environ.get(k) for k in list(pex.env) + list(xero.env) + list(key)}
    os.environ.update(pex.env)  # the Xero app's client id/secret are read from the environment
    os.environ.update(xero.env)
    os.environ.update(key)
    conn = None
    pin = pinned_today(today) if today is not None else nullcontext()
    pin.__enter__()
    try:
        env = connect_business(db if db is not None else Path(directory) / "pexxero.db", pex, xero,
                               tenant_id=tenant_id, attachments=attachments, gateway_options=gateway_options,
                               today=today, extra_env=key)
        conn = env.conn
        yield env
    finally:
        pin.__exit__(None, None, None)
        if conn is not None:
            conn.close()
        xero.stop()
        pex.stop()
        restore_env(saved)


def restore_env(saved: dict) -> None:
    """Put back the environment variables `saved` held (name -> value, None: it was not set)."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def connect_business(db_path: Path, pex: PexDouble, xero: XeroDouble, *, pex_token: str = demo.PEX_TOKEN,
                     tenant_id: str = demo.TENANT_ID, grant_tenants: Optional[list[str]] = None,
                     attachments: bool = True, gateway_options: Optional[dict] = None,
                     today: Optional[date] = None, extra_env: Optional[dict] = None) -> SandboxEnv:
    """A database at `db_path` connected to the started doubles: the PEX business of `pex_token`, a Xero consent to
    `grant_tenants` (default: `tenant_id` alone) with `tenant_id` chosen, and the sandbox setup imported."""
    env = {**pex.env, **xero.env, **(extra_env or {})}
    conn = make_connection(db_path, env, gateway_options, today=today)
    conn.connect_pex(pex_token)
    conn.connect_xero(xero.grant(grant_tenants or [tenant_id]), tenant_id)
    setup = sandbox_setup(pex.today)
    setup = replace(setup, xero=replace(setup.xero, tenant_id=tenant_id),
                    purchases=replace(setup.purchases, attachments=attachments))
    conn.save_setup(setup)
    return SandboxEnv(pex=pex, xero=xero, conn=conn, db_path=db_path, today=pex.today, tenant_id=tenant_id,
                      env=env, gateway_options=dict(gateway_options or {}), pinned=today, pex_token=pex_token)


@contextmanager
def open_two_businesses(directory: Path, *, attachments: bool = True) -> Iterator[tuple[SandboxEnv, SandboxEnv]]:
    """Both demo businesses on one pair of doubles, each in its own database (a.db, b.db): the first business
    connected to the first organisation, the second to the second, each through a consent that sees both
    organisations (as the bookkeeper's sign-in does), so only the chosen organisation keeps them apart."""
    pex = PexDouble()
    xero = XeroDouble(today=pex.today, minute_limit=100_000)
    options = {"minute_limit": 100_000}
    both = [demo.TENANT_ID, demo.SECOND_TENANT_ID]
    pex.start()
    xero.start()
    saved = {k: os.environ.get(k) for k in list(pex.env) + list(xero.env)}
    os.environ.update({**pex.env, **xero.env})  # the Xero app's client id/secret are read from the environment
    envs: list[SandboxEnv] = []
    try:
        for name, token, tenant in (("a", demo.PEX_TOKEN, demo.TENANT_ID),
                                    ("b", demo.SECOND_PEX_TOKEN, demo.SECOND_TENANT_ID)):
            envs.append(connect_business(Path(directory) / f"{name}.db", pex, xero, pex_token=token, tenant_id=tenant,
                                         grant_tenants=both, attachments=attachments, gateway_options=options))
        yield envs[0], envs[1]
    finally:
        for env in envs:
            env.conn.close()
        xero.stop()
        pex.stop()
        restore_env(saved)


# The two stores, for `pytest.mark.parametrize("store_kind", STORES)` (`ON_BOTH_STORES`): a test that takes
# `store_db` (conftest) runs once on a SQLite file and once on a fresh PostgreSQL database; without the mark,
# `store_kind` is "sqlite". The PostgreSQL half carries the `postgresql` mark.
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
ON_BOTH_STORES = pytest.mark.parametrize("store_kind", STORES)

PG_TEST_KEY = "n2O1ng9ddCnzGv-Mt5U2gi4F-oBMjA31IaBvwGdfV9M="  # a fixed Fernet key for the tests' PostgreSQL stores


def database_at(path: Path, version: int):
    """A database with the first `version` migrations of the store applied and numbered by `user_version`, as
    an older pexxero left it (a migration test then fills it and opens it with today's store)."""
    from sqlite_utils import Database

    from pexxero.store import db as store_db

    db = Database(path)
    for fn in store_db.MIGRATIONS[:version]:
        fn(db)
    db.execute(f"PRAGMA user_version = {version}")
    return db
