"""The fleet's sync jobs in PostgreSQL: procrastinate's own tables (read here, written by procrastinate) and
`pexxero_fleet_jobs`, what procrastinate does not keep: which worker (by its name and host) ran a job, and the
pexxero run it became."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Iterator, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS pexxero_fleet_jobs (
    job_id bigint PRIMARY KEY,
    worker text NOT NULL DEFAULT '',
    host text NOT NULL DEFAULT '',
    pid integer,
    run_id integer,
    run_status text NOT NULL DEFAULT '',
    message text NOT NULL DEFAULT ''
);
"""

_STARTED = """
INSERT INTO pexxero_fleet_jobs (job_id, worker, host, pid) VALUES (%s, %s, %s, %s)
ON CONFLICT (job_id) DO UPDATE SET worker = EXCLUDED.worker, host = EXCLUDED.host, pid = EXCLUDED.pid,
    run_id = NULL, run_status = '', message = ''
"""
_ENDED = "UPDATE pexxero_fleet_jobs SET run_id = %s, run_status = %s, message = %s WHERE job_id = %s"

_LIST = """
SELECT j.id, j.status::text, j.args, j.attempts,
       (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'deferred') AS queued_at,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id
         AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS ended_at,
       f.worker, f.host, f.run_id, f.run_status, f.message
  FROM procrastinate_jobs j LEFT JOIN pexxero_fleet_jobs f ON f.job_id = j.id
 WHERE j.task_name = %(task)s AND (%(status)s::text IS NULL OR j.status::text = %(status)s)
 ORDER BY j.id DESC
 LIMIT %(limit)s
"""

_BUSY_WITH_LOCK = """
SELECT id, status::text FROM procrastinate_jobs
 WHERE (lock = %s OR queueing_lock = %s) AND status IN ('todo', 'doing') ORDER BY id LIMIT 1
"""

def _connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """One migration at a time across every process (a transaction-free advisory lock on its own connection)."""
    with _connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('pexxero-migrate'))")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('pexxero-migrate'))")


def ensure_schema(url: str) -> None:
    with _connect(url) as conn:
        conn.execute(SCHEMA)


def job_started(url: str, job_id: int, worker: str, pid: int) -> None:
    with _connect(url) as conn:
        conn.execute(_STARTED, [job_id, worker or "", socket.gethostname(), pid])


def job_ended(url: str, job_id: int, run_id: Optional[int], run_status: str, message: str) -> None:
    with _connect(url) as conn:
        conn.execute(_ENDED, [run_id, run_status, message[:500], job_id])


def job_rows(url: str, task_name: str, *, status: Optional[str] = None, limit: int = 200) -> list[dict]:
    """Jobs of `task_name`, newest first, with their times, worker and run."""
    names = ("id", "status", "args", "attempts", "queued_at", "started_at", "ended_at", "worker", "host",
             "run_id", "run_status", "message")
    with _connect(url) as conn:
        rows = conn.execute(_LIST, {"task": task_name, "status": status, "limit": limit}).fetchall()
    return [dict(zip(names, row)) for row in rows]


def busy_job(url: str, lock: str) -> Optional[tuple[int, str]]:
    """(job id, 'todo' or 'doing') of a job that holds or waits for `lock`, or None."""
    with _connect(url) as conn:
        row = conn.execute(_BUSY_WITH_LOCK, [lock, lock]).fetchone()
    return (row[0], row[1]) if row else None
