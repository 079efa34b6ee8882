"""Fleet mode's procrastinate tasks: one sync job per connection, the nightly tick, and the retry of jobs a dead
worker left running.

- `sync`: the very `run_sync` the command line runs, for one connection. Deferred with the connection's key as
  both its `queueing_lock` (one job of a connection waiting, however often it is queued) and its `lock` (one job
  of a connection running, on any number of workers and hosts).
- `nightly`: every minute, the fleet's one tick (a periodic task is deferred once per minute whichever workers
  run); when the workspace's nightly cron matches that minute in its time zone, it queues every connection.
- `retry_stalled`: every minute, jobs whose worker stopped sending heartbeats (killed, its host gone) are put back
  in the queue; another worker reruns them, and the rerun first looks up in Xero what was in flight.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Sequence

from pexxero import models
from pexxero.sync.base import STOPPING

log = logging.getLogger(__name__)

SYNC_TASK = "pexxero:sync"
NIGHTLY_TASK = "pexxero:nightly"
STALLED_TASK = "pexxero:retry_stalled"
SYNC_QUEUE = "syncs"
TICK_CRON = "* * * * *"
DEFAULT_NIGHTLY_CRON = "15 2 * * *"
NIGHTLY_CRON_SETTING = "nightly_cron"
NIGHTLY_TIMEZONE_SETTING = "nightly_timezone"
# a worker beats every HEARTBEAT_SECONDS; one silent for STALLED_AFTER is dead, and the minute's tick retries its
# jobs: a job of a killed worker runs again within STALLED_AFTER + 60 s (under two minutes)
HEARTBEAT_SECONDS = 10.0
KEEP_JOBS_HOURS = 14 * 24
MAX_ATTEMPTS = 10  # a job's runs before it stays failed
OLD_JOBS_TASK = "pexxero:remove_old_jobs"
STALLED_AFTER = 30.0


class WorkerStopping(Exception):
    """The worker stopped mid-sync on SIGTERM: procrastinate queues the job again (its retry)."""


@dataclass(frozen=True)
class ConnectionRef:
    """One connection of a workspace, as a job names it: the workspace's location, its id and its name."""

    db: str
    connection_id: int
    name: str

    @property
    def lock(self) -> str:
        return f"pexxero-sync:{workspace_key(self.db)}#{self.connection_id}"

    @property
    def job_db(self) -> str:
        """The workspace as the job names it: "" for the worker's own PostgreSQL workspace, so a URL and its
        password never sit in the queue's rows or the workers' logs."""
        from pexxero.fleet.app import is_postgres

        return "" if is_postgres(self.db) else self.db


def workspace_key(db: str) -> str:
    """The same workspace seen from any host: a PostgreSQL database by host, port and name (never its password),
    a file by its real path."""
    from pexxero.fleet.app import is_postgres

    if is_postgres(db):
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(str(db))
        return f"pg:{parts.get('host', '')}:{parts.get('port', '5432')}/{parts.get('dbname', '')}"
    return os.path.realpath(str(db))


@dataclass(frozen=True)
class Queued:
    """What `defer_syncs` did for one connection: a new job, or the job already queued or running for it."""

    connection: ConnectionRef
    job_id: int
    already: str = ""  # "" (queued now), "queued" or "running"


# ------------------------------------------------------------------------------------------ connections


def workspace_connections(db: str) -> list[ConnectionRef]:
    """Every connection of the workspace at `db` (a workspace of many connections when that module is there,
    else the database's one connection)."""
    try:
        from pexxero.workspace import open_workspace  # type: ignore[import-not-found]
    except ImportError:
        open_workspace = None
    if open_workspace is not None:
        with open_workspace(db) as workspace:
            return [ConnectionRef(str(db), int(workspace.connection(name).connection_id), str(name))
                    for name in workspace.names()]
    from pexxero.connection import open_connection

    with open_connection(db, check_key=False) as conn:
        return [ConnectionRef(str(db), int(conn.connection_id), "default")]


