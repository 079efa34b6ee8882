"""The dashboard's SYNC: the very command cron runs, started as a detached child process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pexxero import models
from pexxero.store import AlreadyRunning, Store
from pexxero.store.backend import is_postgres
from pexxero.store.sync_tables import now_iso


def sync_log_path(db_path: str | Path, connection_id: int) -> str:
    """The background sync's log of one connection: each connection's own file, so no line of one connection's
    sync is in another's log (the first connection keeps the name a database of one connection always had)."""
    # a PostgreSQL database has no folder: the log is in the working directory, named without the URL
    base = "pexxero" if is_postgres(db_path) else str(db_path)
    return base + (".sync.log" if connection_id == 1 else f".sync-{connection_id}.log")


def start_background(db_path: str | Path, *, retry_failed: bool = False, from_preview: bool = True,
                     env: Optional[dict] = None, log_path: Optional[Path] = None, full_refresh: bool = False,
                     connection: Optional[str] = None) -> int:
    """Start a sync in a detached child process and return its run id at once.

    A process, not a thread: it keeps running when the page is left or refreshed and even when the dashboard
    server restarts; a crash in it cannot take the dashboard down; and it is the very same `python -m pexxero
    sync` that cron runs. `connection` names the workspace's connection (default: the only one); the child is
    always told its name, so it never has to guess among several.
    """
    from pexxero.store import open_private

    from pexxero.workspace import resolve_connection_id

    store = Store.open(db_path)
    try:
        cid = resolve_connection_id(store, connection) if connection else store.connection_id()
    except BaseException:
        store.close()
        raise
    running = store.running_run(cid)
    if running is not None:
        raise AlreadyRunning(running["id"])
    run_id = store.queue_run(cid, "retry_failed" if retry_failed else "sync")
    env = dict(env if env is not None else os.environ)
    name = ["--connection", store.connection_name(cid)]
    if is_postgres(db_path):  # a URL may hold a password: in the child's environment, never in its arguments
        env["PEXXERO_DB"] = str(db_path)
        args = [sys.executable, "-m", "pexxero", *name, "sync", "--run-id", str(run_id)]
    else:
        args = [sys.executable, "-m", "pexxero", "--db", str(db_path), *name, "sync", "--run-id", str(run_id)]
    if retry_failed:
        args.append("--retry-failed")
    if from_preview:
        args.append("--from-preview")
    if full_refresh:
        args.append("--full-refresh")
    try:
        with open_private(log_path or sync_log_path(db_path, cid), "ab") as log:
            child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                     env=env, close_fds=True)
    except OSError as exc:
        store.update_run(run_id, status=models.FAILED, ended_at=now_iso(),
                        message=f"the sync process could not be started ({exc.strerror or type(exc).__name__}); "
                                "nothing was sent to Xero")
        store.close()
        raise
    # the run is the child's from now on: if it dies before it takes the lock, the run is seen as interrupted
    store.hand_queued_run_to(run_id, child.pid)
    store.close()
    return run_id


@dataclass(frozen=True)
class Started:
    """What SYNC started: a run in a child process (embedded mode), or a job in the fleet's queue (its run id
    comes when a worker takes it; `already` is "queued" or "running" when the connection had a job)."""

    run_id: Optional[int] = None
    job_id: Optional[int] = None
    already: str = ""


def start_sync(db_path: str | Path, *, retry_failed: bool = False, from_preview: bool = True,
               full_refresh: bool = False, connection: Optional[str] = None) -> Started:
    """The dashboard's SYNC: in fleet mode a job for the workers, else a detached child process."""
    from pexxero.fleet.jobs import fleet_mode, queue_sync

    if fleet_mode(str(db_path)):
        queued = queue_sync(str(db_path), connection, retry_failed=retry_failed, full_refresh=full_refresh)
        return Started(job_id=queued.job_id, already=queued.already)
    named = {"connection": connection} if connection is not None else {}  # a workspace of many connections
    return Started(run_id=start_background(db_path, retry_failed=retry_failed, from_preview=from_preview,
                                           full_refresh=full_refresh, **named))


def start_sync_all(db_path: str | Path, *, full_refresh: bool = False) -> list[Started]:
    """The dashboard's SYNC ALL in fleet mode: one job per connection of the workspace."""
    from pexxero.fleet.jobs import queue_syncs

    return [Started(job_id=q.job_id, already=q.already) for q in queue_syncs(str(db_path), full_refresh=full_refresh)]
