"""The fault matrix: each fault Xero, PEX or the local disk can throw, injected *during* a sync started from the
command line, must end the run with a clear status and words (never a traceback) and the exit code of `sync`
(0 succeeded, 2 partial, 3 paused by the day limit, 1 failed); once the fault is cleared, a clean rerun ends
Succeeded with exactly one Xero record per eligible PEX transaction, every receipt attached once, and nothing lost.

| fault                                         | status    | exit |
|-----------------------------------------------|-----------|------|
| Xero 429 minute-limit storm (waited out)      | Succeeded | 0    |
| Xero 429 daily limit                          | Paused    | 3    |
| Xero 500 / 503 / HTML 503 storms              | Failed    | 1    |
| Xero 500s on receipts only                    | Partial   | 2    |
| Xero commit-then-drop storm                   | Failed    | 1    |
| Xero read timeouts (> the retries)            | Failed    | 1    |
| Xero access tokens expire mid-run             | Succeeded | 0    |
| Xero grant revoked mid-run                    | Failed    | 1    |
| PEX outage / 503s / drops during the refresh  | Failed    | 1    |
| PEX outage / drops while receipts are fetched | Partial   | 2    |
| database full / read-only mid-run             | Failed    | 1    |
| disk refuses a child process's writes mid-run | Failed (History: Interrupted) | 1 |
| ... from the start (nothing sent)             | message, no run | 1  |

The sync runs through `pexxero.cli.main` in this process, on a connection whose gateways record their waits
instead of sleeping them (and whose Xero read timeout is short where timeouts are the fault), so the matrix stays
fast; the full-disk case that needs a whole process of its own runs `python -m pexxero sync` as a child.

On PostgreSQL one case of each kind runs (`ON_POSTGRESQL`); the database faults there are a restart mid-sync
(tests/test_pg_store.py), the disk ones stay SQLite's.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest

from pexxero import cli, commands
from pexxero import models
from pexxero.clients.endpoints import Endpoints
from pexxero.connection import open_connection
from pexxero.models import NEW, SYNCED
from pexxero.sandbox import demo
from sandbox_env import PROJECT_ROOT, SandboxEnv, open_sandbox


def _open(env) -> list[dict]:
    """Requests left in flight to the organisation the sandbox works on."""
    return env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)

try:
    import resource  # the disk-refuses-writes cases limit a child's file size (Linux)
except ImportError:  # pragma: no cover - Windows
    resource = None

pytestmark = pytest.mark.slow  # ~50 s: nineteen sandbox syncs with a rerun each

STORM = 60  # more faults than any retry loop makes attempts
TALLY: Counter = Counter()  # faults injected per case, summed in the module's last line of output


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    total = sum(TALLY.values())
    if total:
        print(f"\nfault matrix: {total} faults injected in {len(TALLY)} cases, records lost: 0, receipts lost: 0")


@pytest.fixture
def env(tmp_path, store_db):
    with open_sandbox(tmp_path, attachments=True, db=store_db) as sandbox:
        yield sandbox


# ------------------------------------------------------------------------------------------- helpers


def fast_connection(env: SandboxEnv, sleeps: list, xero_timeout=None):
    """A connection like the command line's, whose clients record their waits instead of sleeping them."""
    from pexxero.clients.pex import PexClient
    from pexxero.clients.xero import XeroGateway

    conn = open_connection(env.db_path, endpoints=Endpoints.from_env(env.env))
    options = {"minute_limit": 100_000, "sleep": sleeps.append}
    if xero_timeout is not None:
        options["timeout"] = xero_timeout
    conn.xero_factory = lambda c: XeroGateway(
        demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET, c.store.token_keeper(c.connection_id), c.tenant_id() or None,
        endpoints=c.endpoints, **options)
    conn.pex_factory = lambda c: PexClient(
        c.store.load_credentials(c.connection_id, "pex")["token"], base_url=c.endpoints.pex_api_url,
        sleep=sleeps.append)
    return conn


@dataclass
class Cli:
    """`python -m pexxero --db DB ...` run through `cli.main` in this process; output captured at the fd level."""

    env: SandboxEnv
    capfd: pytest.CaptureFixture
    monkeypatch: pytest.MonkeyPatch
    xero_timeout: Optional[tuple] = None
    opened: list = field(default_factory=list)
    sleeps: list = field(default_factory=list)

    def __post_init__(self):
        def connect(args):
            conn = fast_connection(self.env, self.sleeps, self.xero_timeout)
            self.opened.append(conn)
            return conn

        self.monkeypatch.setattr(commands, "_conn", connect)

    def __call__(self, *args: str) -> tuple[int, str]:
        self.capfd.readouterr()
        try:
            code = cli.main(["--db", str(self.env.db_path), *args])
        finally:
            for conn in self.opened:
                conn.close()
                conn.store.close()
            self.opened.clear()
        out, err = self.capfd.readouterr()
        return code, out + err


