"""What the parts of a sync share: its limits, how a run stops early, request bodies and their keys, and the
state of one run (`RunState`) with the checks made between requests."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Optional, Sequence

from pexxero import models
from pexxero.errors import SESSION_FAILED, pex_stopped  # noqa: F401  (re-exported for the runner)
from pexxero.models import PlannedRecord, planned_from_json, planned_to_json
from pexxero.store import Store

if TYPE_CHECKING:
    from pexxero.connection import Connection
    from pexxero.sync.runner import Heartbeat

BATCH_SIZE = 50  # Xero's recommended maximum elements per request
PIPELINE = 2  # write requests in flight at once (Xero allows 5): one is answered while the next is prepared and sent
HEARTBEAT_SECONDS = 2.0
MAX_RECEIPT_BYTES = 10 * 1024 * 1024  # Xero refuses larger attachments (its docs say 25 MB; 10 MB is what holds)
MAX_ATTACHMENTS = 10  # attachments Xero takes on one record

EXIT_CODES = {
    models.SUCCEEDED: 0,
    models.PARTIAL: 2,
    models.PAUSED: 3,
    models.FAILED: 1,
    models.CANCELLED: 1,
    models.INTERRUPTED: 1,
}
DATABASE_FAILED = ("the sync stopped because it cannot write its own database ({error}); nothing more was sent to "
                   "Xero. Free disk space or make the database writable, then run sync again: it checks what "
                   "arrived and continues")

# Set when this process is asked to stop (a fleet worker's SIGTERM): every run in it stops after the request in
# flight, its intents and outcomes recorded, and ends Interrupted with these words.
STOPPING = threading.Event()
WORKER_STOPPED = ("the worker running this sync was asked to stop and stopped after the request in flight; the "
                  "sync is queued again and the next run finishes it (it looks up what was in flight first)")


class Stop(Exception):
    """Ends a run early with a status and a message (cancel, daily limit, session failure, Xero down)."""

    def __init__(self, status: str, message: str, resume_at: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.resume_at = resume_at


@dataclass
class _Request:
    """One write request whose intent is committed: what it sends and under which key."""

    endpoint: str
    records: list[PlannedRecord]
    key: str
    run_id: int
    xero_id: str = ""


class WholeRequestRefused(Exception):
    """Xero refused a whole write request with a validation error (bank transfers are all or none)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def idempotency_key(tenant_id: str, endpoint: str, body: str) -> str:
    """Derived from the request's content: the same request always carries the same key."""
    return hashlib.sha256(f"{tenant_id}|{endpoint}|{body}".encode()).hexdigest()


def _body(records: Sequence[PlannedRecord]) -> str:
    return "[" + ",".join(planned_to_json(r) for r in records) + "]"


def _records(body: str) -> list[PlannedRecord]:
    return [planned_from_json(json.dumps(item)) for item in json.loads(body)]


def _chunks(seq: Sequence, size: int):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


@dataclass
class RunState:
    """One sync run of one connection: its counts and notes, and the checks between requests. `Runner` adds
    what a run does (runner.py); use `run_sync(...)`."""

    conn: "Connection"
    run_id: int
    mode: str = "sync"
    from_preview: bool = False
    full_refresh: bool = False  # reread the whole date range from PEX before planning
    today: Optional[date] = None
    batch_size: int = BATCH_SIZE
    heartbeat: Optional["Heartbeat"] = None
    written: int = 0
    failed: int = 0
    attachment_failures: int = 0
    attached: int = 0  # receipts this run attached in Xero
    receipts_to_send: int = 0
    receipt_rows: list = field(default_factory=list)  # (pex id, preview status, Xero id) a receipt may go on
    recovered: int = 0  # records an earlier run left in flight that this run saw into Xero
    removed: int = 0  # voided records this run deleted in Xero
    notes: list[str] = field(default_factory=list)
    tenant: str = ""  # the Xero organisation this run works on, from its start to its end
    waiting: str = ""  # requests left in flight to other organisations, in words
    meter: Optional[object] = None  # the day's Xero calls left, as the run spends them (sync/budget.py)
    budget_line: str = ""  # what the plan needs against what is left today, in words

    @property
    def store(self) -> "Store":
        return self.conn.store

    @property
    def cid(self) -> int:
        return self.conn.connection_id

    # ----------------------------------------------------------------------------------- checks

    def checkpoint(self, step: Optional[str] = None) -> None:
        """Between requests: note progress, honour Cancel, and stop if another run took the lock over."""
        fields = {"written": self.written, "failed": self.failed, "receipts_attached": self.attached,
                  "receipts_failed": self.attachment_failures}
        if step is not None:
            fields["step"] = step
        self.store.update_run(self.run_id, **fields)
        if self.heartbeat is not None and self.heartbeat.lost:
            raise Stop(models.INTERRUPTED, "this sync lost its lock to another run and stopped")
        if self.store.cancel_requested(self.run_id):
            raise Stop(models.CANCELLED, "cancelled by the user after the request in flight")
        if STOPPING.is_set():
            raise Stop(models.INTERRUPTED, WORKER_STOPPED)

    def _xero_call(self, fn, *args, refusable: bool = False, **kwargs):
        """Call the gateway, turning its terminal errors into a Stop with words a bookkeeper understands.

        `refusable`: a write whose validation error refuses the whole request raises WholeRequestRefused, so
        its items fail one by one with Xero's message and the run goes on (Partial) instead of stopping.
        """
        from pexxero.clients.xero import XeroError

        try:
            return fn(*args, **kwargs)
        except XeroError as exc:
            if refusable and type(exc) is XeroError and exc.status == 400:
                raise WholeRequestRefused("; ".join(dict.fromkeys(exc.validation)) or exc.message)
            raise self._stop_for(exc)

    @staticmethod
    def _stop_for(exc) -> "Stop":
        from pexxero.clients.xero import XeroDailyLimit, XeroSessionFailed, XeroUnavailable

        if isinstance(exc, XeroSessionFailed):
            return Stop(models.FAILED, SESSION_FAILED)
        if isinstance(exc, XeroDailyLimit):
            resets = getattr(exc, "resets_at", None)
            when = resets.isoformat(timespec="minutes") if resets else "tomorrow"
            return Stop(models.PAUSED, f"Xero's daily limit for this organisation is used up; it resets at {when} "
                                    "(UTC). Run sync again after that: it resumes where it stopped.",
                       resume_at=resets.isoformat() if resets else None)
        if isinstance(exc, XeroUnavailable):
            return Stop(models.FAILED, f"Xero did not answer ({exc.message}); nothing is lost: the next sync checks "
                                    "what arrived and continues")
        return Stop(models.FAILED, f"Xero refused a request: {exc.message}")

    def refuse_foreign_plan(self) -> None:
        """A sync from the dashboard writes the plan the user saw: never one built for another organisation."""
        if self.from_preview:
            refusal = self.conn.plan_refusal()
            if refusal:
                raise Stop(models.FAILED, refusal)