def open_ref(ref: ConnectionRef):
    """The Connection a job syncs."""
    try:
        from pexxero.workspace import open_workspace  # type: ignore[import-not-found]
    except ImportError:
        open_workspace = None
    if open_workspace is not None:
        return open_workspace(ref.db).connection(ref.name)  # closing the connection closes the workspace's store
    from pexxero.connection import open_connection

    return open_connection(ref.db)


# ------------------------------------------------------------------------------------------ deferring


def defer_syncs(app, url: str, refs: Sequence[ConnectionRef], *, retry_failed: bool = False,
                full_refresh: bool = False) -> list[Queued]:
    """Queue one sync job per connection (`app` opened); a connection already queued or running is not queued
    again: its job is returned instead."""
    from procrastinate.exceptions import AlreadyEnqueued

    from pexxero.store import pg_jobs

    task = app.tasks[SYNC_TASK]
    done = []
    for ref in refs:
        busy = pg_jobs.busy_job(url, ref.lock)
        if busy is None:
            try:
                job_id = task.configure(lock=ref.lock, queueing_lock=ref.lock).defer(
                    db=ref.job_db, connection_id=ref.connection_id, connection=ref.name,
                    retry_failed=retry_failed, full_refresh=full_refresh)
                done.append(Queued(ref, job_id))
                continue
            except AlreadyEnqueued:  # queued by someone else a moment ago
                busy = pg_jobs.busy_job(url, ref.lock)
        if busy is not None:
            done.append(Queued(ref, busy[0], "running" if busy[1] == "doing" else "queued"))
    return done


# ------------------------------------------------------------------------------------------ the tasks


def sync(context, db: str, connection_id: int, connection: str, retry_failed: bool = False,
         full_refresh: bool = False) -> dict:
    """Run one connection's sync in this worker; the run's status and message are in History as for any sync."""
    from pexxero.store import AlreadyRunning, pg_jobs
    from pexxero.sync import run_sync

    url = context.additional_context["queue_url"]
    job_id = context.job.id
    pg_jobs.job_started(url, job_id, context.worker_name or "", os.getpid())
    ref = ConnectionRef(db or context.additional_context["workspace"], connection_id, connection)
    run: dict = {}
    try:
        with open_ref(ref) as conn:
            run = run_sync(conn, retry_failed=retry_failed, full_refresh=full_refresh)
    except AlreadyRunning as exc:  # a sync of the same database started outside the queue (cron, the CLI)
        pg_jobs.job_ended(url, job_id, None, models.FAILED, f"not started: {exc}")
        raise
    except Exception as exc:  # noqa: BLE001 - said in the job's row, then procrastinate marks it failed
        from pexxero import errors

        pg_jobs.job_ended(url, job_id, None, models.FAILED, errors.explain(exc, errors.CLI))
        raise
    pg_jobs.job_ended(url, job_id, run.get("id"), run.get("status", ""), run.get("message") or "")
    if run.get("status") == models.INTERRUPTED and STOPPING.is_set():
        raise WorkerStopping(run.get("message") or "")
    return {"run": run.get("id"), "status": run.get("status")}


def nightly(context, timestamp: int, db: str = "") -> list[int]:
    """The minute's tick: when the workspace's nightly cron matches this minute, queue every connection."""
    db = db or context.additional_context["workspace"]
    cron, zone = nightly_schedule(db)
    if not cron_matches(cron, zone, timestamp):
        return []
    from pexxero.fleet.app import build_app

    url = context.additional_context["queue_url"]
    app = build_app(url)  # opened here, synchronously: this task runs in a thread of the worker
    with app.open():
        queued = defer_syncs(app, url, workspace_connections(db))
    return [q.job_id for q in queued if not q.already]


async def retry_stalled(context, timestamp: int) -> list[int]:
    return await retry_stalled_jobs(context.app)


async def retry_stalled_jobs(app, seconds_since_heartbeat: float = STALLED_AFTER) -> list[int]:
    """Put back in the queue every sync job whose worker has sent no heartbeat for `seconds_since_heartbeat`."""
    stalled = await app.job_manager.get_stalled_jobs(task_name=SYNC_TASK,
                                                     seconds_since_heartbeat=seconds_since_heartbeat)
    ids = []
    for job in stalled:
        await app.job_manager.retry_job(job)
        log.warning("sync job %s was left running by a worker that stopped answering: queued again", job.id)
        ids.append(job.id)
    return ids


