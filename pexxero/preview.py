"""A preview: every PEX transaction in range beside what Xero holds, one status each, and what a sync from it
may write (its plan)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterator, Optional

import pandas as pd

from pexxero import csvsafe, reconcile
from pexxero.models import CHANGED, NEW, POSSIBLE_DUPLICATE, VOIDED, PlannedRecord, planned_to_json


@dataclass(frozen=True)
class PreviewRow:
    """One row of a preview as the sync reads it: a PEX transaction (pex_id None for a Xero-only record), its
    status and reason, what it would become in Xero, and the Xero record it matched."""

    pex_id: Optional[int]
    status: str
    reason: str
    planned: Optional[PlannedRecord]
    xero_id: str
    xero_record: Any  # XeroBankTransaction | XeroBankTransfer | None
    kind: str
    date: Optional[date]
    amount: Any
    merchant: str


@dataclass
class Preview:
    frame: pd.DataFrame
    built_at: datetime
    start: date
    end: date
    rejected: list[str] = field(default_factory=list)  # PEX rows that could not be read at all, in words
    tenant_id: str = ""  # the Xero organisation it was built against: it says nothing about another one
    tenant_name: str = ""
    lock_date: Optional[date] = None  # Xero's lock date: nothing on or before it can be written or removed
    account_names: dict[str, str] = field(default_factory=dict)  # Xero account code -> name, for the labels

    def summary(self) -> pd.DataFrame:
        return reconcile.summary(self.frame)

    def to_csv(self, path_or_buffer) -> None:
        """The reconciliation CSV to a buffer, or to a file only its owner may read (it holds the books)."""
        if isinstance(path_or_buffer, (str, os.PathLike)):
            from pexxero.store import open_private

            # with a byte-order mark, so a spreadsheet opened by double-click reads UTF-8 (csvsafe.ENCODING)
            with open_private(path_or_buffer, "w", encoding=csvsafe.ENCODING, newline="") as handle:
                reconcile.to_csv(self.frame, handle)
            return
        reconcile.to_csv(self.frame, path_or_buffer)

    def csv_bytes(self) -> bytes:
        """The reconciliation CSV as the file a download gives: UTF-8 with a byte-order mark."""
        return reconcile.csv_bytes(self.frame)

    def rows(self) -> Iterator[PreviewRow]:
        """The preview's rows, typed."""
        for r in self.frame.itertuples():
            yield PreviewRow(
                pex_id=None if r.pex_id is None or pd.isna(r.pex_id) else int(r.pex_id), status=r.status,
                reason=r.reason or "", planned=r.planned, xero_id=r.xero_id or "", xero_record=r.xero_record,
                kind=r.kind or "", date=r.date, amount=r.amount, merchant=str(r.merchant or ""))

    def plan_items(self) -> list[dict]:
        """What the user was shown that a sync may act on: from the dashboard, a sync writes exactly this plan."""
        frame = self.frame
        rows = frame[frame["status"].isin([NEW, CHANGED, POSSIBLE_DUPLICATE, VOIDED])]
        return [
            {"pex_id": int(pex_id), "status": status, "xero_id": xero_id or "",
             "planned": planned_to_json(planned) if planned is not None else None}
            for pex_id, status, xero_id, planned in zip(rows["pex_id"], rows["status"], rows["xero_id"],
                                                         rows["planned"])
            if planned is not None or status == VOIDED  # a voided row: the Xero record shown for removal
        ]