def new_references(env: SandboxEnv) -> set[str]:
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


def xero_faults_served(env: SandboxEnv) -> int:
    """Requests the Xero double answered with a fault so far (it records the fault on each request)."""
    return sum(1 for r in env.xero.requests if r.fault)


def xero_writes(env: SandboxEnv) -> list:
    return [r for r in env.xero.requests if r.method in ("PUT", "POST") and "/api.xro/" in r.path]


def assert_nothing_lost(env: SandboxEnv, expected: set[str]) -> None:
    """Every `new` of the first preview is `synced` now, once each in Xero, each loaded receipt attached once."""
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    assert int((frame["status"] == NEW).sum()) == 0
    status = {f"PEX-{int(r.pex_id)}": r.status for r in frame.itertuples() if r.pex_id is not None}
    assert {ref: status.get(ref) for ref in expected if status.get(ref) != SYNCED} == {}
    refs = env.references()
    assert {ref: refs[ref] for ref in expected if refs[ref] != 1} == {}
    assert env.duplicates() == {}
    assert _open(env) == []

    env.assert_exactly_once_here()  # every loaded PEX receipt of every written record, once, none missing


def assert_clear_words(code: int, output: str, status: str, exit_code: int, words: str) -> None:
    assert code == exit_code, output
    assert "Traceback" not in output and 'File "' not in output, output
    assert f": {status} — " in output, output
    assert words in output, output


# ------------------------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[SandboxEnv], None]
    status: str
    exit_code: int
    words: str
    retry_failed: bool = True  # the run left items behind that `sync --retry-failed` pushes
    clear: Callable[[SandboxEnv], None] = lambda env: None
    xero_timeout: Optional[tuple] = None
    rerun_words: str = "written to Xero"  # what `sync --retry-failed` says it finished


def xero(kind: str, method: str, path: str, count: int = STORM):
    return lambda env: env.xero.faults.queue(kind, method=method, path_contains=path, count=count)


def pex(kind: str, path: str, count: int = STORM):
    return lambda env: env.pex.faults.queue(kind, path_contains=path, count=count)


def reconnect_xero(env: SandboxEnv) -> None:
    """What the user does after "Xero session failed": consent again (a fresh grant)."""
    env.conn.connect_xero(env.xero.grant([env.tenant_id]), env.tenant_id)


def clear_all(env: SandboxEnv) -> None:
    env.xero.faults.clear()
    env.pex.faults.clear()


UNAVAILABLE = "Xero did not answer"
PEX_DOWN = "PEX did not answer"

MATRIX = [
    # after the bank transactions were written, the transfers meet the fault
    # a minute limit passes by itself: its Retry-Afters are waited out (recorded, not slept) within the run
    Fault("xero-429-minute-storm", xero("429", "PUT", "/BankTransfers"), "Succeeded", 0, "written to Xero",
          retry_failed=False),
    Fault("xero-429-minute-storm-on-receipts", xero("429", "PUT", "/Attachments/"), "Succeeded", 0,
          "receipts attached", retry_failed=False),
    Fault("xero-commit-then-drop-on-receipts", xero("commit_then_drop", "PUT", "/Attachments/", 3), "Succeeded", 0,
          "receipts attached", retry_failed=False),
    Fault("xero-commit-then-drop-storm-on-receipts", xero("commit_then_drop", "PUT", "/Attachments/"), "Partial", 2,
          "receipts could not be attached", rerun_words="receipts attached"),
    Fault("xero-429-day-limit", xero("429_day", "PUT", "/BankTransfers", 1), "Paused", 3, "daily limit"),
    Fault("xero-500-storm", xero("500", "PUT", "/BankTransfers"), "Failed", 1, UNAVAILABLE),
    Fault("xero-503-storm-on-reads", xero("503", "GET", "/BankTransactions"), "Failed", 1, UNAVAILABLE,
          retry_failed=False),
    Fault("xero-html-503-storm", xero("html_503", "PUT", "/BankTransactions"), "Failed", 1, UNAVAILABLE),
    Fault("xero-500s-on-receipts", xero("500", "PUT", "/Attachments", 8), "Partial", 2,
          "receipts could not be attached", rerun_words="receipts attached"),
    Fault("xero-commit-then-drop-storm", xero("commit_then_drop", "PUT", "/BankTransfers"), "Failed", 1,
          UNAVAILABLE),
    Fault("xero-read-timeouts", xero("timeout", "PUT", "/BankTransfers"), "Failed", 1, "a timeout",
          xero_timeout=(5.0, 0.3)),
    Fault("xero-tokens-expire", xero("expire_tokens", "PUT", "/BankTransfers", 1), "Succeeded", 0,
          "written to Xero", retry_failed=False),
    Fault("xero-grant-revoked", xero("revoke", "PUT", "/BankTransfers", 1), "Failed", 1,
          "Xero session failed: re-connect Xero", clear=reconnect_xero),
    Fault("pex-outage-from-the-refresh-on", lambda env: setattr(env.pex.faults, "outage", True), "Failed", 1,
          PEX_DOWN, retry_failed=False),
    Fault("pex-503s-during-refresh", pex("503", "transactiondetails"), "Failed", 1, PEX_DOWN,
          retry_failed=False),
    Fault("pex-drops-during-refresh", pex("drop", "allcardholdertransactions"), "Failed", 1, PEX_DOWN,
          retry_failed=False),
    Fault("pex-503s-while-receipts-are-fetched", pex("503", "/attachment", STORM), "Partial", 2, PEX_DOWN,
          rerun_words="receipts attached"),
    Fault("pex-drops-while-receipts-are-fetched", pex("drop", "/attachment", STORM), "Partial", 2, PEX_DOWN,
          rerun_words="receipts attached"),
]


