"""Fleet mode's queue: `sync --queue` defers one job per connection and returns, a connection already queued is not
queued twice, a worker runs the job (the same sync as the command line), `jobs` and `list_jobs` say who ran what,
and the nightly tick queues every connection when the workspace's cron matches, in its time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from pexxero import models
from pexxero.clients import xero_calls
from pexxero.fleet import app as fleet_app
from pexxero.fleet import list_jobs, queue_syncs, tasks
from pexxero.store.pg_limits import PgCallLimiter


@pytest.fixture
def fleet(sandbox, pg_url, monkeypatch):
    """The sandbox with its queue in a fresh PostgreSQL database, a small business (the last 20 days of PEX),
    and this process's Xero limiter shared through that database (the double's generous minute, so no wait)."""
    monkeypatch.setenv(fleet_app.QUEUE_URL_ENV, pg_url)
    fleet_app.migrate(pg_url)
    fleet_app.migrate(pg_url)  # idempotent
    setup = sandbox.conn.setup()
    sandbox.setup(pex=replace(setup.pex, start_date=sandbox.today - timedelta(days=20)))
    limiter = PgCallLimiter(pg_url, minute_limit=100_000)
    monkeypatch.setattr(xero_calls, "_shared", limiter)
    yield SimpleNamespace(env=sandbox, url=pg_url, db=str(sandbox.db_path), limiter=limiter)
    limiter.close()


def test_queued_once_then_run_by_a_worker(fleet):
    from pexxero.fleet.worker import run_worker

    first = queue_syncs(fleet.db)
    again = queue_syncs(fleet.db)
    assert [q.already for q in first] == [""]
    assert [(q.job_id, q.already) for q in again] == [(first[0].job_id, "queued")]  # not queued twice
    [queued] = list_jobs(fleet.db)
    assert (queued.job_id, queued.connection, queued.status, queued.worker) == (first[0].job_id, "default",
                                                                                "queued", "")
    assert queued.queued_at is not None and queued.started_at is None

    assert run_worker(fleet.db, name="w-one", wait=False) == 0  # drains the queue, then stops

    [done] = list_jobs(fleet.db, status="done")
    assert done.worker.startswith("w-one@")
    assert done.run_status == models.SUCCEEDED and done.run_id is not None
    assert done.started_at is not None and done.ended_at >= done.started_at
    run = fleet.env.conn.run(done.run_id)
    assert run["status"] == models.SUCCEEDED and run["written"] > 0
    assert fleet.env.duplicates() == {}
    fleet.env.assert_exactly_once_here()
    # every call went through the shared limiter: its minute holds the organisation's calls
    assert fleet.limiter.calls_in_window().get(fleet.env.tenant_id, 0) >= run["calls"]
    # done: the next request queues a new job
    [later] = queue_syncs(fleet.db)
    assert later.already == "" and later.job_id != done.job_id


def cli(db: str, capsys, *args: str) -> SimpleNamespace:
    """`python -m pexxero --db DB ARGS` in this process (the same parser and handlers, without a process start)."""
    from pexxero.cli import main

    capsys.readouterr()
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


def test_the_command_line_queues_and_lists(fleet, capsys):
    queued = cli(fleet.db, capsys, "sync", "--all", "--queue")
    assert queued.returncode == 0, queued.stderr
    assert "default (queued)" in queued.stdout and "1 queued" in queued.stdout
    again = cli(fleet.db, capsys, "sync", "--queue")
    assert "(already queued)" in again.stdout
    listed = cli(fleet.db, capsys, "jobs")
    assert listed.returncode == 0, listed.stderr
    assert "default" in listed.stdout and "queued" in listed.stdout
    assert fleet.url not in queued.stdout + listed.stdout  # the database URL (it may hold a password) is not said
    assert cli(fleet.db, capsys, "jobs", "--status", "done").stdout.strip() == "No sync jobs."


def test_without_postgresql_queueing_is_refused_in_words(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(fleet_app.QUEUE_URL_ENV, raising=False)
    db = str(tmp_path / "pexxero.db")
    done = cli(db, capsys, "sync", "--queue")
    assert done.returncode == 1
    assert "fleet mode needs PostgreSQL" in done.stderr and "Traceback" not in done.stderr
    assert cli(db, capsys, "jobs").returncode == 1


def _utc(*parts) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()


def test_the_nightly_cron_reads_in_its_time_zone():
    assert tasks.cron_matches("15 2 * * *", "UTC", _utc(2026, 3, 1, 2, 15, 30))
    assert not tasks.cron_matches("15 2 * * *", "UTC", _utc(2026, 3, 1, 2, 16))
    # 02:15 in New York is 07:15 UTC in winter, 06:15 UTC in summer
    assert tasks.cron_matches("15 2 * * *", "America/New_York", _utc(2026, 1, 10, 7, 15))
    assert tasks.cron_matches("15 2 * * *", "America/New_York", _utc(2026, 7, 10, 6, 15))
    assert not tasks.cron_matches("15 2 * * *", "America/New_York", _utc(2026, 7, 10, 2, 15))


def test_the_nightly_tick_queues_every_connection_once(fleet, capsys):
    from pexxero.errors import PexxeroError

    assert tasks.nightly_schedule(fleet.db) == (tasks.DEFAULT_NIGHTLY_CRON, "UTC")
    with pytest.raises(PexxeroError, match="not a cron"):
        tasks.set_nightly_schedule(fleet.db, cron="every night")
    with pytest.raises(PexxeroError, match="not a time zone"):
        tasks.set_nightly_schedule(fleet.db, zone="Mars/Olympus")
    assert tasks.set_nightly_schedule(fleet.db, cron="30 1 * * *", zone="Europe/London") == \
        ("30 1 * * *", "Europe/London")
    context = SimpleNamespace(additional_context={"queue_url": fleet.url, "workspace": fleet.db})
    assert tasks.nightly(context, int(_utc(2026, 1, 5, 2, 30)), "") == []  # 02:30 UTC is 02:30 in London: no
    queued = tasks.nightly(context, int(_utc(2026, 1, 5, 1, 30)), "")  # 01:30 in London in January
    assert len(queued) == 1
    assert tasks.nightly(context, int(_utc(2026, 1, 5, 1, 30)), "") == []  # already queued
    assert [j.job_id for j in list_jobs(fleet.db, status="queued")] == queued
    shown = cli(fleet.db, capsys, "nightly")
    assert "30 1 * * * (Europe/London)" in shown.stdout


def test_job_rows_never_hold_a_database_password():
    ref = tasks.ConnectionRef("postgresql://fleet:s3cret-pw@db.example:5433/pexxero", 7, "acme")
    assert ref.job_db == ""
    assert "s3cret-pw" not in ref.lock and ref.lock == "pexxero-sync:pg:db.example:5433/pexxero#7"


def test_the_dashboard_s_sync_queues_a_job_in_fleet_mode(fleet):
    from pexxero.sync import start_sync, start_sync_all

    started = start_sync(fleet.db)
    assert started.run_id is None and started.job_id and started.already == ""  # a job, no child process
    again = start_sync(fleet.db)
    assert (again.job_id, again.already) == (started.job_id, "queued")
    assert [(s.job_id, s.already) for s in start_sync_all(fleet.db)] == [(started.job_id, "queued")]
    assert fleet.env.conn.running() is None  # nothing runs until a worker takes the job


def test_a_workspace_in_postgresql_is_its_own_queue(sandbox, pg_url, monkeypatch):
    """The workspace and the queue in one PostgreSQL database: jobs name the workspace as "" (its URL, which may
    hold a password, stays out of the queue's rows and the workers' logs) and the worker syncs from it."""
    from cryptography.fernet import Fernet

    from pexxero.connection import open_connection
    from pexxero.fleet.worker import run_worker
    from pexxero.sandbox import demo
    from pexxero.store import pg_jobs

    monkeypatch.delenv(fleet_app.QUEUE_URL_ENV, raising=False)
    monkeypatch.setenv("PEXXERO_KEY", Fernet.generate_key().decode())
    monkeypatch.setattr(xero_calls, "_shared", None)
    fleet_app.migrate(pg_url)
    setup = sandbox.conn.setup()
    with open_connection(pg_url) as conn:
        conn.connect_pex(demo.PEX_TOKEN)
        conn.connect_xero(sandbox.xero.grant([sandbox.tenant_id]), sandbox.tenant_id)
        conn.save_setup(replace(setup, pex=replace(setup.pex, start_date=sandbox.today - timedelta(days=10))))
    sandbox.conn.save_setup(replace(setup, pex=replace(setup.pex, start_date=sandbox.today)))  # not the SQLite one
    [queued] = queue_syncs(pg_url)
    rows = pg_jobs.job_rows(pg_url, tasks.SYNC_TASK)
    assert [r["args"]["db"] for r in rows] == [""]
    try:
        assert run_worker(pg_url, name="w-pg", wait=False) == 0
    finally:
        limiter = xero_calls.shared_limiter()
        if limiter is not None:
            limiter.close()
    [done] = list_jobs(pg_url)
    assert (done.job_id, done.status, done.run_status) == (queued.job_id, "done", models.SUCCEEDED)
    assert sandbox.writes() > 0 and sandbox.duplicates() == {}
    with open_connection(pg_url) as conn:
        assert conn.run(done.run_id)["status"] == models.SUCCEEDED
