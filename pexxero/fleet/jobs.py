"""What the command line and the pages call in fleet mode: queue syncs, list the sync jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Sequence

from pexxero.fleet.app import build_app, queue_url, require_queue_url
from pexxero.fleet.tasks import SYNC_TASK, ConnectionRef, Queued, defer_syncs, workspace_connections

# procrastinate's job status -> the word pexxero shows
STATUS_WORDS = {"todo": "queued", "doing": "running", "succeeded": "done", "failed": "failed",
                "cancelled": "cancelled", "aborting": "running", "aborted": "failed"}
WORD_STATUSES = {word: status for status, word in reversed(list(STATUS_WORDS.items()))}


@dataclass(frozen=True)
class JobRow:
    """One sync job: its connection, state, the worker that ran it, and the run it became."""

    job_id: int
    connection: str
    connection_id: int
    status: str  # queued, running, done, failed, cancelled
    attempts: int
    queued_at: Optional[datetime]
    started_at: Optional[datetime]
    ended_at: Optional[datetime]
    worker: str  # "name@host" ("" before a worker took it)
    run_id: Optional[int]
    run_status: str  # the pexxero run's status (succeeded, partial, paused, interrupted, ...), "" before its end
    message: str


def fleet_mode(db: str) -> bool:
    """Whether syncs of workspace `db` go through the queue (the dashboard's SYNC then queues a job)."""
    return queue_url(db) is not None


def queue_syncs(db: str, names: Optional[Sequence[str]] = None, *, retry_failed: bool = False,
                full_refresh: bool = False) -> list[Queued]:
    """Queue one sync job per connection of workspace `db` (all of them, or those named); returns at once. A
    connection already queued or running keeps its job (returned with `already` set) and is not queued twice."""
    url = require_queue_url(db)
    refs = workspace_connections(db)
    if names is not None:
        wanted = set(names)
        refs = [r for r in refs if r.name in wanted]
    app = build_app(url)
    with app.open():
        return defer_syncs(app, url, refs, retry_failed=retry_failed, full_refresh=full_refresh)


def queue_sync(db: str, connection: Optional[str] = None, *, retry_failed: bool = False,
               full_refresh: bool = False) -> Queued:
    """Queue one connection's sync (the named one, else the workspace's first); what the pages' SYNC calls in
    fleet mode."""
    url = require_queue_url(db)
    refs = workspace_connections(db)
    chosen = [r for r in refs if connection is None or r.name == connection][:1]
    if not chosen:
        from pexxero.errors import PexxeroError

        raise PexxeroError(f"there is no connection named {connection!r}", "see the workspace's connections")
    app = build_app(url)
    with app.open():
        return defer_syncs(app, url, chosen, retry_failed=retry_failed, full_refresh=full_refresh)[0]


def list_jobs(db: str, *, status: Optional[str] = None, limit: int = 200) -> list[JobRow]:
    """Sync jobs of the fleet, newest first; `status` one of queued, running, done, failed, cancelled."""
    from pexxero.store import pg_jobs

    url = require_queue_url(db)
    wanted = None if status is None else WORD_STATUSES.get(status, status)
    rows = pg_jobs.job_rows(url, SYNC_TASK, status=wanted, limit=limit)
    out = []
    for r in rows:
        args = r["args"] or {}
        worker = f"{r['worker']}@{r['host']}" if r["worker"] or r["host"] else ""
        status_word = STATUS_WORDS.get(r["status"], r["status"])
        out.append(JobRow(
            job_id=r["id"], connection=str(args.get("connection", "")), connection_id=int(args.get("connection_id", 0)),
            status=status_word, attempts=r["attempts"], queued_at=r["queued_at"],
            started_at=r["started_at"] if status_word != "queued" else None,
            ended_at=r["ended_at"] if status_word in ("done", "failed", "cancelled") else None,
            worker=worker, run_id=r["run_id"], run_status=r["run_status"] or "", message=r["message"] or ""))
    return out


__all__ = ["ConnectionRef", "JobRow", "Queued", "fleet_mode", "list_jobs", "queue_sync", "queue_syncs"]