# on PostgreSQL, one case of each kind: a write storm whose answers are dropped after Xero committed, the day
# limit's pause, the grant revoked (the token keeper's lock and a re-connect); receipts committed then dropped
# run there in the crash suite
ON_POSTGRESQL = ("xero-commit-then-drop-storm", "xero-429-day-limit", "xero-grant-revoked")


@pytest.mark.parametrize("fault", MATRIX, ids=[f.name for f in MATRIX])
def test_a_fault_during_a_sync_ends_clearly_and_a_clean_rerun_loses_nothing(env, capfd, monkeypatch, fault):
    fault_then_clean_rerun(env, capfd, monkeypatch, fault)


@pytest.mark.postgresql
@pytest.mark.parametrize("store_kind", ["postgresql"])
@pytest.mark.parametrize("fault", [f for f in MATRIX if f.name in ON_POSTGRESQL],
                         ids=[f.name for f in MATRIX if f.name in ON_POSTGRESQL])
def test_on_postgresql_a_fault_during_a_sync_ends_clearly_and_a_clean_rerun_loses_nothing(env, capfd, monkeypatch,
                                                                                          fault):
    fault_then_clean_rerun(env, capfd, monkeypatch, fault)


def fault_then_clean_rerun(env, capfd, monkeypatch, fault: Fault) -> None:
    expected = new_references(env)
    env.expire_pex_cache()  # the sync re-reads PEX: its refresh is one of the places faults hit
    xero_before = xero_faults_served(env)
    fault.inject(env)
    pex_queued, pex_calls = env.pex.faults.pending, len(env.pex.requests)
    run_cli = Cli(env, capfd, monkeypatch, xero_timeout=fault.xero_timeout)
    code, output = run_cli("sync")
    assert_clear_words(code, output, fault.status, fault.exit_code, fault.words)
    served = xero_faults_served(env) - xero_before + pex_queued - env.pex.faults.pending
    if env.pex.faults.outage:  # every PEX call of the run was answered 503
        served += len(env.pex.requests) - pex_calls
    assert served > 0
    TALLY[fault.name] += served
    assert env.duplicates() == {}

    clear_all(env)
    fault.clear(env)
    plain = Cli(env, capfd, monkeypatch)
    if fault.retry_failed:
        code, output = plain("sync", "--retry-failed")
        assert_clear_words(code, output, "Succeeded", 0, fault.rerun_words)
    code, output = plain("sync")
    assert_clear_words(code, output, "Succeeded", 0, "")
    assert_nothing_lost(env, expected)


# ------------------------------------------------------------------------------------ the local database


def fill_the_disk(db: sqlite3.Connection) -> None:
    """What a full disk looks like to SQLite: the file may not grow (max_page_count) and its free space is used up,
    so the next write that needs a page fails with SQLITE_FULL."""
    db.execute("CREATE TABLE IF NOT EXISTS disk_filler (b BLOB)")
    db.commit()
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    for size in (4000, 1000, 200, 40, 1):
        while True:
            try:
                db.execute("INSERT INTO disk_filler VALUES (zeroblob(?))", [size])
                db.commit()
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)
                db.rollback()
                break


def assert_every_write_had_its_intent(env: SandboxEnv) -> None:
    """An intent that could not be committed was never sent: each write Xero saw has its intent on disk."""
    keys = {row[0] for row in env.conn.store.db.execute("SELECT key FROM intents")}
    sent = {r.idempotency_key for r in xero_writes(env) if r.idempotency_key}
    assert sent and sent - keys == set()


