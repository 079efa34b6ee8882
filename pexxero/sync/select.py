"""What a run writes: each PEX row of the preview becomes a run item, planned or skipped with its reason. It
writes nothing to Xero."""

from __future__ import annotations

from typing import Optional

from pexxero import models
from pexxero.models import (
    BLOCKED,
    CHANGED,
    NEW,
    POSSIBLE_DUPLICATE,
    SKIPPED,
    SYNCED,
    VOIDED,
    XERO_ONLY,
    PlannedRecord,
    SyncItem,
    XeroBankTransfer,
    marker,
    planned_to_json,
)
from pexxero.preview import PreviewRow
from pexxero.sync.base import RunState


class Selecting(RunState):
    """Chooses the run's items from the preview, the ledger, the releases and the saved plan."""

    # -------------------------------------------------------------------------------------- plan

    def plan(self) -> list[SyncItem]:
        """Decide what this run writes. Returns the run's items; writes nothing to Xero."""
        conn = self.conn
        self.checkpoint("reading PEX and Xero")
        preview = conn.preview(today=self.today, refresh=not self.from_preview, full_refresh=self.full_refresh,
                               save_plan=False)
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

        items: list[SyncItem] = []
        for row in preview.rows():
            if row.status == XERO_ONLY or row.pex_id is None:
                continue
            pex_id = row.pex_id
            planned: Optional[PlannedRecord] = row.planned
            if planned is not None and planned.record_type == "BankTransaction":
                self.receipt_rows.append((pex_id, row.status, row.xero_id))  # receipts may go on it
            if allowed is not None and pex_id not in allowed:
                continue
            item = SyncItem(
                pex_id=pex_id, kind=row.kind, reference=marker(pex_id),
                record_type=planned.record_type if planned else "",
                date=str(row.date) if row.date is not None else "", amount=str(row.amount),
                label=row.merchant, outcome=models.ITEM_SKIPPED, reason=row.reason, xero_id=row.xero_id,
                status=row.status,
            )
            write = None
            if row.status == NEW:
                write = "create"
            elif row.status == POSSIBLE_DUPLICATE and released.get(pex_id) == "push":
                write = "create"
            elif row.status == CHANGED and released.get(pex_id) == "update":
                write = "update"
            elif row.status == SYNCED:
                item.reason = f"already in Xero ({row.xero_id})"
            elif row.status in (POSSIBLE_DUPLICATE, CHANGED):
                item.reason = f"{row.status}: not pushed unless released on the Preview page ({row.reason})"
            elif row.status in (SKIPPED, BLOCKED):
                item.reason = f"{row.status}: {row.reason}"
            elif row.status == VOIDED:
                self._plan_removal(item, row, released.get(pex_id) == "remove", preview.lock_date, shown)
            if write and shown is not None and pex_id not in shown:
                write = None
                item.reason = "not in the preview the sync was started from: preview again to include it"
            if write == "create" and item.reference in ledger:
                write = None
                item.reason = f"already written to Xero ({ledger[item.reference]})"
                item.status = SYNCED
            body = planned_to_json(planned) if write and planned is not None else None
            if body is not None and shown is not None and shown[pex_id].get("planned") not in (None, body):
                # what would be written is no longer what the user saw: setup or Xero's lists changed since
                write, body = None, None
                item.reason = ("its Xero record would differ from what the preview showed (the setup or Xero's "
                               "accounts, contacts or tracking changed since): preview again")
            if body is not None:
                item.outcome, item.reason, item.action, item.planned = models.PLANNED, "", write, body
            if self.from_preview and shown is not None and pex_id in shown and not write and \
                    shown[pex_id]["status"] == NEW and row.status == SYNCED:
                item.reason = f"appeared in Xero since the preview ({row.xero_id}); not written again"
            items.append(item)
        return items

    def _plan_removal(self, item: SyncItem, row: PreviewRow, released: bool, lock_date,
                      shown: Optional[dict]) -> None:
        """A voided row: its Xero record is deleted only when the user released it ('remove') and Xero allows it."""
        from pexxero.reconcile import removal_blocker

        record = row.xero_record
        item.record_type = "BankTransfer" if isinstance(record, XeroBankTransfer) else "BankTransaction"
        blocker = removal_blocker(record, lock_date)
        if blocker:
            item.reason = f"voided in PEX, still in Xero: {blocker}"
        elif not released:
            item.reason = "voided in PEX, still in Xero: not removed unless released (remove) on the Preview page"
        elif shown is not None and (shown.get(item.pex_id) or {}).get("xero_id") != row.xero_id:
            item.reason = ("voided in PEX, still in Xero, but not in the preview the sync was started from: "
                           "preview again to remove it")
        else:
            item.outcome, item.reason, item.action, item.xero_id = models.PLANNED, "", "remove", row.xero_id

