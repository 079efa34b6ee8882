"""The sync runner meets Xero misbehaving (the double's fault switches): retries that write once, a session that
fails, the daily limit, Cancel, and the one-sync-per-connection lock. The representative cases (`ON_BOTH_STORES`:
retries that write once, the lock refusing a second sync and taking over a dead one) run on PostgreSQL too (the
daily limit's pause there: in the fault matrix)."""

from __future__ import annotations

import threading
import time

import pytest

from pexxero import models
from pexxero.store import sync_tables
from pexxero.models import NEW
from pexxero.sandbox import demo
from pexxero.sync import PIPELINE, SESSION_FAILED, run_sync
from sandbox_env import ON_BOTH_STORES, open_sandbox


def _open(env) -> list[dict]:
    """Requests left in flight to the organisation the sandbox works on."""
    return env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)


@pytest.fixture
def env(tmp_path, store_db):
    """The sandbox (with receipts), whose gateway records its waits instead of sleeping them."""
    sleeps: list[float] = []
    with open_sandbox(tmp_path, attachments=True, db=store_db,
                      gateway_options={"minute_limit": 100_000, "sleep": sleeps.append}) as sandbox:
        sandbox.sleeps = sleeps
        yield sandbox


def _expected(env) -> set[str]:
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


def _exactly_once(env, expected: set[str]) -> None:
    refs = env.references()
    assert {ref: refs[ref] for ref in expected if refs[ref] != 1} == {}
    env.assert_exactly_once_here()


@ON_BOTH_STORES
def test_429s_5xx_dropped_and_cut_answers_are_retried_and_write_exactly_once(env):
    env.add_pex_purchase(merchant="Brand New Merchant")  # a contact to create, whatever the date
    expected = _expected(env)
    faults = env.xero.faults
    faults.queue("429", method="PUT", path_contains="/BankTransactions", count=2)
    faults.queue("500", method="PUT", path_contains="/BankTransactions")
    faults.queue("commit_then_drop", method="PUT", path_contains="/BankTransactions")
    faults.queue("html_503", method="GET", path_contains="/Organisation")
    faults.queue("503", method="PUT", path_contains="/Contacts")
    faults.queue("truncated_json", method="PUT", path_contains="/BankTransfers")
    faults.queue("commit_then_drop", method="PUT", path_contains="/BankTransfers")
    faults.queue("commit_then_drop", method="PUT", path_contains="/Attachments/")
    faults.queue("429", method="PUT", path_contains="/Attachments/", count=3)

    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert faults.pending == []
    assert run["written"] == len(expected)
    _exactly_once(env, expected)
    assert 1.0 in env.sleeps  # the double's Retry-After: 1 was honoured
    # every resend of a write carried the key of its first attempt
    keys = [r.idempotency_key for r in env.xero.requests if r.method == "PUT" and r.path.endswith("/BankTransactions")]
    assert len(keys) > len(set(keys))
    dropped = [r for r in env.xero.requests if r.dropped]
    assert len(dropped) == 3


def test_a_storm_of_minute_limit_429s_and_a_503_is_waited_out_and_the_first_sync_finishes(env):
    expected = _expected(env)
    env.xero.faults.queue("429", method="PUT", path_contains="/BankTransactions", count=15)
    env.xero.faults.queue("503", method="PUT", path_contains="/BankTransactions")
    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert env.xero.faults.pending == []
    _exactly_once(env, expected)
    assert env.sleeps.count(1.0) >= 15  # each Retry-After: 1 waited out (recorded, not slept)
    assert _open(env) == []


def test_429s_beyond_the_waiting_budget_fail_the_run_and_the_next_run_finishes_the_job(tmp_path):
    sleeps: list[float] = []
    with open_sandbox(tmp_path, attachments=True, gateway_options={"minute_limit": 100_000, "sleep": sleeps.append,
                                                                   "max_rate_wait": 10}) as env:
        expected = _expected(env)
        env.xero.faults.queue("429", method="PUT", path_contains="/BankTransactions", count=50)
        run = run_sync(env.conn)
        assert run["status"] == models.FAILED
        assert "Xero did not answer" in run["message"]
        assert not set(env.references()) & {r for r in expected}
        assert _open(env)  # the batch in flight is remembered
        env.xero.faults.clear()

        again = run_sync(env.conn)
        assert again["status"] == models.SUCCEEDED, again["message"]
        _exactly_once(env, expected)
        assert _open(env) == []


