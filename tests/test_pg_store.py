"""The store on PostgreSQL: its errors in words, a restart in the middle of a sync, the URL's password never
shown, `db migrate` twice and from two processes at once, and the key kept out of the database's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from sandbox_env import PG_TEST_KEY, open_sandbox

from pexxero import models
from pexxero.models import NEW
from pexxero.secrets import KeyNotSet
from pexxero.store import DatabaseUnreachable, DatabaseUnwritable, Store
from pexxero.store.backend import safe_target
from pexxero.store.pg_backend import LOCK_NAMESPACE, MIGRATE_KEY
from pexxero.store.sync_tables import SyncTables
from pexxero.sync import run_sync

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "S3cret-pw-7781"


def _with_password(url: str) -> str:
    """The same database named with a password (the test cluster trusts loopback, so any password is taken)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}"


def _cli(*args: str, db: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEXXERO_KEY": PG_TEST_KEY, **(env or {})}
    return subprocess.run([sys.executable, "-m", "pexxero", "--db", db, *args], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def pg_store(pg_url, monkeypatch):
    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    store = Store.open(pg_url)
    yield store
    store.close()


def _new_refs(env) -> set[str]:
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


def _exactly_once(env, expected: set[str]) -> None:
    refs = env.references()
    assert expected and {ref: refs[ref] for ref in expected if refs[ref] != 1} == {}
    env.assert_exactly_once_here()


# ------------------------------------------------------------------------------------------ the seam


def test_a_url_picks_postgresql_and_is_shown_without_its_password(pg_url, monkeypatch):
    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    url = _with_password(pg_url)
    with Store.open(url) as store:
        assert store.on_postgres and "connections" in store.table_names()
        assert PASSWORD not in store.target and store.target == safe_target(pg_url)
    with Store.open(pg_url.replace("postgresql://", "postgres://")) as store:
        assert store.on_postgres
    assert safe_target("postgresql://u:p%40ss@h:5433/d?password=x") == "postgresql://u@h:5433/d"


def test_an_unreachable_database_is_said_in_words_without_the_password(pg_cluster):
    url = f"postgresql://someone:{PASSWORD}@127.0.0.1:1/nowhere"
    with pytest.raises(DatabaseUnreachable) as caught:
        Store.open(url)
    assert "cannot be reached" in str(caught.value) and "127.0.0.1:1/nowhere" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    result = _cli("history", db=url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Check that PostgreSQL is running" in result.stderr and PASSWORD not in result.stdout + result.stderr


def test_a_transaction_cut_by_a_restart_raises_the_stores_error_commits_nothing_and_the_next_one_reconnects(
        pg_store, pg_cluster):
    pg_store.set_meta("before", 1)
    with pytest.raises(DatabaseUnreachable) as caught:
        with pg_store.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('cut', '1')")
            pg_cluster.restart()
            db.execute("INSERT INTO meta (key, value) VALUES ('after', '1')")
    assert isinstance(caught.value, DatabaseUnwritable)  # what the sync catches to end a run in words
    assert "in the middle of a transaction, which was not committed" in str(caught.value)
    assert pg_store.meta("cut") is None and pg_store.meta("before") == 1  # a read reconnects
    pg_store.set_meta("later", 2)  # and so does the next transaction
    assert pg_store.meta("later") == 2


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_a_row_a_constraint_refuses_is_a_row_conflict_on_both(store_kind, store_db, monkeypatch):
    from pexxero.store import RowConflict

    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    with Store.open(store_db) as store:
        store.set_meta("taken", 1)
        with pytest.raises(RowConflict):
            with store.transaction() as db:
                db.execute("INSERT INTO meta (key, value) VALUES ('taken', '2')")
        assert store.meta("taken") == 1


def test_write_transactions_queue_behind_each_other_as_on_sqlite(pg_store, pg_url):
    """A second writer waits for the first (the writers' advisory lock), so a read-then-write step - the sync
    lock's - sees what the first committed: two hosts never both take the lock."""
    import threading

    from pexxero.store import AlreadyRunning

    other = Store.open(pg_url)
    cid = pg_store.connection_id()
    first, second = pg_store.queue_run(cid), other.queue_run(cid)
    outcome: list = []

    def take():
        try:
            outcome.append(other.acquire_lock(cid, second))
        except AlreadyRunning as exc:
            outcome.append(exc)

    probe = psycopg.connect(pg_url, autocommit=True)
    try:
        with pg_store.transaction():
            pg_store.acquire_lock(cid, first)  # nested: not committed until the outer transaction is
            worker = threading.Thread(target=take)
            worker.start()
            deadline = time.monotonic() + 60
            while probe.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                ).fetchone()[0] < 1:
                assert time.monotonic() < deadline, "the second writer never waited"
                time.sleep(0.05)
            assert outcome == []  # still waiting while the first transaction is open
        worker.join(60)
        assert len(outcome) == 1 and isinstance(outcome[0], AlreadyRunning) and outcome[0].run_id == first
    finally:
        probe.close()
        other.close()


def test_the_key_of_a_postgresql_store_comes_from_the_environment_not_a_file(pg_url, monkeypatch, tmp_path):
    monkeypatch.delenv("PEXXERO_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    with Store.open(pg_url) as store:
        with pytest.raises(KeyNotSet) as caught:
            store.key_source()
    assert "PEXXERO_KEY" in str(caught.value) and list(tmp_path.iterdir()) == []
    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    with Store.open(pg_url) as store:
        store.save_credentials(store.connection_id(), "pex", {"token": "t"})
        assert store.load_credentials(store.connection_id(), "pex") == {"token": "t"}
        assert store.key_source().origin == "env"


# ------------------------------------------------------------------------------------------ db migrate


def test_db_migrate_twice_says_what_it_did_and_never_shows_the_password(pg_url, capsys, monkeypatch):
    from pexxero import cli

    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    url = _with_password(pg_url)
    said = []
    for args in (["db", "migrate"], ["db", "migrate"], ["history"]):
        assert cli.main(["--db", url, *args]) == 0
        out, err = capsys.readouterr()
        said.append(out + err)
    assert "procrastinate's schema applied" in said[0]
    assert f"{safe_target(pg_url)}: the store's schema is at version" in said[1]
    assert "procrastinate's schema was already there" in said[1]
    assert all(PASSWORD not in text for text in said)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM _pexxero_migrations").fetchone()[0] == 1
        assert conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None


def test_db_migrate_from_two_processes_at_once_applies_everything_once(pg_url):
    # both start while the migration lock is held, so both are waiting on it at the same moment
    holder = psycopg.connect(pg_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, MIGRATE_KEY))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "pexxero", "--db", pg_url, "db", "migrate"], cwd=str(ROOT),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                             ).fetchone()[0] < 2:
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "both never waited"
            time.sleep(0.05)
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, MIGRATE_KEY))
        holder.close()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    said = "".join(out for out, _ in outputs)
    assert said.count("procrastinate's schema applied") == 1
    assert said.count("procrastinate's schema was already there") == 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM _pexxero_migrations").fetchone()[0] == 1


