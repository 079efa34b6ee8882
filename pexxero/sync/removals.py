"""Removing voided records: a released `voided` row's bank transaction or bank transfer is deleted in Xero (Status
DELETED) by the same path as a write: intent first, an interrupted removal looked up before it is sent again."""

from __future__ import annotations

import json
from typing import Optional

from pexxero import models
from pexxero.models import SyncItem
from pexxero.sync.base import RunState, WholeRequestRefused, _chunks, idempotency_key


class Removing(RunState):
    """Deletes in Xero the voided records the user released."""

    def remove(self, items: list[SyncItem]) -> None:
        """Delete in Xero the voided records the user released: Status DELETED, ≤50 a request. Like every write,
        the intent (body and Idempotency-Key) is committed before the request leaves."""
        todo = [it for it in items if it.outcome == models.PLANNED and it.action == "remove"]
        for record_type in ("BankTransaction", "BankTransfer"):  # one endpoint a request
            for chunk in _chunks([it for it in todo if (it.record_type or "BankTransaction") == record_type],
                                 self.batch_size):
                self.checkpoint(f"removing voided records from Xero: {self.removed} of {len(todo)}")
                targets = [{"pex_id": it.pex_id, "reference": it.reference, "xero_id": it.xero_id} for it in chunk]
                if record_type == "BankTransfer":  # (a bank transaction's body stays as it always was)
                    targets = [{**t, "record_type": record_type} for t in targets]
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
        delete = xero.delete_bank_transfers if targets[0].get("record_type") == "BankTransfer" \
            else xero.delete_bank_transactions
        try:
            results = self._xero_call(delete,
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
        if targets[0].get("record_type") == "BankTransfer":  # listed with deleted ones only when asked: by id
            found = {r.bank_transfer_id: r for r in self._xero_call(
                self.conn.xero().bank_transfers_by_id, [t["xero_id"] for t in targets])}
        else:
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

