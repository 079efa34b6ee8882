"""The sync runner: writes the plan into Xero exactly once, survives any stop, and says why for every item.

Per item:   planned --(intent committed with its Idempotency-Key)--> sending --(Xero answered)--> created | failed
A run that dies leaves intents in `sending`. The next run first asks Xero by reference what arrived and resends
what did not *with the same key and body*, so even a request still in flight at Xero cannot become two records.

A run works on one Xero organisation, the one chosen when it starts, to its end: its ledger, intents, receipts and
releases are that organisation's alone, a plan built for another organisation is refused in words, and requests an
interrupted run left in flight to another organisation wait until that organisation is connected again.

The same function serves the command line (foreground) and the dashboard (a detached child process, so that
leaving, refreshing or closing the page, or restarting the dashboard, never stops a sync).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Optional, Sequence

from pexxero import models
from pexxero.models import (
    BLOCKED,
    CHANGED,
    NEW,
    POSSIBLE_DUPLICATE,
    PURCHASE,
    SKIPPED,
    SYNCED,
    VOIDED,
    XERO_ONLY,
    PlannedRecord,
    XeroBankTransfer,
    marker,
    planned_from_json,
    planned_to_json,
)
from pexxero.store import AlreadyRunning, DatabaseUnwritable, Store
from pexxero.store.sync_tables import now_iso

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
SESSION_FAILED = "Xero session failed: re-connect Xero"
DATABASE_FAILED = ("the sync stopped because it cannot write its own database ({error}); nothing more was sent to "
                   "Xero. Free disk space or make the database writable, then run sync again: it checks what "
                   "arrived and continues")


def pex_stopped(exc) -> str:
    """A PEX failure that ended a run, in words (the token never appears in a PexError's text)."""
    from pexxero.clients.pex import PexAuthError

    if isinstance(exc, PexAuthError):
        return f"PEX refused the token ({exc.message}): connect PEX again (python -m pexxero connect pex)"
    return (f"PEX did not answer ({exc.message}); nothing more was written to Xero. Run sync again when PEX is "
            "back: it continues where it stopped")


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


class _Heartbeat(threading.Thread):
    """Keeps the lock and the run's heartbeat fresh from its own SQLite connection."""

    def __init__(self, store: Store, connection_id: int, run_id: int, owner: str):
        super().__init__(daemon=True, name=f"sync-heartbeat-{run_id}")
        self.store, self.connection_id, self.run_id, self.owner = store, connection_id, run_id, owner
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        own = self.store.second_connection()
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                try:
                    if not own.heartbeat(self.connection_id, self.run_id, self.owner):
                        self.lost = True
                        return
                except Exception:  # noqa: BLE001 - a busy database skips one beat, the next one counts
                    continue
        finally:
            own.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


@dataclass
class Runner:
    """One sync run of one connection. Use `run_sync(...)`; the class only keeps the state of a run together."""

    conn: object  # pexxero.connection.Connection
    run_id: int
    mode: str = "sync"
    from_preview: bool = False
    full_refresh: bool = False  # reread the whole date range from PEX before planning
    today: Optional[date] = None
    batch_size: int = BATCH_SIZE
    heartbeat: Optional[_Heartbeat] = None
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

    # --------------------------------------------------------------------------------- recovery

    def recover(self) -> None:
        """Settle every request a dead run left in flight before anything new is sent.

        First ask Xero by reference what arrived; if all of it did, record it. Otherwise resend the identical
        request with its original Idempotency-Key: Xero replays its answer if the first one did arrive (even if
        it was still being processed when we asked), and creates the records once if it did not.
        """
        xero = self.conn.xero()
        # another organisation's requests are left alone: resending them here would write into the wrong books,
        # and settling them there would touch an organisation the user has moved away from. They stay open until
        # that organisation is chosen again, when its own run looks them up and finishes them.
        elsewhere = self.store.open_intents_elsewhere(self.cid, tenant_id=self.tenant)
        if elsewhere:
            self.waiting = "; ".join(
                f"{n} request{'s' if n != 1 else ''} an interrupted run left in flight to "
                f"{self.conn.tenant_name(t, lookup=False) or t} wait until "
                f"{self.conn.tenant_name(t, lookup=False) or t} is connected again"
                for t, n in sorted(elsewhere.items()))
        for intent in self.store.open_intents(self.cid, tenant_id=self.tenant):
            self.checkpoint("checking what an interrupted run sent")
            endpoint, key, body = intent["endpoint"], intent["key"], intent["body"]
            refs = json.loads(intent["refs"])
            if endpoint == "contacts":
                self._xero_call(xero.create_contacts, json.loads(body), key)
                self.store.finish_intent(key)
            elif endpoint == "attachment":
                self._recover_attachment(intent)
            elif endpoint == "remove":
                self._recover_removal(intent)
            elif endpoint == "update":
                data = json.loads(body)
                record = planned_from_json(json.dumps(data["record"]))
                self._send("update", [record], key=key, body=body, run_id=intent["run_id"], xero_id=data["xero_id"])
            else:
                lookup = xero.bank_transfers_by_reference if endpoint == "bank_transfers" \
                    else xero.bank_transactions_by_reference
                found = {r.reference: r for r in self._xero_call(lookup, refs)}
                records = _records(body)
                if not found:
                    # nothing visible yet: not arrived, or still in flight at Xero — the same key covers both
                    self._send(endpoint, records, key=key, body=body, run_id=intent["run_id"])
                    continue
                # Xero processed the request: what is there was created by it, the rest failed validation then
                arrived = [r for r in records if r.reference in found]
                ids = {r.reference: getattr(found[r.reference], "bank_transaction_id", None)
                       or found[r.reference].bank_transfer_id for r in arrived}
                self._settle(key, intent["run_id"], arrived, {ref: (True, xid, ()) for ref, xid in ids.items()})
                missing = [r for r in records if r.reference not in found]
                if missing:
                    self._send(endpoint, missing, run_id=intent["run_id"])

    # -------------------------------------------------------------------------------------- plan

    def plan(self) -> list[dict]:
        """Decide what this run writes. Returns run-item dicts; writes nothing to Xero."""
        conn = self.conn
        self.checkpoint("reading PEX and Xero")
        preview = conn.preview(today=self.today, refresh=not self.from_preview, full_refresh=self.full_refresh,
                               save_plan=False)
        frame = preview.frame
        released = conn.releases()
        ledger = self.store.ledger(self.cid, tenant_id=self.tenant)
        allowed: Optional[set[int]] = None
        if self.mode == "retry_failed":
            last = self.store.last_finished_run(self.cid, tenant_id=self.tenant)
            allowed = set()
            if last is not None:
                allowed = {it["pex_id"] for it in self.store.items(last["id"])
                           if it["outcome"] in (models.ITEM_FAILED, models.PLANNED, models.SENDING)}
        shown: Optional[dict[int, dict]] = None
        if self.from_preview:
            saved = conn.saved_plan()
            shown = {item["pex_id"]: item for item in (saved or {}).get("items", [])}

        items = []
        for row in frame.itertuples():
            if row.status == XERO_ONLY or row.pex_id is None:
                continue
            pex_id = int(row.pex_id)
            if row.planned is not None and row.planned.record_type == "BankTransaction":
                self.receipt_rows.append((pex_id, row.status, row.xero_id or ""))  # receipts may go on it
            if allowed is not None and pex_id not in allowed:
                continue
            planned: Optional[PlannedRecord] = row.planned
            item = {
                "pex_id": pex_id, "kind": row.kind or "", "reference": marker(pex_id),
                "record_type": planned.record_type if planned else "",
                "date": str(row.date) if row.date is not None else "", "amount": str(row.amount),
                "label": str(row.merchant or ""), "outcome": models.ITEM_SKIPPED, "reason": row.reason or "",
                "xero_id": row.xero_id or "", "planned": None, "action": "create",
            }
            write = None
            if row.status == NEW:
                write = "create"
            elif row.status == POSSIBLE_DUPLICATE and released.get(pex_id) == "push":
                write = "create"
            elif row.status == CHANGED and released.get(pex_id) == "update":
                write = "update"
            elif row.status == SYNCED:
                item["reason"] = f"already in Xero ({row.xero_id})"
            elif row.status in (POSSIBLE_DUPLICATE, CHANGED):
                item["reason"] = f"{row.status}: not pushed unless released on the Preview page ({row.reason})"
            elif row.status in (SKIPPED, BLOCKED):
                item["reason"] = f"{row.status}: {row.reason}"
            elif row.status == VOIDED:
                self._plan_removal(item, row, released.get(pex_id) == "remove", preview.lock_date, shown)
            if write and shown is not None and pex_id not in shown:
                write = None
                item["reason"] = "not in the preview the sync was started from: preview again to include it"
            if write == "create" and item["reference"] in ledger:
                write = None
                item["reason"] = f"already written to Xero ({ledger[item['reference']]})"
            body = planned_to_json(planned) if write and planned is not None else None
            if body is not None and shown is not None and shown[pex_id].get("planned") not in (None, body):
                # what would be written is no longer what the user saw: setup or Xero's lists changed since
                write, body = None, None
                item["reason"] = ("its Xero record would differ from what the preview showed (the setup or Xero's "
                                  "accounts, contacts or tracking changed since): preview again")
            if body is not None:
                item.update(outcome=models.PLANNED, reason="", action=write, planned=body)
            if self.from_preview and shown is not None and pex_id in shown and not write and \
                    shown[pex_id]["status"] == NEW and row.status == SYNCED:
                item["reason"] = f"appeared in Xero since the preview ({row.xero_id}); not written again"
            items.append(item)
        return items

    # ------------------------------------------------------------------------------------- write

    def _settle(self, key: str, run_id: int, records: list[PlannedRecord],
                outcome: dict[str, tuple[bool, str, tuple]]) -> None:
        """Record Xero's answer to one request: ledger, the items of the run that sent it, intent done — at once."""
        created, failed = [], []
        for record in records:
            ok, xero_id, messages = outcome.get(record.reference, (False, "", ("Xero gave no answer for it",)))
            (created if ok else failed).append((record, xero_id, messages))
        self.store.add_to_ledger(self.cid, [(r.reference, r.record_type, x) for r, x, _ in created], run_id,
                           tenant_id=self.tenant)
        self.store.settle_request(key, run_id, [(r.pex_id, x) for r, x, _ in created],
                                  [(r.pex_id, "; ".join(m)) for r, _, m in failed])
        if run_id == self.run_id:
            self.written += len(created)
            self.failed += len(failed)
        else:  # recovery finished a request of an earlier run: this run says so, that run's items keep the outcome
            self.recovered += len(created)

    def _send(self, endpoint: str, records: list[PlannedRecord], *, key: Optional[str] = None,
              body: Optional[str] = None, run_id: Optional[int] = None, xero_id: str = "") -> None:
        """Commit the intent, send the request, record the answer. A resend passes the original key and body."""
        request = self._prepare(endpoint, records, key=key, body=body, run_id=run_id, xero_id=xero_id)
        self._finish(request, self._call(request))

    def _prepare(self, endpoint: str, records: list[PlannedRecord], *, key: Optional[str] = None,
                 body: Optional[str] = None, run_id: Optional[int] = None, xero_id: str = "") -> "_Request":
        """Commit the intent (and mark its items in flight) before anything leaves."""
        run_id = run_id or self.run_id
        if body is None:
            body = _body(records) if endpoint != "update" else json.dumps(
                {"xero_id": xero_id, "record": json.loads(planned_to_json(records[0]))}, sort_keys=True)
        key = key or idempotency_key(self.tenant, endpoint, body)
        self.store.record_intent(key, self.cid, run_id, endpoint, body, [r.reference for r in records],
                           tenant_id=self.tenant)
        self.store.mark_sending(key, run_id, [r.pex_id for r in records])
        return _Request(endpoint, records, key, run_id, xero_id)

    def _call(self, request: "_Request"):
        """The request itself: no database work here, so it may run on a worker thread.
        Returns Xero's per-record results, or the message of a refusal of the whole request."""
        xero, records, key = self.conn.xero(), request.records, request.key
        if request.endpoint == "bank_transactions":
            call = lambda: xero.create_bank_transactions(records, key)  # noqa: E731
        elif request.endpoint == "bank_transfers":
            call = lambda: xero.create_bank_transfers(records, key)  # noqa: E731
        else:
            call = lambda: [xero.update_bank_transaction(request.xero_id, records[0], key)]  # noqa: E731
        try:
            return self._xero_call(call, refusable=True)
        except WholeRequestRefused as refused:
            return refused

    def _finish(self, request: "_Request", answer) -> None:
        """Record Xero's answer to a request."""
        records = request.records
        if isinstance(answer, WholeRequestRefused):
            # nothing of the request was written: each of its items fails with Xero's own words
            outcome = {r.reference: (False, "", (answer.message,)) for r in records}
        else:
            outcome = {r.reference: (r.ok, r.xero_id, tuple(r.messages)) for r in answer}
        self._settle(request.key, request.run_id, records, outcome)

    def _send_batches(self, endpoint: str, chunks: list[list[PlannedRecord]], bodies: list[str], step) -> None:
        """Send batches with up to PIPELINE requests in flight: the next batch's intent is committed and it is
        sent while Xero answers the one before, so the wait for Xero is not spent idle. Only the calls run on
        worker threads; intents and answers are recorded here, in order. A Stop (Cancel, daily limit, session)
        lets the requests already in flight finish and records their answers first."""
        from concurrent.futures import ThreadPoolExecutor

        inflight: deque = deque()
        with ThreadPoolExecutor(max_workers=PIPELINE, thread_name_prefix=f"sync-{self.run_id}-send") as pool:
            try:
                for chunk, body in zip(chunks, bodies):
                    while len(inflight) >= PIPELINE:
                        request, future = inflight.popleft()
                        self._finish(request, future.result())
                    self.checkpoint(step())
                    request = self._prepare(endpoint, chunk, body=body)
                    inflight.append((request, pool.submit(self._call, request)))
                while inflight:
                    request, future = inflight.popleft()
                    self._finish(request, future.result())
            except BaseException:
                for request, future in inflight:  # record what Xero answered; a failed one stays for recovery
                    try:
                        self._finish(request, future.result())
                    except Exception:  # noqa: BLE001 - the first stop is the one reported
                        pass
                raise

    def ensure_contacts(self, records: list[PlannedRecord]) -> set[str]:
        """Create the contacts the records name that Xero does not have; returns names that could not be made."""
        names = sorted({r.contact_name for r in records if r.contact_name})
        if not names:
            return set()
        xero = self.conn.xero()
        self.checkpoint("finding contacts in Xero")
        have = {c.name.casefold() for c in self._xero_call(xero.contacts, names)}
        missing = [n for n in names if n.casefold() not in have]
        refused: set[str] = set()
        for chunk in _chunks(missing, self.batch_size):
            self.checkpoint(f"creating {len(missing)} contacts")
            body = json.dumps(chunk)
            key = idempotency_key(self.tenant, "contacts", body)
            self.store.record_intent(key, self.cid, self.run_id, "contacts", body, chunk, tenant_id=self.tenant)
            results = self._xero_call(xero.create_contacts, chunk, key)
            for name, result in zip(chunk, results):
                if not result.ok and not any("already" in m.lower() for m in result.messages):
                    refused.add(name)
            self.store.finish_intent(key)
        return refused

    def write(self, items: list[dict]) -> None:
        todo = [it for it in items if it["outcome"] == models.PLANNED and it["action"] != "remove"]
        planned = {it["pex_id"]: it["planned"] for it in todo}
        records = {pex_id: planned_from_json(text) for pex_id, text in planned.items()}
        creates = [records[it["pex_id"]] for it in todo if it["action"] == "create"]
        updates = [(records[it["pex_id"]], it["xero_id"]) for it in todo if it["action"] == "update"]
        bank = sorted([r for r in creates if r.record_type == "BankTransaction"], key=lambda r: (r.date, r.pex_id))
        transfers = sorted([r for r in creates if r.record_type == "BankTransfer"], key=lambda r: (r.date, r.pex_id))
        total = len(todo)

        refused = self.ensure_contacts(bank + [r for r, _ in updates])
        if refused:
            blocked = [r for r in bank if r.contact_name in refused]
            for r in blocked:
                self.store.set_items(self.run_id, [r.pex_id], outcome=models.ITEM_FAILED,
                               message=f"Xero refused to create the contact '{r.contact_name}'")
            self.failed += len(blocked)
            bank = [r for r in bank if r.contact_name not in refused]

        chunks = [list(c) for c in _chunks(bank, self.batch_size)]
        # the bodies from the plan's own JSON: the same text the intents keep, without serialising it again
        bodies = ["[" + ",".join(planned[r.pex_id] for r in chunk) + "]" for chunk in chunks]
        self._send_batches("bank_transactions", chunks, bodies,
                           lambda: f"writing to Xero: {self.written + self.failed} of {total}")
        for chunk in _chunks(transfers, self.batch_size):
            self.checkpoint(f"writing transfers to Xero: {self.written + self.failed} of {total}")
            self._send("bank_transfers", list(chunk))
        for record, xero_id in updates:
            self.checkpoint(f"updating changed records: {self.written + self.failed} of {total}")
            self._send("update", [record], xero_id=xero_id)
        self.checkpoint(f"written {self.written} of {total}")

    # ---------------------------------------------------------------------------------- removals

    def _plan_removal(self, item: dict, row, released: bool, lock_date, shown: Optional[dict]) -> None:
        """A voided row: its Xero record is deleted only when the user released it ('remove') and Xero allows it."""
        from pexxero.reconcile import removal_blocker

        record = row.xero_record
        item["record_type"] = "BankTransfer" if isinstance(record, XeroBankTransfer) else "BankTransaction"
        blocker = removal_blocker(record, lock_date)
        if blocker:
            item["reason"] = f"voided in PEX, still in Xero: {blocker}"
        elif not released:
            item["reason"] = "voided in PEX, still in Xero: not removed unless released (remove) on the Preview page"
        elif shown is not None and (shown.get(item["pex_id"]) or {}).get("xero_id") != (row.xero_id or ""):
            item["reason"] = ("voided in PEX, still in Xero, but not in the preview the sync was started from: "
                              "preview again to remove it")
        else:
            item.update(outcome=models.PLANNED, reason="", action="remove", xero_id=row.xero_id)

    def remove(self, items: list[dict]) -> None:
        """Delete in Xero the voided records the user released: Status DELETED, ≤50 a request. Like every write,
        the intent (body and Idempotency-Key) is committed before the request leaves."""
        todo = [it for it in items if it["outcome"] == models.PLANNED and it["action"] == "remove"]
        for chunk in _chunks(todo, self.batch_size):
            self.checkpoint(f"removing voided records from Xero: {self.removed} of {len(todo)}")
            targets = [{"pex_id": it["pex_id"], "reference": it["reference"], "xero_id": it["xero_id"]}
                       for it in chunk]
            self._send_removal(targets)
        if todo:
            self.checkpoint(f"removed {self.removed} of {len(todo)} voided records from Xero")

    def _send_removal(self, targets: list[dict], *, key: Optional[str] = None, body: Optional[str] = None,
                      run_id: Optional[int] = None) -> None:
        from pexxero.clients.xero import WriteResult

        run_id = run_id or self.run_id
        body = body or json.dumps(targets, sort_keys=True)
        key = key or idempotency_key(self.tenant, "remove", body)
        self.store.record_intent(key, self.cid, run_id, "remove", body, [t["reference"] for t in targets],
                           tenant_id=self.tenant)
        self.store.mark_sending(key, run_id, [t["pex_id"] for t in targets])
        xero = self.conn.xero()
        try:
            results = self._xero_call(xero.delete_bank_transactions,
                                      [(t["reference"], t["xero_id"]) for t in targets], key, refusable=True)
        except WholeRequestRefused as refused:
            results = [WriteResult(t["reference"], False, messages=(refused.message,)) for t in targets]
        self._settle_removal(key, run_id, targets, {r.reference: (r.ok, tuple(r.messages)) for r in results})

    def _settle_removal(self, key: str, run_id: int, targets: list[dict],
                        outcome: dict[str, tuple[bool, tuple]]) -> None:
        """Record Xero's answer to one removal request: items, release used up, intent done — at once."""
        removed, failed = [], []
        for t in targets:
            ok, messages = outcome.get(t["reference"], (False, ("Xero gave no answer for it",)))
            if ok:
                removed.append((t["pex_id"], f"voided in PEX: deleted in Xero ({t['xero_id']}, Status DELETED)"))
            else:
                failed.append((t["pex_id"], "; ".join(messages)))
        self.store.settle_removal(key, run_id, self.cid, tenant_id=self.tenant, removed=removed, failed=failed)
        removed, failed = len(removed), len(failed)
        if run_id == self.run_id:
            self.removed += removed
            self.failed += failed
        else:
            self.recovered += removed

    def _recover_removal(self, intent: dict) -> None:
        """A removal left in flight: what Xero shows deleted (or no longer holds) arrived; if none did, the same
        request is resent with its key; if some did, the rest were refused then and are asked for again."""
        from pexxero.reconcile import GONE

        targets = json.loads(intent["body"])
        found = {r.bank_transaction_id: r for r in self._xero_call(
            self.conn.xero().bank_transactions_by_reference, [t["reference"] for t in targets])}
        done = [t for t in targets if t["xero_id"] not in found or found[t["xero_id"]].status.upper() in GONE]
        if not done:
            self._send_removal(targets, key=intent["key"], body=intent["body"], run_id=intent["run_id"])
            return
        self._settle_removal(intent["key"], intent["run_id"], done, {t["reference"]: (True, ()) for t in done})
        rest = [t for t in targets if t not in done]
        if rest:
            self._send_removal(rest, run_id=intent["run_id"])

    # ------------------------------------------------------------------------------- attachments
    #
    # What to attach is decided from our own records (attachment_items: what we attached, what is in flight,
    # what Xero refused) and PEX's list of each record's receipts, read again by every sync so a receipt added
    # in PEX later is found. Xero's list of a record's attachments is read only where our records cannot answer:
    # an upload left in flight (recover), or a record someone or something else wrote (no local record at all).

    def _receipt(self, pex_id: int, attachment_id: str, outcome: str, message: str = "", *, status: str = "",
                 xero_parent_id: str = "", file_name: str = "", key: str = "") -> None:
        """Record a receipt's outcome in this run and, with `status`, where it stands across runs — at once."""
        with self.store.transaction():
            self.store.add_receipt(self.run_id, pex_id, attachment_id, outcome, message, file_name=file_name,
                             xero_parent_id=xero_parent_id)
            if status:
                self.store.set_receipt_state(self.cid, pex_id, attachment_id, status, message, self.run_id,
                                       tenant_id=self.tenant, xero_parent_id=xero_parent_id, file_name=file_name,
                                       key=key)
        if outcome == models.RECEIPT_ATTACHED:
            self.attached += 1
        elif outcome == models.RECEIPT_FAILED:
            self.attachment_failures += 1

    def _receipt_targets(self) -> list[tuple[int, str, bool]]:
        """(PEX id, Xero bank transaction id, written by us) of every record in range a receipt can go on:
        purchases, refunds, dispute credits (and any other PEX transaction that became a bank transaction)."""
        ledger = self.store.ledger_types(self.cid, tenant_id=self.tenant)
        targets = []
        for pex_id, status, xero_id in self.receipt_rows:
            entry = ledger.get(marker(pex_id))
            if entry is not None:
                if entry[0] == "BankTransaction" and entry[1]:
                    targets.append((pex_id, entry[1], True))
            elif status in (SYNCED, CHANGED) and xero_id:  # in Xero with our marker, written elsewhere
                targets.append((pex_id, xero_id, False))
        return sorted(targets)

    def attach(self) -> None:
        """Every PEX receipt of every record in range that Xero does not have yet, exactly once."""
        if not self.conn.setup().purchases.attachments:
            return
        targets = self._receipt_targets()
        if not targets:
            return
        from pexxero.clients.pex import PexError

        pex = self.conn.pex()
        states = self.store.receipt_states(self.cid, tenant_id=self.tenant)
        known = {pex_id for pex_id, _ in states}  # records we hold any receipt record of
        local = {}  # pex id -> receipts we know of on its record (attached or in flight)
        for (pex_id, _), row in states.items():
            if row["status"] in (models.ATTACHED, models.IN_FLIGHT):
                local[pex_id] = local.get(pex_id, 0) + 1
        sends = []
        for n, (pex_id, xero_id, ours) in enumerate(targets):
            self.checkpoint(f"reading receipts in PEX: {n} of {len(targets)} records")
            try:
                listed = pex.attachments(pex_id)
            except PexError as exc:
                self._pex_stopped_receipts(exc, len(targets) - n, "records")
                return
            fresh = [a for a in listed if states.get((pex_id, a.attachment_id), {}).get("status")
                     not in (models.ATTACHED, models.REFUSED, models.IN_FLIGHT)]
            if not fresh:
                continue
            # a record we did not write and know nothing of, or an upload an earlier version of pexxero gave up
            # on without looking ('failed'): what is on the record already, once, before anything is sent
            legacy = any(states.get((pex_id, a.attachment_id), {}).get("status") == "failed" for a in fresh)
            if (not ours and pex_id not in known) or legacy:
                names = self._xero_call(self.conn.xero().attachments, xero_id)
                stems = {name.rsplit(".", 1)[0].casefold() for name in names}
                local[pex_id] = max(local.get(pex_id, 0), len(names))
                for att in [a for a in fresh if a.attachment_id.casefold() in stems]:
                    self._receipt(pex_id, att.attachment_id, models.RECEIPT_ATTACHED, "already on the Xero record",
                                  status=models.ATTACHED, xero_parent_id=xero_id)
                    self.attached -= 1  # there already: not attached by this run
                fresh = [a for a in fresh if a.attachment_id.casefold() not in stems]
            for att in fresh:
                if att.upload_status.lower() != "loaded":
                    self._receipt(pex_id, att.attachment_id, models.RECEIPT_WAITING,
                                  f"PEX reports the receipt as {att.upload_status or 'not loaded'}: it is attached "
                                  "by the first sync after PEX has the file", status=models.NOT_IN_PEX,
                                  xero_parent_id=xero_id)
                else:
                    sends.append((pex_id, xero_id, att))
        self.store.update_run(self.run_id, receipts_to_send=len(sends))
        self.receipts_to_send = len(sends)
        from pexxero.clients.pex import PexAuthError, PexRateLimited, PexUnavailable

        for n, (pex_id, xero_id, att) in enumerate(sends):
            self.checkpoint(f"attaching receipts: {n} of {len(sends)}")
            try:
                if not self._attach_one(pex_id, xero_id, att, local):
                    self.attachment_failures += len(sends) - n - 1  # not sent: the next sync sends them
                    return
            except (PexUnavailable, PexRateLimited, PexAuthError) as exc:
                self._pex_stopped_receipts(exc, len(sends) - n, "receipts")
                return
            except PexError as exc:  # this one file (gone, empty): it waits, the others go on
                self._receipt(pex_id, att.attachment_id, models.RECEIPT_WAITING,
                              f"PEX could not hand out the file ({exc.message}); the next sync tries again",
                              status=models.NOT_IN_PEX, xero_parent_id=xero_id)

    def _pex_stopped_receipts(self, exc, left: int, what: str) -> None:
        # the records are in Xero; what is left is receipts, which the next sync attaches
        self.attachment_failures += left
        self.notes.append(f"PEX did not answer ({exc.message}) while receipts were fetched: the records are in "
                          f"Xero, the receipts of {left} {what} are not attached yet; the next sync attaches them")

    def _attach_one(self, pex_id: int, xero_id: str, att, local: dict[int, int]) -> bool:
        """Send one receipt. False when Xero stopped answering (the rest waits for the next sync)."""
        from pexxero.clients.xero import XeroDailyLimit, XeroError, XeroSessionFailed, XeroUnavailable

        if local.get(pex_id, 0) >= MAX_ATTACHMENTS:
            self._receipt(pex_id, att.attachment_id, models.RECEIPT_FAILED,
                          f"not sent: Xero takes at most {MAX_ATTACHMENTS} attachments on a record and this one "
                          f"has {local[pex_id]}; attach it in Xero by hand if it is needed",
                          status=models.REFUSED, xero_parent_id=xero_id)
            return True
        if att.size > MAX_RECEIPT_BYTES:
            self._refuse_size(pex_id, att.attachment_id, att.size, xero_id)
            return True
        file = self.conn.pex().download_attachment(pex_id, att.attachment_id)
        if len(file.content) > MAX_RECEIPT_BYTES:
            self._refuse_size(pex_id, att.attachment_id, len(file.content), xero_id, file.file_name)
            return True
        body = json.dumps({"pex_id": pex_id, "attachment_id": att.attachment_id, "xero_parent_id": xero_id,
                           "file_name": file.file_name,
                           "sha256": hashlib.sha256(file.content).hexdigest()}, sort_keys=True)
        key = idempotency_key(self.tenant, "attachment", body)
        with self.store.transaction():  # the intent and the receipt's state together, before the upload leaves
            self.store.record_intent(key, self.cid, self.run_id, "attachment", body, [marker(pex_id)],
                               tenant_id=self.tenant)
            self.store.set_receipt_state(self.cid, pex_id, att.attachment_id, models.IN_FLIGHT, "", self.run_id,
                                   tenant_id=self.tenant, xero_parent_id=xero_id, file_name=file.file_name, key=key)
        local[pex_id] = local.get(pex_id, 0) + 1
        try:
            self.conn.xero().add_attachment(xero_id, file, key)
        except (XeroSessionFailed, XeroDailyLimit) as exc:
            raise self._stop_for(exc)  # the intent stays open: the next run looks it up first
        except XeroUnavailable as exc:
            # it may have arrived: the intent stays open and the next run looks it up before resending
            self._receipt(pex_id, att.attachment_id, models.RECEIPT_FAILED,
                          f"Xero did not answer ({exc.message}); the next sync checks whether it arrived and "
                          "sends it if not", xero_parent_id=xero_id, file_name=file.file_name)
            self.notes.append(f"Xero did not answer ({exc.message}) while receipts were sent: receipts could not "
                              "be attached yet; the records are in Xero and the next sync attaches the rest")
            return False
        except XeroError as exc:  # refused (too large, too many, a bad file): said per receipt, not sent again
            with self.store.transaction():
                self._receipt(pex_id, att.attachment_id, models.RECEIPT_FAILED, exc.message, status=models.REFUSED,
                              xero_parent_id=xero_id, file_name=file.file_name, key=key)
                self.store.finish_intent(key)
            local[pex_id] -= 1
            return True
        with self.store.transaction():
            self._receipt(pex_id, att.attachment_id, models.RECEIPT_ATTACHED, status=models.ATTACHED,
                          xero_parent_id=xero_id, file_name=file.file_name, key=key)
            self.store.finish_intent(key)
        return True

    def _refuse_size(self, pex_id: int, attachment_id: str, size: int, xero_id: str, file_name: str = "") -> None:
        self._receipt(pex_id, attachment_id, models.RECEIPT_FAILED,
                      f"not sent: the file is {size / 1024 / 1024:.1f} MB and Xero takes attachments up to "
                      f"{MAX_RECEIPT_BYTES // 1024 // 1024} MB; attach a smaller copy in Xero by hand",
                      status=models.REFUSED, xero_parent_id=xero_id, file_name=file_name)

    def _recover_attachment(self, intent: dict) -> None:
        """An upload a dead run left in flight: look it up on its record, resend it with its key if missing."""
        from pexxero.clients.xero import XeroDailyLimit, XeroError, XeroSessionFailed, XeroUnavailable

        data, key = json.loads(intent["body"]), intent["key"]
        pex_id, attachment_id, parent = data["pex_id"], data["attachment_id"], data["xero_parent_id"]
        xero = self.conn.xero()
        common = dict(xero_parent_id=parent, file_name=data["file_name"], key=key)
        if data["file_name"] in self._xero_call(xero.attachments, parent):
            with self.store.transaction():
                self._receipt(pex_id, attachment_id, models.RECEIPT_ATTACHED, status=models.ATTACHED, **common)
                self.store.finish_intent(key)
            return
        file = self.conn.pex().download_attachment(pex_id, attachment_id)
        try:
            xero.add_attachment(parent, file, key)
        except (XeroSessionFailed, XeroDailyLimit, XeroUnavailable) as exc:
            raise self._stop_for(exc)
        except XeroError as exc:
            with self.store.transaction():
                self._receipt(pex_id, attachment_id, models.RECEIPT_FAILED, exc.message, status=models.REFUSED, **common)
                self.store.finish_intent(key)
            return
        with self.store.transaction():
            self._receipt(pex_id, attachment_id, models.RECEIPT_ATTACHED, status=models.ATTACHED, **common)
            self.store.finish_intent(key)


def run_sync(conn, **options) -> dict:
    """Run one sync of `conn` to the end and return its run row (status, counts, message). It works on the
    organisation chosen when it starts, to its end, whatever is chosen meanwhile."""
    with conn.pinned_tenant():
        return _run_sync(conn, **options)


def _run_sync(conn, *, run_id: Optional[int] = None, retry_failed: bool = False, from_preview: bool = False,
              today: Optional[date] = None, batch_size: int = BATCH_SIZE, full_refresh: bool = False) -> dict:
    from pexxero.clients.pex import PexError
    from pexxero.clients.xero import XeroError

    store = conn.store
    mode = "retry_failed" if retry_failed else "sync"
    if run_id is None:
        run_id = store.queue_run(conn.connection_id, mode)
    try:
        owner = store.acquire_lock(conn.connection_id, run_id)
    except AlreadyRunning as exc:
        store.update_run(run_id, status=models.FAILED, ended_at=now_iso(),
                        message=f"not started: {exc}")
        raise
    store.update_run(run_id, status=models.RUNNING, mode=mode, started_at=now_iso(), pid=os.getpid(),
                    heartbeat_at=time.time(), tenant_id=conn.tenant_id())
    calls_before = _calls(conn)  # the gateway counts for its lifetime; a run reports its own calls
    beat = _Heartbeat(store, conn.connection_id, run_id, owner)
    beat.start()
    runner = Runner(conn, run_id, mode=mode, from_preview=from_preview, today=today, batch_size=batch_size,
                    heartbeat=beat, tenant=conn.tenant_id(), full_refresh=full_refresh)
    status, message, resume_at = models.SUCCEEDED, "", None
    try:
        runner.refuse_foreign_plan()
        runner.recover()
        synced, selected = _sync_tags(conn)
        store.update_run(run_id, fields_synced=synced, fields_selected=selected)
        items = runner.plan()
        store.add_items(run_id, items)
        to_write = sum(1 for it in items if it["outcome"] == models.PLANNED)
        store.update_run(run_id, to_write=to_write)
        runner.write(items)
        runner.remove(items)
        runner.attach()
        if runner.failed:
            status = models.PARTIAL
            message = f"{runner.failed} of {to_write} could not be written: see each item's message from Xero"
        elif runner.attachment_failures:
            status = models.PARTIAL
            message = "; ".join(dict.fromkeys(runner.notes)) or \
                f"{runner.attachment_failures} receipts could not be attached: see each receipt's message"
        else:
            message = f"{runner.written} written to Xero" if to_write else "nothing new to write"
        if runner.removed:
            removed = f"{runner.removed} voided in PEX removed from Xero"
            message = removed if message == "0 written to Xero" else f"{message}; {removed}"
        if runner.recovered:
            message += f"; {runner.recovered} written to Xero finishing what an interrupted run left in flight"
        message += f"; {_receipts_said(runner)}" if _receipts_said(runner) else ""
        if runner.waiting:
            message += f"; {runner.waiting}"
    except Stop as stop:
        status, message, resume_at = stop.status, stop.message, stop.resume_at
    except XeroError as exc:  # a read outside the runner's own calls (the plan's reads) ends the run the same way
        stop = Runner._stop_for(exc)
        status, message, resume_at = stop.status, stop.message, stop.resume_at
    except DatabaseUnwritable as exc:  # disk full, read-only, I/O error: no intent can be committed now
        status, message = models.FAILED, DATABASE_FAILED.format(error=exc)
    except PexError as exc:
        status, message = models.FAILED, pex_stopped(exc)
    except Exception as exc:  # noqa: BLE001 - the run must end with a status and words, never a hang
        from pexxero.connection import NotConnected

        status = models.FAILED
        message = str(exc) if isinstance(exc, NotConnected) else f"the sync stopped on an unexpected error: {type(exc).__name__}: {exc}"
    finally:
        beat.stop()
        end = dict(status=status, message=message, ended_at=now_iso(), written=runner.written,
                   failed=runner.failed, resume_at=resume_at, calls=_calls(conn) - calls_before, step="",
                   receipts_attached=runner.attached, receipts_failed=runner.attachment_failures)
        recorded = _record_end(conn, run_id, owner, end)
    if not recorded:
        # the database would not take the run's end: say it anyway; the next sync finds the lock of a finished
        # process and marks this run Interrupted
        return {**(_read_run(store, run_id) or {"id": run_id, "to_write": 0}), **end}
    return store.get_run(run_id)


def _receipts_said(runner: Runner) -> str:
    """How many receipts the run attached, and what is left ("" when it had none to deal with)."""
    counts = runner.store.receipt_counts(runner.run_id)
    waiting = counts.get(models.RECEIPT_WAITING, 0)
    if not (runner.attached or runner.attachment_failures or waiting or runner.receipts_to_send):
        return ""
    parts = [f"receipts attached: {runner.attached}"]
    if runner.attachment_failures:
        parts.append(f"not attached: {runner.attachment_failures}")
    if waiting:
        parts.append(f"waiting for PEX to have the file: {waiting}")
    return ", ".join(parts)


def _record_end(conn, run_id: int, owner: str, end: dict) -> bool:
    """Write the run's end and free its lock; through a fresh connection when the run's own one is broken.
    False when neither could write (the disk is full or the file read-only)."""
    for attempt in range(2):
        store = conn.store if attempt == 0 else conn.store.second_connection()
        try:
            store.update_run(run_id, **end)
            store.release_lock(conn.connection_id, owner)
            return True
        except DatabaseUnwritable:
            continue
        finally:
            if attempt:
                store.close()
    return False


def _read_run(store: Store, run_id: int) -> Optional[dict]:
    try:
        return store.get_run(run_id)
    except DatabaseUnwritable:
        return None


def _calls(conn) -> int:
    """Xero calls the connection's gateway made so far (0 before it exists: building it calls nothing)."""
    return conn.xero_calls()


def _sync_tags(conn) -> tuple[int, int]:
    """Tag sync is the first step of every sync; it never stops the transactions from syncing."""
    from pexxero import tags

    try:
        report = tags.sync_tags(conn)
    except Exception:  # noqa: BLE001 - counted as fields not synced; the message is in the tag report
        setup = conn.setup()
        selected = int(bool(setup.xero.expense_accounts_tag)) + len(setup.xero.tracking_tags)
        return 0, selected
    return report.synced, report.selected


def start_background(db_path: str | Path, *, retry_failed: bool = False, from_preview: bool = True,
                     env: Optional[dict] = None, log_path: Optional[Path] = None, full_refresh: bool = False) -> int:
    """Start a sync in a detached child process and return its run id at once.

    A process, not a thread: it keeps running when the page is left or refreshed and even when the dashboard
    server restarts; a crash in it cannot take the dashboard down; and it is the very same `python -m pexxero
    sync` that cron runs.
    """
    from pexxero.store import open_private

    store = Store.open(db_path)
    cid = store.connection_id()
    running = store.running_run(cid)
    if running is not None:
        raise AlreadyRunning(running["id"])
    run_id = store.queue_run(cid, "retry_failed" if retry_failed else "sync")
    args = [sys.executable, "-m", "pexxero", "--db", str(db_path), "sync", "--run-id", str(run_id)]
    if retry_failed:
        args.append("--retry-failed")
    if from_preview:
        args.append("--from-preview")
    if full_refresh:
        args.append("--full-refresh")
    try:
        with open_private(log_path or (str(db_path) + ".sync.log"), "ab") as log:
            child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                     env=env if env is not None else os.environ.copy(), close_fds=True)
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
