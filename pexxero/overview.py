"""The Overview's words for one connection: its last sync, what waits, its Xero session's health; and in fleet
mode one sync job's cells (pure).

The dashboard's Overview page and anything else listing a workspace's connections read a `ConnectionSummary`
through these, so the same connection is described the same way everywhere; `jobs` on the command line and the
Overview's "Sync jobs" table both read a `JobRow` through `job_cells`, so they show the same columns and words.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional, Sequence

from pexxero import models

if TYPE_CHECKING:
    from pexxero.fleet.jobs import JobRow

SESSION_WARN_DAYS = 7  # fewer days than this before Xero's 60-day expiry: the row says to sync or re-connect soon

WAITING_LABELS = {"new": "new", "possible_duplicate": "possible duplicates", "changed": "changed",
                  "failed": "failed"}


def _when(stamp: Optional[str], now: Optional[datetime] = None) -> str:
    if not stamp:
        return ""
    at = datetime.fromisoformat(stamp)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    minutes = max(0, int((now - at).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours ago"
    return f"{minutes // (24 * 60)} days ago"


def last_sync(run: Optional[dict], now: Optional[datetime] = None) -> str:
    """'Succeeded 5 minutes ago: 86 of 86 written', 'Running: 12 of 86 written so far', 'Never synced'."""
    if run is None:
        return "Never synced"
    status = str(run.get("status") or "")
    written, to_write = int(run.get("written") or 0), int(run.get("to_write") or 0)
    if status in (models.QUEUED, models.RUNNING):
        return f"{status.title()}: {written:,} of {to_write:,} written so far"
    when = _when(run.get("ended_at") or run.get("started_at"), now)
    return f"{status.title()} {when}: {written:,} of {to_write:,} written".replace("  ", " ")


def is_running(run: Optional[dict]) -> bool:
    return run is not None and run.get("status") in (models.QUEUED, models.RUNNING)


def waiting(counts: dict[str, int]) -> str:
    """'new 12 · possible duplicates 3 · changed 1 · failed 0' (what the last preview and sync left)."""
    return " · ".join(f"{label} {int(counts.get(key, 0)):,}" for key, label in WAITING_LABELS.items())


def session(age_days: Optional[float], days_left: Optional[float]) -> tuple[str, bool]:
    """The Xero session's health in words, and whether it needs attention soon.

    Xero's refresh token lasts 60 days unused; every sync refreshes it, so its age is the time since the last one."""
    if age_days is None or days_left is None:
        return "No Xero sign-in", True
    if days_left <= 0:
        return "Xero sign-in expired: re-connect Xero", True
    age = "refreshed today" if age_days < 1 else f"refreshed {int(age_days)} day{'s' if int(age_days) != 1 else ''} ago"
    left = math.ceil(days_left)  # 59.99 days is said as 60, never as 59
    return f"Xero session {age}; {left} day{'s' if left != 1 else ''} to its 60-day expiry", left < SESSION_WARN_DAYS


def sync_all_line(said: dict[str, str]) -> list[str]:
    """SYNC ALL's answer, one line per connection: 'Outdoor: started (run 3)'."""
    return [f"{name}: {words}" for name, words in said.items()]


# ------------------------------------------------------------------------------------------ fleet mode's jobs

JOB_COLUMNS = ("Job", "Connection", "Status", "Worker", "Started", "Ended", "Run", "Run status", "Message")
ACTIVE_JOB_STATUSES = ("queued", "running")  # a job in one of these may change: the page keeps re-reading
JOB_MESSAGE_CHARS = 80


def job_time(moment: Optional[datetime]) -> str:
    """A job's start or end in this computer's time zone, to the second ("" before it happened)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def job_cells(job: "JobRow") -> list[str]:
    """One job's cells under `JOB_COLUMNS`, every one a string (the run's number is "" before a worker made it)."""
    return [str(job.job_id), job.connection, job.status, job.worker, job_time(job.started_at),
            job_time(job.ended_at), str(job.run_id) if job.run_id else "", job.run_status,
            job.message[:JOB_MESSAGE_CHARS]]


def job_table(jobs: Sequence["JobRow"]) -> list[dict[str, str]]:
    """The jobs as rows of a table: column name -> text, in `JOB_COLUMNS` order."""
    return [dict(zip(JOB_COLUMNS, job_cells(job))) for job in jobs]


def jobs_active(jobs: Sequence["JobRow"]) -> bool:
    """Whether any job is still queued or running (so its row will change)."""
    return any(job.status in ACTIVE_JOB_STATUSES for job in jobs)