# ------------------------------------------------------------------------------------ a restart mid-sync


@pytest.fixture
def pg_sandbox(tmp_path, pg_url):
    with open_sandbox(tmp_path, db=pg_url) as env:
        yield env


def test_postgresql_restarted_while_a_write_is_in_flight_the_sync_reconnects_or_ends_in_words_and_writes_once(
        pg_sandbox, pg_cluster):
    """The run waits on Xero while the server restarts: its next transaction reconnects and the run goes on (what
    happens here, unless the batch sent behind the held one was committing its intent at that moment: then the
    run ends in words and the rerun finishes)."""
    env = pg_sandbox
    expected = _new_refs(env)
    run = env.hold_then("PUT", "/BankTransactions", lambda: run_sync(env.conn), pg_cluster.restart)
    assert run["status"] in (models.SUCCEEDED, models.FAILED), run
    if run["status"] == models.FAILED:  # it may end in words instead; then the rerun finishes the job
        assert "cannot write its own database" in run["message"]
        run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    _exactly_once(env, expected)
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []


def test_an_intent_cut_by_a_restart_ends_the_run_in_words_before_its_request_and_a_rerun_writes_once(
        pg_sandbox, pg_cluster, monkeypatch):
    env = pg_sandbox
    expected = _new_refs(env)
    original, at_cut = SyncTables.record_intent, []

    def cut(self, *args, **kwargs):
        if not at_cut:
            at_cut.append(env.writes())
            with self.transaction() as db:
                db.execute("SELECT 1")
                pg_cluster.restart()  # the server goes away with this transaction open
                return original(self, *args, **kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncTables, "record_intent", cut)
    run = run_sync(env.conn)
    assert run["status"] == models.FAILED
    assert run["message"].startswith("the sync stopped because it cannot write its own database (the PostgreSQL "
                                     f"database {safe_target(env.db_path)} lost the connection")
    assert env.writes() == at_cut[0]  # the request whose intent was not committed was never sent
    assert run_sync(env.conn)["status"] == models.SUCCEEDED
    _exactly_once(env, expected)


def test_the_dashboards_background_sync_gets_the_url_in_its_environment_not_its_arguments(pg_url, monkeypatch,
                                                                                             tmp_path):
    """`ps` shows every process's arguments to every local user: a password in the URL must not be among them."""
    from pexxero.sync import background

    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    started = {}

    class Child:
        pid = os.getpid()  # a live process: the queued run stays queued

        def __init__(self, args, env, **kwargs):
            started.update(args=args, env=env)

    monkeypatch.setattr(background.subprocess, "Popen", Child)
    url = _with_password(pg_url)
    run_id = background.start_background(url, env={"PATH": os.environ.get("PATH", "")},
                                         log_path=tmp_path / "sync.log")
    assert PASSWORD not in " ".join(started["args"]) and "--db" not in started["args"]
    assert started["env"]["PEXXERO_DB"] == url and started["args"][3:6] == ["sync", "--run-id", str(run_id)]
    with Store.open(pg_url) as store:
        assert store.get_run(run_id)["status"] == models.QUEUED


def test_a_tables_column_names_come_from_either_backend(store_target, monkeypatch):
    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    with Store.open(store_target) as store:
        assert store.backend.column_names(store.db, "meta") == ["key", "value"]
        assert "meta" in store.db.table_names()
        store.connection_id()  # the default connection is id 1; a connection numbered by the database comes after
        with store.transaction() as db:
            db.execute("INSERT INTO connections (name, created_at) VALUES ('second', '')")
        assert [r["id"] for r in store._rows("SELECT id FROM connections ORDER BY id")] == [1, 2]
