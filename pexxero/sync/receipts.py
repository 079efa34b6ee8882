"""Receipts: every PEX receipt of every record in range that Xero does not have yet, attached exactly once."""

from __future__ import annotations

import hashlib
import json

from pexxero import models
from pexxero.models import CHANGED, SYNCED, marker
from pexxero.sync import budget
from pexxero.sync.base import MAX_ATTACHMENTS, MAX_RECEIPT_BYTES, RunState, idempotency_key


class Attaching(RunState):
    """Attaches PEX receipts to the records' bank transactions in Xero."""

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
            if self.meter is not None and not self.meter.fits():  # the day's calls are used up: pause here
                raise budget.receipt_stop(self, n, len(sends) - n)
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
        budget.remember_receipts_left(self.conn, self.tenant, 0)

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

