"""A worker stopped mid-sync: SIGTERM lets the request in flight finish, ends the run Interrupted in words and puts
the job back in the queue; SIGKILL leaves the job running with a silent worker, the stalled-job retry queues it
again, and another worker's rerun looks up what was in flight: zero duplicates, zero missing, receipts included."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sandbox_env import PROJECT_ROOT

from pexxero import models
from pexxero.clients import xero_calls
from pexxero.fleet import app as fleet_app
from pexxero.fleet import list_jobs, queue_syncs, tasks
from pexxero.store.pg_limits import PgCallLimiter
from pexxero.sync.base import STOPPING, WORKER_STOPPED

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(sandbox, pg_url, monkeypatch):
    monkeypatch.setenv(fleet_app.QUEUE_URL_ENV, pg_url)
    fleet_app.migrate(pg_url)
    setup = sandbox.conn.setup()
    sandbox.setup(pex=replace(setup.pex, start_date=sandbox.today - timedelta(days=12)))
    limiter = PgCallLimiter(pg_url, minute_limit=100_000)
    monkeypatch.setattr(xero_calls, "_shared", limiter)
    yield SimpleNamespace(env=sandbox, url=pg_url, db=str(sandbox.db_path))
    limiter.close()
    STOPPING.clear()


def start_worker(fleet, name: str) -> subprocess.Popen:
    env = fleet.env.child_env()
    env[fleet_app.QUEUE_URL_ENV] = fleet.url
    return subprocess.Popen([sys.executable, "-m", "pexxero", "--db", fleet.db, "worker", "--name", name],
                            env=env, cwd=str(PROJECT_ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def drain_here(fleet) -> None:
    """Another worker (in this process) takes what is queued and stops when the queue is empty."""
    from pexxero.fleet.worker import run_worker

    assert run_worker(fleet.db, name="w-rescue", wait=False) == 0


def assert_nothing_twice_nothing_missing(fleet) -> None:
    env = fleet.env
    assert env.duplicates() == {}
    env.assert_exactly_once_here()  # receipts: each once, none missing; nothing in another organisation
    env.expire_pex_cache()
    statuses = env.conn.preview(refresh=True, save_plan=False).frame["status"].value_counts().to_dict()
    assert statuses.get(models.NEW, 0) == 0, statuses


def test_sigterm_finishes_the_request_in_flight_and_requeues_the_job(fleet):
    [job] = queue_syncs(fleet.db)
    fleet.env.hold_next("PUT", "BankTransactions")
    worker = start_worker(fleet, "w-term")
    try:
        fleet.env.wait_held(timeout=180)  # the worker's sync is mid-write
        assert [q.already for q in queue_syncs(fleet.db)] == ["running"]  # running: not queued twice
        [running] = list_jobs(fleet.db)
        assert running.status == "running" and running.worker.startswith("w-term@")
        worker.send_signal(signal.SIGTERM)
        fleet.env.release()
        out, _ = worker.communicate(timeout=180)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out
    [requeued] = list_jobs(fleet.db)
    assert (requeued.job_id, requeued.status, requeued.run_status) == (job.job_id, "queued", models.INTERRUPTED)
    run = fleet.env.conn.run(requeued.run_id)
    assert run["status"] == models.INTERRUPTED and run["message"] == WORKER_STOPPED and run["ended_at"]
    assert run["written"] > 0  # the request in flight was answered and recorded before it stopped

    drain_here(fleet)
    [done] = list_jobs(fleet.db)
    assert (done.job_id, done.status, done.run_status) == (job.job_id, "done", models.SUCCEEDED)
    assert_nothing_twice_nothing_missing(fleet)


def test_a_killed_worker_s_job_is_found_stalled_and_rerun_without_duplicates(fleet):
    [job] = queue_syncs(fleet.db)
    fleet.env.hold_next("PUT", "BankTransactions")
    worker = start_worker(fleet, "w-kill")
    try:
        fleet.env.wait_held(timeout=180)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    fleet.env.release()  # Xero commits the batch whose answer nobody reads any more
    assert fleet.env.writes() >= 1

    app = fleet_app.build_app(fleet.url)

    async def retry():
        async with app.open_async():
            return await tasks.retry_stalled_jobs(app, seconds_since_heartbeat=0)

    # the dead worker's heartbeat is older than "now": its running job is stalled (in production, 30 s old)
    assert asyncio.run(retry()) == [job.job_id]
    assert [j.status for j in list_jobs(fleet.db)] == ["queued"]
    drain_here(fleet)
    [done] = list_jobs(fleet.db)
    assert (done.job_id, done.status, done.run_status) == (job.job_id, "done", models.SUCCEEDED)
    assert done.worker.startswith("w-rescue@") and done.attempts >= 1
    # the rerun looked the batch up by reference and recorded it, instead of sending it again
    assert "finishing what an interrupted run left in flight" in done.message, done.message
    killed = [r for r in fleet.env.conn.history() if r["id"] != done.run_id]
    assert [r["status"] for r in killed] == [models.INTERRUPTED]
    assert_nothing_twice_nothing_missing(fleet)
