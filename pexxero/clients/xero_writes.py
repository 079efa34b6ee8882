"""The Xero gateway's writes: contacts, bank transactions (create, update, delete), bank transfers (create, delete),
attachments.

A mixin of `XeroGateway` (`pexxero.clients.xero`): each write goes through the gateway's `_send` (limiter, fresh
token, retries with the same `Idempotency-Key`) and reads Xero's answer per element with its `_results`.
"""

from __future__ import annotations

from typing import Sequence

from xero_python.accounting import models as xm

from pexxero.clients.xero_calls import Refused, XeroError
from pexxero.clients.xero_models import (WriteResult, deletion, deletion_results, sdk_bank_transaction,
                                         sdk_bank_transfer)
from pexxero.models import AttachmentFile, PlannedRecord, XeroContact

BATCH_LIMIT = 50  # Xero's advice: at most 50 elements per write


class XeroWrites:
    """What the gateway writes; the reads and the plumbing are the gateway's own."""

    def create_contacts(self, names: Sequence[str], idempotency_key: str) -> list[WriteResult]:
        """Create contacts by name, in batches of at most 50 (batch n after the first carries key `KEY-n`)."""
        results: list[WriteResult] = []
        for n, start in enumerate(range(0, len(names), BATCH_LIMIT)):
            batch = list(names[start:start + BATCH_LIMIT])
            key = idempotency_key if n == 0 else f"{idempotency_key}-{n}"
            body = xm.Contacts(contacts=[xm.Contact(name=name) for name in batch])
            data = self._send(self._accounting.create_contacts, body, summarize_errors=False,
                              idempotency_key=_key(key), validation_body=True)
            answered = self._results(data, "Contacts", "contacts", batch, lambda c: c.contact_id)
            self._remember_created_contacts(batch, answered)
            results += answered
        return results

    def _remember_created_contacts(self, names: Sequence[str], results: Sequence[WriteResult]) -> None:
        """Keep the memo true after PUT Contacts, from Xero's answer (no second read): a created name now has
        its contact; a refused one is forgotten, so the next look-up asks Xero (it may exist after all)."""
        with self._memo_lock:
            everything = self._memo.get("contacts")
            for name, result in zip(names, results):
                key = name.casefold()
                if result.ok and result.xero_id:
                    made = XeroContact(contact_id=result.xero_id, name=name)
                    known = self._contacts_by_name.setdefault(key, [])
                    if not any(c.contact_id == made.contact_id for c in known):
                        known.append(made)
                    if everything is not None and not any(c.contact_id == made.contact_id for c in everything):
                        everything = (*everything, made)
                else:
                    self._contacts_by_name.pop(key, None)
            if everything is not None:
                self._memo["contacts"] = everything

    def create_bank_transactions(self, records: Sequence[PlannedRecord], idempotency_key: str) -> list[WriteResult]:
        """One request (≤50 records, summarizeErrors=false): one result per record, in order, Xero's messages."""
        records = _batch(records)
        if not records:
            return []
        body = xm.BankTransactions(bank_transactions=[sdk_bank_transaction(r) for r in records])
        data = self._send(self._accounting.create_bank_transactions, body, summarize_errors=False,
                          idempotency_key=_key(idempotency_key), validation_body=True)
        refs = [r.reference for r in records]
        results = self._results(data, "BankTransactions", "bank_transactions", refs, lambda t: t.bank_transaction_id)
        return self._with_ids(results, lambda refs: {t.reference: t.bank_transaction_id
                                                     for t in self.bank_transactions_by_reference(refs)})

    def _with_ids(self, results: list[WriteResult], lookup) -> list[WriteResult]:
        """Xero said OK but left an element's id out: find it by its reference, so nothing points at ""."""
        missing = [r.reference for r in results if r.ok and not r.xero_id]
        if not missing:
            return results
        found = lookup(missing)
        out = []
        for r in results:
            if r.ok and not r.xero_id:
                xero_id = found.get(r.reference, "")
                r = WriteResult(r.reference, True, xero_id=xero_id) if xero_id else WriteResult(
                    r.reference, False, messages=("Xero answered OK without an id, and holds no record with this "
                                                  "reference: it was not written",))
            out.append(r)
        return out

    def update_bank_transaction(self, bank_transaction_id: str, record: PlannedRecord,
                                idempotency_key: str) -> WriteResult:
        """Rewrite one bank transaction from its plan; Xero refuses reconciled ones (ok=False, its message)."""
        tx = sdk_bank_transaction(record)
        tx.bank_transaction_id = bank_transaction_id
        data = self._send(self._accounting.update_bank_transaction, bank_transaction_id,
                          xm.BankTransactions(bank_transactions=[tx]), idempotency_key=_key(idempotency_key),
                          validation_body=True)
        return self._results(data, "BankTransactions", "bank_transactions", [record.reference],
                             lambda t: t.bank_transaction_id)[0]

    def delete_bank_transactions(self, targets: Sequence[tuple[str, str]], idempotency_key: str) -> list[WriteResult]:
        """Delete bank transactions: one POST /BankTransactions (≤50, summarizeErrors=false) setting each one's
        Status to DELETED. `targets`: (reference, BankTransactionID). Xero keeps them, listed with Status DELETED;
        it refuses reconciled ones and those dated on or before a lock date (ok=False, its message)."""
        return self._delete(
            targets, idempotency_key, self._accounting.update_or_create_bank_transactions,
            lambda ids: xm.BankTransactions(bank_transactions=[deletion(xero_id) for xero_id in ids]),
            "BankTransactions", "bank_transactions", lambda t: t.bank_transaction_id, "BankTransactionID")

    def delete_bank_transfers(self, targets: Sequence[tuple[str, str]], idempotency_key: str) -> list[WriteResult]:
        """Delete bank transfers: one POST /BankTransfers (≤50, summarizeErrors=false) setting each one's Status to
        DELETED (Xero deletes its two bank transaction lines with it). `targets`: (reference, BankTransferID).
        Xero refuses reconciled ones and those dated on or before a lock date (ok=False, its message)."""
        return self._delete(
            targets, idempotency_key, self._accounting.delete_bank_transfers,
            lambda ids: xm.BankTransfersDelete(bank_transfers=[
                xm.BankTransferDelete(bank_transfer_id=xero_id, status="DELETED") for xero_id in ids]),
            "BankTransfers", "bank_transfers", lambda t: t.bank_transfer_id, "BankTransferID")

    def _delete(self, targets, idempotency_key: str, call, body_of, collection: str, attr: str, id_of,
                id_field: str) -> list[WriteResult]:
        """One deletion request for ≤50 (reference, Xero id) targets and a result per target."""
        targets = list(targets)
        if len(targets) > BATCH_LIMIT:
            raise ValueError(f"at most {BATCH_LIMIT} records per request (got {len(targets)})")
        if not targets:
            return []
        data = self._send(call, body_of([xero_id for _, xero_id in targets]), summarize_errors=False,
                          idempotency_key=_key(idempotency_key), validation_body=True)
        if isinstance(data, Refused):
            return self._results(data, collection, attr, [ref for ref, _ in targets], id_of)
        # read as JSON, not through the SDK's model: a refused element comes back as sent, without the fields
        # (Type, BankAccount, LineItems…) the model requires
        elements = data.get(collection) if isinstance(data, dict) else None
        if not isinstance(elements, list) or len(elements) != len(targets):
            raise XeroError(f"Unexpected answer from Xero: not one {collection[:-1]} per deletion sent")
        return deletion_results(targets, elements, id_field=id_field)

    def create_bank_transfers(self, records: Sequence[PlannedRecord], idempotency_key: str) -> list[WriteResult]:
        """One request for ≤50 transfers. BankTransfers has no summarizeErrors: Xero takes all or none, so
        when it refuses the batch, the refused elements carry Xero's messages and the rest say why they wait."""
        records = _batch(records)
        if not records:
            return []
        if not self._accounts_by_code:
            self.accounts()
        results: list[WriteResult | None] = []
        sendable: list[PlannedRecord] = []
        for r in records:
            missing = [c for c in (r.from_account_code, r.to_account_code) if c not in self._accounts_by_code]
            if missing:
                results.append(WriteResult(r.reference, False, messages=tuple(
                    f"Account code {c} is not in this organisation's chart of accounts" for c in missing)))
            else:
                results.append(None)
                sendable.append(r)
        if sendable:
            body = xm.BankTransfers(bank_transfers=[sdk_bank_transfer(r, self._accounts_by_code) for r in sendable])
            data = self._send(self._accounting.create_bank_transfer, body, idempotency_key=_key(idempotency_key),
                              validation_body=True)
            sent = iter(self._with_ids(
                self._results(data, "BankTransfers", "bank_transfers", [r.reference for r in sendable],
                              lambda t: t.bank_transfer_id, all_or_none=True),
                lambda refs: {t.reference: t.bank_transfer_id for t in self.bank_transfers_by_reference(refs)}))
            results = [r if r is not None else next(sent) for r in results]
        return results  # type: ignore[return-value]

    def add_attachment(self, bank_transaction_id: str, file: AttachmentFile, idempotency_key: str) -> str:
        """Attach a file to a bank transaction; returns Xero's attachment id."""
        data = self._send(self._accounting.create_bank_transaction_attachment_by_file_name, bank_transaction_id,
                          file.file_name, file.content, idempotency_key=_key(idempotency_key))
        found = self._model("Attachments", data).attachments or []
        if not found:
            raise XeroError(f"Xero did not confirm the attachment {file.file_name}")
        return found[0].attachment_id or ""


def _key(key: str) -> str:
    if not key or len(key) > 128:
        raise ValueError("an Idempotency-Key is 1 to 128 characters")
    return key


def _batch(records: Sequence[PlannedRecord]) -> list[PlannedRecord]:
    if len(records) > BATCH_LIMIT:
        raise ValueError(f"at most {BATCH_LIMIT} records per request (got {len(records)})")
    return list(records)