def test_a_full_disk_after_the_plan_stops_before_the_next_request_and_a_rerun_finishes(env, capfd, monkeypatch):
    env.add_pex_purchase(merchant="Brand New Merchant")  # a contact to create, whatever the date
    expected = new_references(env)
    run_cli = Cli(env, capfd, monkeypatch)
    # the contacts the plan needs are being created when the disk fills: the first batch's intent cannot be kept
    code, output = env.hold_then("PUT", "/Contacts", lambda: run_cli("sync"),
                             lambda: fill_the_disk(run_cli.opened[0].store.db.conn))
    assert_clear_words(code, output, "Failed", 1, "cannot write its own database (database or disk is full)")
    TALLY["database-full"] += 1
    writes = xero_writes(env)
    assert [r.path.rsplit("/", 1)[-1] for r in writes] == ["Contacts"]  # nothing after the held request
    assert_every_write_had_its_intent(env)
    assert env.conn.store.list_runs(env.conn.connection_id)[0]["status"] == models.FAILED

    env.conn.store.db.execute("DROP TABLE disk_filler")  # space is freed
    rerun_after_the_disk_is_back(env, capfd, monkeypatch, expected)


def rerun_after_the_disk_is_back(env, capfd, monkeypatch, expected: set[str]) -> None:
    """Retry-failed takes what the stopped run left, a plain sync then finds nothing more, and nothing is lost."""
    again = Cli(env, capfd, monkeypatch)
    code, output = again("sync", "--retry-failed")
    assert_clear_words(code, output, "Succeeded", 0, "written to Xero")
    code, output = again("sync")
    assert_clear_words(code, output, "Succeeded", 0, "")
    assert_nothing_lost(env, expected)


def test_a_database_turned_read_only_mid_run_stops_at_once_and_says_so(env, capfd, monkeypatch):
    expected = new_references(env)
    run_cli = Cli(env, capfd, monkeypatch)
    written_before = []

    def read_only():
        written_before.extend(xero_writes(env))
        run_cli.opened[0].store.db.conn.execute("PRAGMA query_only = ON")

    # the bank transactions are in Xero, the transfers are in flight when the database stops taking writes
    code, output = env.hold_then("PUT", "/BankTransfers", lambda: run_cli("sync"), read_only)
    assert_clear_words(code, output, "Failed", 1, "readonly database")
    TALLY["database-read-only"] += 1
    assert len(xero_writes(env)) == len(written_before)  # the held request was the last one sent
    assert_every_write_had_its_intent(env)
    assert _open(env)  # its answer could not be kept: recovery's job
    # the run's end was written through a fresh connection, and its lock freed: the rerun need not wait for it
    last = env.conn.store.list_runs(env.conn.connection_id)[0]
    assert last["status"] == models.FAILED and "readonly database" in last["message"]
    assert env.conn.store.db.execute("SELECT COUNT(*) FROM sync_locks").fetchone()[0] == 0

    rerun_after_the_disk_is_back(env, capfd, monkeypatch, expected)


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_a_disk_that_refuses_a_child_process_every_write_ends_in_words_and_history_says_interrupted(env):
    """The whole `python -m pexxero sync` process may no longer write any file (RLIMIT_FSIZE set from outside,
    mid-run): it cannot even record its own end, yet it says what happened, and the next sync takes over."""
    expected = new_references(env)
    proc = subprocess.Popen([sys.executable, "-m", "pexxero", "--db", str(env.db_path), "sync"],
                            env=env.child_env(), cwd=str(PROJECT_ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    env.hold_next("PUT", "/BankTransfers")
    try:
        env.wait_held(60)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, 1))
        before = len(xero_writes(env))
    finally:
        env.release()
    out, err = proc.communicate(timeout=60)
    TALLY["disk-refuses-writes"] += 1
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    assert ": Failed — " in out and "cannot write its own database" in out, out + err
    assert len(xero_writes(env)) == before
    assert_every_write_had_its_intent(env)

    result = env.cli("sync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeeded" in result.stdout
    history = env.conn.store.list_runs(env.conn.connection_id)
    assert history[1]["status"] == models.INTERRUPTED
    assert_nothing_lost(env, expected)


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_a_sync_that_cannot_write_its_database_from_the_start_sends_nothing_and_says_so(env):
    new_references(env)
    writes = len(xero_writes(env))
    result = subprocess.run([sys.executable, "-m", "pexxero", "--db", str(env.db_path), "sync"],
                            env=env.child_env(), cwd=str(PROJECT_ROOT), capture_output=True, text=True, timeout=60,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1)))
    TALLY["disk-refuses-writes-from-the-start"] += 1
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "pexxero cannot write its database" in result.stderr and "nothing was sent to Xero" in result.stderr
    assert len(xero_writes(env)) == writes