def test_tokens_expiring_mid_run_are_refreshed_invisibly(env):
    expected = _expected(env)
    env.xero.faults.queue("expire_tokens", method="PUT", path_contains="/BankTransactions")
    refreshes = env.conn.xero().refreshes
    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert env.conn.xero().refreshes > refreshes
    _exactly_once(env, expected)


def test_a_revoked_grant_fails_the_run_as_a_session_failure_and_writes_nothing(env):
    _expected(env)
    env.xero.faults.queue("revoke", method="GET")
    writes = env.writes()
    run = run_sync(env.conn)
    assert run["status"] == models.FAILED
    assert run["message"] == SESSION_FAILED
    assert env.writes() == writes

    result = env.cli("sync")
    assert result.returncode == 1
    assert SESSION_FAILED in result.stdout
    assert "connect xero" in result.stderr
    assert env.writes() == writes
    token = env.conn.store.load_credentials(env.conn.connection_id, "xero") or {}
    for secret in (demo.XERO_CLIENT_SECRET, token.get("refresh_token"), token.get("access_token")):
        assert not secret or secret not in result.stdout + result.stderr + run["message"]


def test_the_daily_limit_pauses_the_run_with_exit_code_3_and_the_next_run_resumes(env):
    expected = _expected(env)
    env.xero.faults.queue("429_day", method="PUT", path_contains="/BankTransactions")
    result = env.cli("sync")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Paused" in result.stdout
    paused = env.conn.store.list_runs(env.conn.connection_id)[0]
    assert paused["status"] == models.PAUSED and paused["resume_at"]
    assert "daily limit" in paused["message"]

    result = env.cli("sync")
    assert result.returncode == 0, result.stdout + result.stderr
    _exactly_once(env, expected)


def test_cancel_stops_after_the_request_in_flight_and_a_rerun_completes(env):
    expected = _expected(env)
    env.xero.latency = 0.05
    store, cid = env.conn.store, env.conn.connection_id
    run_id = store.queue_run(cid)
    env.hold_next("PUT", "/BankTransactions")
    box = {}
    worker = threading.Thread(target=lambda: box.update(run=run_sync(env.connection(), run_id=run_id, batch_size=5)))
    worker.start()
    env.wait_held()
    # the batch behind the held one is sent without waiting for it (PIPELINE): wait until it has left too
    assert env.xero.wait_for(lambda: sum(1 for r in env.xero.requests if r.method == "PUT"
                                         and r.path.endswith("/BankTransactions")) >= PIPELINE, 30)
    other = env.connection()  # as the dashboard's Cancel button would, from its own connection
    other.store.request_cancel(run_id)
    env.release()
    worker.join(60)
    run = box["run"]
    assert run["status"] == models.CANCELLED
    items = store.items(run_id)
    created = {it["reference"] for it in items if it["outcome"] == models.CREATED}
    # the batches in flight (the held one and the one sent behind it) finished and were recorded; no more were sent
    assert len(created) == 5 * PIPELINE
    assert len([r for r in env.xero.requests if r.method == "PUT" and "/BankTransactions" in r.path]) == PIPELINE
    assert {it["outcome"] for it in items} <= {models.CREATED, models.PLANNED, models.ITEM_SKIPPED}
    assert set(env.references()) & expected == created
    assert store.open_intents(cid, tenant_id=env.tenant_id) == []

    again = run_sync(env.conn)
    assert again["status"] == models.SUCCEEDED, again["message"]
    assert again["written"] == len(expected) - 5 * PIPELINE
    _exactly_once(env, expected)


@ON_BOTH_STORES
def test_a_second_concurrent_sync_is_refused(env):
    env.hold_next("GET", "/Accounts")
    box = {}
    worker = threading.Thread(target=lambda: box.update(run=run_sync(env.connection())))
    worker.start()
    env.wait_held()
    with pytest.raises(sync_tables.AlreadyRunning):
        run_sync(env.connection())
    refused = env.conn.store.list_runs(env.conn.connection_id)[0]
    assert refused["status"] == models.FAILED and refused["message"].startswith("not started")
    result = env.cli("sync")
    assert result.returncode == 1 and "already running" in result.stderr
    env.release()
    worker.join(60)
    assert box["run"]["status"] == models.SUCCEEDED