async def remove_old_jobs(context, timestamp: int) -> None:
    await context.app.job_manager.delete_old_jobs(nb_hours=KEEP_JOBS_HOURS, include_failed=True,
                                                  include_cancelled=True, include_aborted=True)


def _sync_retry():
    """When a sync job goes back in the queue: at once after its worker stopped on SIGTERM; in 30 s when the
    store's lock of the connection is still held (a sync started beside the queue, or the lock of a killed worker
    on another host, taken over once its heartbeat is 30 s old); never otherwise (the run says why)."""
    from procrastinate.retry import BaseRetryStrategy, RetryDecision

    from pexxero.store import AlreadyRunning

    class SyncRetry(BaseRetryStrategy):
        def get_retry_decision(self, *, exception, job):
            if job.attempts >= MAX_ATTEMPTS:
                return None
            if isinstance(exception, WorkerStopping):
                return RetryDecision(retry_in={"seconds": 0})
            if isinstance(exception, AlreadyRunning):
                return RetryDecision(retry_in={"seconds": 30})
            return None

    return SyncRetry()


def register(app) -> None:
    """Add the tasks to a fresh App (not a shared Blueprint: a process may build several Apps, e.g. tests)."""
    app.task(name=SYNC_TASK, queue=SYNC_QUEUE, pass_context=True, retry=_sync_retry())(sync)
    app.task(name=NIGHTLY_TASK, pass_context=True)(nightly)
    stalled = app.task(name=STALLED_TASK, pass_context=True)(retry_stalled)
    app.periodic(cron=TICK_CRON, periodic_id="stalled")(stalled)
    # finished jobs stay for `jobs` a fortnight, then go (the runs and their items stay in History). Our own
    # task rather than procrastinate's builtin one, whose name changes with each App a process builds.
    old_jobs = app.task(name=OLD_JOBS_TASK, pass_context=True)(remove_old_jobs)
    app.periodic(cron="45 3 * * *", periodic_id="old_jobs")(old_jobs)


# ------------------------------------------------------------------------------------------ the nightly schedule


def nightly_schedule(db: str) -> tuple[str, str]:
    """(cron, time zone) of the workspace's nightly sync: its settings, else `15 2 * * *` in UTC."""
    from pexxero.store import Store

    store = Store.open(db)
    try:
        cron = (store.meta(NIGHTLY_CRON_SETTING) or "").strip() or DEFAULT_NIGHTLY_CRON
        zone = (store.meta(NIGHTLY_TIMEZONE_SETTING) or "").strip() or "UTC"
    finally:
        store.close()
    return cron, zone


def set_nightly_schedule(db: str, cron: Optional[str] = None, zone: Optional[str] = None) -> tuple[str, str]:
    """Check and save the workspace's nightly cron and time zone (IANA name, e.g. America/New_York)."""
    from pexxero.errors import PexxeroError
    from pexxero.store import Store

    if cron is not None:
        import croniter

        if not croniter.croniter.is_valid(cron) or len(cron.split()) != 5:
            raise PexxeroError(f"{cron!r} is not a cron schedule", "five fields, e.g. \"15 2 * * *\"")
    if zone is not None:
        _zone(zone)
    store = Store.open(db)
    try:
        if cron is not None:
            store.set_meta(NIGHTLY_CRON_SETTING, cron)
        if zone is not None:
            store.set_meta(NIGHTLY_TIMEZONE_SETTING, zone)
    finally:
        store.close()
    return nightly_schedule(db)


def _zone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pexxero.errors import PexxeroError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PexxeroError(f"{name!r} is not a time zone", "an IANA name such as America/New_York or UTC") from None


def cron_matches(cron: str, zone: str, timestamp: float) -> bool:
    """Whether the minute of `timestamp` (UTC seconds), read in `zone`, is one of `cron`'s."""
    import croniter

    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc).astimezone(_zone(zone)).replace(second=0,
                                                                                               microsecond=0)
    return bool(croniter.croniter.match(cron, moment))
