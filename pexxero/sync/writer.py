"""Writing records exactly once: the intent (body and Idempotency-Key) is committed before a request leaves, batches go
out with PIPELINE requests in flight, and what a dead run left in flight is settled first (recovery)."""

from __future__ import annotations

import json
from collections import deque
from typing import Optional

from pexxero import models
from pexxero.models import PlannedRecord, SyncItem, planned_from_json, planned_to_json
from pexxero.reconcile import GONE
from pexxero.sync.base import (
    PIPELINE,
    RunState,
    WholeRequestRefused,
    _body,
    _chunks,
    _records,
    _Request,
    idempotency_key,
)


class Writing(RunState):
    """Sends the run's records to Xero and records every answer."""

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
            elif endpoint == "undo":
                self._recover_undo(intent)
            elif endpoint == "update":
                data = json.loads(body)
                record = planned_from_json(json.dumps(data["record"]))
                self._send("update", [record], key=key, body=body, run_id=intent["run_id"], xero_id=data["xero_id"])
            else:
                lookup = xero.bank_transfers_by_reference if endpoint == "bank_transfers" \
                    else xero.bank_transactions_by_reference
                # a deleted record carrying the reference was undone (or removed by hand): it is not this request's
                found = {r.reference: r for r in self._xero_call(lookup, refs)
                         if (getattr(r, "status", "") or "").upper() not in GONE}
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
        key = key or self._creation_key(endpoint, body, records)
        self.store.record_intent(key, self.cid, run_id, endpoint, body, [r.reference for r in records],
                           tenant_id=self.tenant)
        self.store.mark_sending(key, run_id, [r.pex_id for r in records])
        return _Request(endpoint, records, key, run_id, xero_id)

    def _creation_key(self, endpoint: str, body: str, records: list[PlannedRecord]) -> str:
        """The request's Idempotency-Key. A record written again after an undo gets a key of its own generation
        (how many times its reference was undone): under the first key Xero would replay its first answer, the
        record now deleted. Records never undone keep the plain key of their body."""
        if endpoint not in ("bank_transactions", "bank_transfers"):
            return idempotency_key(self.tenant, endpoint, body)
        generations = self.store.generations(self.cid, [r.reference for r in records], tenant_id=self.tenant)
        if not generations:
            return idempotency_key(self.tenant, endpoint, body)
        return idempotency_key(self.tenant, endpoint, f"{body}|generations:{json.dumps(generations, sort_keys=True)}")

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

    def write(self, items: list[SyncItem]) -> None:
        todo = [it for it in items if it.outcome == models.PLANNED and it.action != "remove"]
        planned = {it.pex_id: it.planned for it in todo}
        records = {pex_id: planned_from_json(text) for pex_id, text in planned.items()}
        creates = [records[it.pex_id] for it in todo if it.action == "create"]
        updates = [(records[it.pex_id], it.xero_id) for it in todo if it.action == "update"]
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