@ON_BOTH_STORES
def test_a_stale_lock_is_taken_over_and_its_run_marked_interrupted(env):
    store, cid = env.conn.store, env.conn.connection_id
    dead = store.queue_run(cid)
    long_ago = time.time() - 10 * sync_tables.STALE_AFTER
    store.acquire_lock(cid, dead, clock=lambda: long_ago)
    store.update_run(dead, status=models.RUNNING, heartbeat_at=long_ago, started_at=sync_tables.now_iso())
    assert env.conn.running() is None  # a dead heartbeat is not a running sync

    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert store.get_run(dead)["status"] == models.INTERRUPTED
    assert store.db.execute("SELECT COUNT(*) FROM sync_locks").fetchone()[0] == 0


def test_a_live_lock_is_not_taken_over(env):
    store, cid = env.conn.store, env.conn.connection_id
    alive = store.queue_run(cid)
    store.acquire_lock(cid, alive)
    store.update_run(alive, status=models.RUNNING, heartbeat_at=time.time())
    writes = env.writes()
    with pytest.raises(sync_tables.AlreadyRunning):
        run_sync(env.conn)
    assert store.get_run(alive)["status"] == models.RUNNING
    assert env.writes() == writes


def test_the_same_key_sent_twice_at_once_creates_once_and_both_get_the_same_answer(env):
    """A resend that reaches Xero while the first request is still being processed waits for it and replays
    its answer (what recovery relies on when it resends a batch a dead run left in flight)."""
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    records = [p for p in frame[frame["status"] == NEW]["planned"] if p.record_type == "BankTransaction"][:3]
    env.xero.latency = 0.2
    results = {}
    start = threading.Barrier(2)

    def send(n):
        gateway = env.connection().xero()
        start.wait()
        results[n] = gateway.create_bank_transactions(records, "same-key-for-both")

    workers = [threading.Thread(target=send, args=(n,)) for n in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert [r.xero_id for r in results[1]] == [r.xero_id for r in results[2]]
    assert all(r.ok for r in results[1])
    refs = env.references()
    assert all(refs[r.reference] == 1 for r in records)
    assert sum(1 for r in env.xero.requests if r.idempotency_key == "same-key-for-both") == 2


def test_a_queued_run_whose_process_died_before_taking_the_lock_is_interrupted_not_running(tmp_path):
    """The dashboard's SYNC queues a run and starts `python -m pexxero sync` for it; a child that dies before it
    takes the lock (killed, or unable to start) must not leave the run queued, blocking every later sync."""
    import os

    from pexxero.store import Store
    from pexxero.sync import start_background

    db_path = tmp_path / "books.db"
    dies = tmp_path / "dies_at_start"
    dies.mkdir()
    (dies / "sitecustomize.py").write_text("import os\nos._exit(9)\n", encoding="utf-8")  # before any pexxero code
    child_env = {**os.environ, "PYTHONPATH": str(dies)}
    run_id = start_background(db_path, env=child_env, log_path=tmp_path / "sync.log")
    with Store.open(db_path) as store:
        cid = store.connection_id()
        pid = store.get_run(run_id)["pid"]
        assert pid and pid != os.getpid(), "the run names the child that is to run it"
        # wait for the child's end, leaving it a zombie as the dashboard does (it never waits for its children)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        assert store.get_run(run_id)["status"] == models.QUEUED

        assert store.running_run(cid) is None
        run = store.get_run(run_id)
        assert run["status"] == models.INTERRUPTED and run["ended_at"]
        assert "ended before it started" in run["message"] and "start the sync again" in run["message"]
    assert oct((tmp_path / "sync.log").stat().st_mode & 0o777) == "0o600"  # the child's log: the owner's alone
    # the next SYNC is not refused as "already running"
    again = start_background(db_path, env=child_env, log_path=tmp_path / "sync.log")
    assert again == run_id + 1
    with Store.open(db_path) as store:
        os.waitid(os.P_PID, store.get_run(again)["pid"], os.WEXITED)


def test_a_queued_run_whose_process_is_alive_still_counts_as_running(tmp_path):
    from pexxero.store import Store

    with Store.open(tmp_path / "books.db") as store:
        cid = store.connection_id()
        run_id = store.queue_run(cid)  # this very process: alive
        assert store.running_run(cid)["id"] == run_id
        assert store.get_run(run_id)["status"] == models.QUEUED
