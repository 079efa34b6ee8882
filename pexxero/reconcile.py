"""The reconciliation: planned records beside what Xero already holds -> one status and reason per item.

Pure and vectorised: the inputs become two tables (one row per PEX transaction, one per Xero record, built with a
plain loop), and every comparison after that is a pandas merge or a column operation: integer cents and datetime64
for matching, Decimals only in the display columns. The returned frame is what Preview shows, what the CSV holds
and what Sync reads (`planned` and `xero_record` carry the objects).
"""

from __future__ import annotations

import operator
import re
from datetime import date
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from . import models
from . import reconcile_columns as cols
from .mapping import MappingResult, shown_kind
from .models import XeroBankTransaction, XeroBankTransfer
# the totals and the CSV live in reconcile_report; the connection and the views still read them from here
from .reconcile_report import TOTALS_DEFINITION, csv_bytes, summary, to_csv  # noqa: F401

OBJECT_COLUMNS = ["planned", "xero_record"]  # kept for the sync engine; never written to the CSV

TRANSFER_TYPE = "TRANSFER"  # xero_type shown for a bank transfer
GONE = ("DELETED", "VOIDED")  # Xero keeps these, but they no longer book anything
MARKER = re.compile(r"PEX-(\d+)", re.IGNORECASE)
NONE_SHOWN = "(none)"

SYNCED_REASON = "in Xero with the same amount, date, type, account, tracking and contact"
CHANGED_REASON = "in Xero (same PEX reference) but different: Sync leaves it alone unless you choose to update it"
RECONCILED_NOTE = "; it is reconciled in Xero, which refuses updates"
NEW_REASON = "not in Xero yet: Sync will create it"
XERO_ONLY_REASON = "carries a PEX reference, but no PEX transaction in range has that id"
VOIDED_REASON = "voided in PEX, still in Xero"
REMOVE_HINT = "release it (remove) and the next sync deletes it in Xero"
SEVERAL_NOTE = " is carried by more than one Xero record: only the first is compared"

# the fields compared for `changed`, in the order `differences` lists them
COMPARED = ("amount", "date", "type", "bank account", "account", "tracking", "contact")


def _kinds(results: list[MappingResult], txs: list) -> np.ndarray:
    """Each row's kind; a row nothing is booked for is named too (card funding, other), never left blank."""
    kinds = cols.get(results, "kind")
    for row in np.flatnonzero(kinds == None):  # noqa: E711 (elementwise on objects); few rows
        kinds[row] = shown_kind(txs[row])
    return kinds


def _xero_details(xero: dict, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Accounts, tracking and contact of the Xero records at `rows`: only the rows a decision or display needs."""
    records = xero["record"][rows]
    is_transfer = xero["xtype"][rows] == TRANSFER_TYPE
    banked, transfers = list(records[~is_transfer]), list(records[is_transfer])
    accounts, tracking = np.full(len(rows), "", dtype=object), np.full(len(rows), "", dtype=object)
    contact = np.full(len(rows), "", dtype=object)
    accounts[~is_transfer], tracking[~is_transfer] = cols.lines_text(cols.get(banked, "lines"))
    contact[~is_transfer] = cols.get(banked, "contact_name")
    accounts[is_transfer] = cols.get(transfers, "from_account_code") + " → " + cols.get(transfers, "to_account_code")
    return {"accounts": accounts, "tracking": tracking, "contact": contact}


# ------------------------------------------------------------------------------------------- the tables
# Built column by column with C-level getters (map/attrgetter): one pass per field instead of Python code per cell.


def _pex_table(results: Sequence[MappingResult]) -> dict[str, np.ndarray]:
    """One entry per PEX row; everything after this is column operations."""
    results = list(results)
    count = len(results)
    txs = list(map(attrgetter("transaction"), results))
    plans = cols.get(results, "planned")
    is_planned = np.fromiter(map(operator.is_not, plans, repeat(None, count)), bool, count)
    at = np.flatnonzero(is_planned)
    planned = list(plans[at])
    dates = np.empty(count, dtype=object)
    dates[at] = list(map(attrgetter("date"), planned))
    for row in np.flatnonzero(~is_planned):  # not planned: the post date mapping worked out, for the preview
        dates[row] = results[row].post_date or results[row].transaction.transaction_time.date()
    table = {
        "pex_id": np.fromiter(map(attrgetter("transaction_id"), txs), np.int64, count),
        "date": dates,
        "day": cols.day_of(dates),
        "kind": _kinds(results, txs),
        "amount": cols.get(txs, "amount"),
        "merchant": cols.text(txs, "merchant_name", fallback=cols.get(txs, "description")),
        "cardholder": cols.get(txs, "cardholder"),
        "status": cols.text(results, "status"),
        "reason": cols.get(results, "reason"),
        "link": cols.get(results, "link"),
        "planned": plans,
        "voided": np.fromiter((getattr(r, "voided", False) for r in results), bool, count),
        "cents": np.zeros(count, dtype=np.int64),
    }
    for name in ("xtype", "bank", "accounts", "tracking", "contact"):
        table[name] = np.full(count, "", dtype=object)
    if len(at):
        table["link"][at] = list(map(attrgetter("url"), planned))
        table["cents"][at] = cols.cents_of(list(map(attrgetter("total"), planned)))
        transfer = cols.get(planned, "record_type") == "BankTransfer"
        table["xtype"][at] = np.where(transfer, TRANSFER_TYPE, cols.get(planned, "xero_type"))
        table["bank"][at] = cols.get(planned, "bank_account_code")
        table["contact"][at] = cols.get(planned, "contact_name")
        accounts, tracking = cols.lines_text(cols.get(planned, "lines"))
        moves = [p for p, is_transfer in zip(planned, transfer) if is_transfer]
        accounts[transfer] = cols.get(moves, "from_account_code") + " → " + cols.get(moves, "to_account_code")
        table["accounts"][at], table["tracking"][at] = accounts, tracking
    table["group"] = _group(table)
    return table


def _group(table: dict) -> np.ndarray:
    """The exact keys a duplicate must share: type and bank account, or a transfer's direction."""
    return table["xtype"] + "|" + np.where(table["xtype"] == TRANSFER_TYPE, table["accounts"], table["bank"])


def _marked_id(reference: str) -> int:
    """The PEX id in a `PEX-<id>` Reference, or -1 for an unmarked record."""
    reference = reference.strip()
    match = MARKER.fullmatch(reference) if reference[:4].upper() == "PEX-" else None  # skip the regex when unmarked
    return int(match.group(1)) if match else -1


def _xero_table(
    bank_transactions: Sequence[XeroBankTransaction], bank_transfers: Sequence[XeroBankTransfer]
) -> dict[str, np.ndarray]:
    live = [r for r in bank_transactions if r.status.upper() not in GONE]
    transfers = list(bank_transfers)
    records = live + transfers
    count, banked = len(records), len(live)
    table = {
        "xero_id": np.concatenate([cols.get(live, "bank_transaction_id"), cols.get(transfers, "bank_transfer_id")]),
        "date": cols.get(records, "date"),
        "xero_amount": np.concatenate([cols.get(live, "total"), cols.get(transfers, "amount")]),
        "record": cols.objects(records),
        "marked_id": np.fromiter(map(_marked_id, map(attrgetter("reference"), records)), np.int64, count),
        "reconciled": np.concatenate([cols.get(live, "is_reconciled").astype(bool),
                                      cols.get(transfers, "is_reconciled").astype(bool)]),
        "xtype": np.concatenate([cols.objects(list(map(str.upper, map(attrgetter("type"), live)))),
                                 np.full(len(transfers), TRANSFER_TYPE, dtype=object)]),
        "bank": np.concatenate([cols.get(live, "bank_account_code"), np.full(len(transfers), "", dtype=object)]),
        # accounts of transfers only (for the group key); a bank transaction's lines are read when needed
        "accounts": np.concatenate([np.full(banked, "", dtype=object),
                                    cols.get(transfers, "from_account_code") + " → " + cols.get(transfers, "to_account_code")]),
    }
    table["day"] = cols.day_of(table["date"])
    table["cents"] = cols.cents_of(table["xero_amount"])
    table["group"] = _group(table)
    return table


def _groups(pex: dict, xero: dict) -> tuple[np.ndarray, np.ndarray]:
    """One integer per (type, bank account or transfer direction): the exact keys a duplicate must share."""
    codes, _ = pd.factorize(np.concatenate([pex["group"], xero["group"]]))
    return codes[: len(pex["group"])], codes[len(pex["group"]):]


# ------------------------------------------------------------------------------------------ reconcile


def removal_blocker(record, lock_date: Optional[date] = None) -> str:
    """Why the Xero record of a voided PEX transaction cannot be removed through the API ("" when it can)."""
    # a bank transfer is deleted like a bank transaction (POST /BankTransfers, Status DELETED), with the same limits
    if getattr(record, "is_reconciled", False):
        return "it is reconciled in Xero, which refuses to delete it: un-reconcile it in Xero first, or remove by hand"
    if lock_date is not None and record.date <= lock_date:
        return (f"it is dated {record.date.isoformat()}, on or before Xero's lock date {lock_date.isoformat()}, so "
                "it cannot be removed: ask your adviser to move the lock date, or remove by hand in Xero")
    return ""


def _voided_reasons(pex_reasons: np.ndarray, records: np.ndarray, lock_date: Optional[date]) -> np.ndarray:
    """`voided in PEX, still in Xero (declined in PEX: …): <what to do>` for the few rows that are voided."""
    return cols.objects([f"{VOIDED_REASON} ({why}): {removal_blocker(record, lock_date) or REMOVE_HINT}"
                     for why, record in zip(pex_reasons, records)])



def _join_parts(parts: list[np.ndarray], count: int) -> np.ndarray:
    """Join per-row text parts with "; ", skipping empty ones (one vector step per part, not one per row)."""
    joined = np.full(count, "", dtype=object)
    for part in parts:
        joined = np.where(joined == "", part, np.where(part == "", joined, joined + "; " + part))
    return joined


def _differences(pex: dict, xero: dict, rows: np.ndarray, x_rows: np.ndarray) -> np.ndarray:
    """`amount: Xero 12.00, PEX 15.00; account: Xero 429, PEX 453` for PEX `rows` against Xero `x_rows`."""
    def side(table, at, details):
        contact = details["contact"]
        return {
            "amount": (table["cents"][at], cols.money_text(table["cents"][at])),
            "date": (table["day"][at], cols.date_text(table["day"][at])),
            "type": (table["xtype"][at], table["xtype"][at]),
            "bank account": (table["bank"][at], table["bank"][at]),
            "account": (details["accounts"], details["accounts"]),
            "tracking": (details["tracking"], details["tracking"]),
            "contact": (pd.Series(contact, dtype=object).str.strip().str.casefold().to_numpy(dtype=object), contact),
        }

    ours = side(pex, rows, {name: pex[name][rows] for name in ("accounts", "tracking", "contact")})
    theirs = side(xero, x_rows, _xero_details(xero, x_rows))
    both_bank = (pex["xtype"][rows] != TRANSFER_TYPE) & (xero["xtype"][x_rows] != TRANSFER_TYPE)
    parts = []
    for label in COMPARED:
        (our_key, our_text), (their_key, their_text) = ours[label], theirs[label]
        differs = our_key != their_key
        if label == "bank account":
            differs &= both_bank
        part = np.full(len(rows), "", dtype=object)
        part[differs] = (
            label + ": Xero " + np.where(their_text[differs] == "", NONE_SHOWN, their_text[differs])
            + ", PEX " + np.where(our_text[differs] == "", NONE_SHOWN, our_text[differs])
        )
        parts.append(part)
    return _join_parts(parts, len(rows))


def _nearest_unmarked(pex: dict, xero: dict, rows: np.ndarray, groups, duplicate_days: int) -> np.ndarray:
    """Per PEX row in `rows`: the nearest unmarked Xero record (row number) sharing group and cents within
    duplicate_days, or -1. An as-of merge on the date with exact keys: no pair is ever enumerated."""
    pex_groups, xero_groups = groups
    unmarked = np.flatnonzero(xero["marked_id"] < 0)
    left = pd.DataFrame({"row": np.arange(len(rows)), "group": pex_groups[rows], "cents": pex["cents"][rows],
                         "day": pex["day"][rows]}).sort_values("day", kind="stable")
    right = pd.DataFrame({"x_row": unmarked, "group": xero_groups[unmarked], "cents": xero["cents"][unmarked],
                          "day": xero["day"][unmarked]}).sort_values("day", kind="stable")
    if len(left) == 0 or len(right) == 0:
        return np.full(len(rows), -1, dtype=np.int64)
    nearest = pd.merge_asof(left, right, on="day", by=["group", "cents"], direction="nearest",
                            tolerance=pd.Timedelta(days=duplicate_days))
    found = np.full(len(rows), -1, dtype=np.int64)
    hit = nearest["x_row"].notna().to_numpy()
    found[nearest["row"].to_numpy()[hit]] = nearest["x_row"].to_numpy()[hit].astype(np.int64)
    return found


def reconcile(
    results: Sequence[MappingResult],
    bank_transactions: Sequence[XeroBankTransaction],
    bank_transfers: Sequence[XeroBankTransfer],
    *,
    lock_date: Optional[date] = None,
    start: Optional[date] = None,
    end: Optional[date] = None,
    duplicate_days: int = 3,
    pex_cash: str = "",
) -> pd.DataFrame:
    """One row per PEX transaction (in the order given), then one `xero only` row per orphaned marked record.

    `amount` is signed money on PEX Cash, in positive and out negative: PEX's amount, or for a `xero only` row
    (which has no PEX transaction) Xero's, signed by its type and, for a transfer, by whether it leaves `pex_cash`.

    A PEX transaction skipped as declined, reversed or voided whose marker a live Xero record carries is `voided`.
    Order of decision for a planned record: its marker in Xero (`synced` / `changed`), else an unmarked look-alike
    (`possible duplicate`: probably in Xero already, so the lock date is not its problem), else the lock date
    (`blocked`), else `new`. For a `possible duplicate` the xero_* columns describe the look-alike.
    `start`/`end` bound the `xero only` rows (the caller fetches Xero with a margin); mapping bounds the PEX side.
    """
    pex, xero = _pex_table(results), _xero_table(bank_transactions, bank_transfers)
    count = len(pex["pex_id"])
    status, reason = pex["status"].copy(), pex["reason"].copy()
    x_row = np.full(count, -1, dtype=np.int64)  # the Xero record shown beside each PEX row

    # 1. the marker: the first Xero record carrying PEX-<id>
    marked_rows = np.flatnonzero(xero["marked_id"] >= 0)
    ids, first, carriers = np.unique(xero["marked_id"][marked_rows], return_index=True, return_counts=True)
    position = pd.Index(ids).get_indexer(pex["pex_id"])
    has_marker = position >= 0
    x_row[has_marker] = marked_rows[first[position[has_marker]]]
    several = np.zeros(count, dtype=bool)
    several[has_marker] = carriers[position[has_marker]] > 1

    planned = pex["status"] == ""  # mapping planned it; skipped and blocked rows pass through with their reason
    compared = np.flatnonzero(planned & has_marker)
    differences = np.full(count, "", dtype=object)
    differences[compared] = _differences(pex, xero, compared, x_row[compared])
    agrees = compared[differences[compared] == ""]
    differs = compared[differences[compared] != ""]
    status[agrees], reason[agrees] = models.SYNCED, SYNCED_REASON
    status[differs] = models.CHANGED
    reason[differs] = np.where(xero["reconciled"][x_row[differs]], CHANGED_REASON + RECONCILED_NOTE, CHANGED_REASON)
    if lock_date is not None:  # an update would be refused as well
        frozen = differs[pex["day"][differs] <= np.datetime64(lock_date, "s")]
        reason[frozen] = reason[frozen] + f"; it is dated on or before Xero's lock date {lock_date.isoformat()}"
    reason[several] = reason[several] + "; PEX-" + pex["pex_id"][several].astype(str).astype(object) + SEVERAL_NOTE

    # declined, reversed or voided in PEX after it was written: Xero still books it (deleted records are not live)
    voided = np.flatnonzero(pex["voided"] & has_marker)
    status[voided] = models.VOIDED
    reason[voided] = _voided_reasons(reason[voided], xero["record"][x_row[voided]], lock_date)

    # 2. no marker: an unmarked look-alike on the same bank account with the same total, a few days apart
    open_rows = np.flatnonzero(planned & ~has_marker)
    look_alike = _nearest_unmarked(pex, xero, open_rows, _groups(pex, xero), duplicate_days)
    duplicate_rows, found = open_rows[look_alike >= 0], look_alike[look_alike >= 0]
    x_row[duplicate_rows] = found
    status[duplicate_rows] = models.POSSIBLE_DUPLICATE
    contact = _xero_details(xero, found)["contact"]
    reason[duplicate_rows] = (
        "Xero already has an unmarked " + xero["xtype"][found] + " of " + cols.money_text(xero["cents"][found])
        + " dated " + cols.date_text(xero["day"][found]) + np.where(contact != "", " to " + contact, "")
        + " (no PEX reference: a bank-feed line or a hand entry?): push it only if it is a different transaction"
    )

    # 3. the lock date, then new
    still_open = open_rows[look_alike < 0]
    if lock_date is not None:
        locked = still_open[pex["day"][still_open] <= np.datetime64(lock_date, "s")]
        status[locked] = models.BLOCKED
        reason[locked] = (
            "dated " + cols.date_text(pex["day"][locked]) + f", on or before Xero's lock date {lock_date.isoformat()}: "
            "ask your adviser to move the lock date or change the start date"
        )
        still_open = np.setdiff1d(still_open, locked, assume_unique=True)
    status[still_open], reason[still_open] = models.NEW, NEW_REASON
    noted = np.flatnonzero(planned & (pex["reason"] != ""))  # mapping's notes (a description cut to Xero's limit)
    reason[noted] = reason[noted] + "; " + pex["reason"][noted]

    shown = x_row >= 0

    def beside(column: str) -> np.ndarray:
        values = np.full(count, None if column != "xtype" else "", dtype=object)
        values[shown] = xero[column][x_row[shown]]
        return values

    pex_rows = pd.DataFrame({
        "pex_id": pd.Series(pex["pex_id"], dtype="int64"),
        **{name: cols.column(pex[name]) for name in ("date", "kind", "amount", "merchant", "cardholder")},
        "status": cols.column(status), "reason": cols.column(reason), "differences": cols.column(differences),
        "xero_id": cols.column(beside("xero_id")), "xero_type": cols.column(beside("xtype")),
        "xero_amount": cols.column(beside("xero_amount")),
        "account": cols.column(pex["accounts"]), "contact": cols.column(pex["contact"]), "tracking": cols.column(pex["tracking"]),
        "link": cols.column(pex["link"]), "planned": cols.column(pex["planned"]), "xero_record": cols.column(beside("record")),
    })
    return pd.concat([pex_rows, _xero_only(xero, pex["pex_id"], start, end, pex_cash)], ignore_index=True)


def _signed_on_pex_cash(record, pex_cash: str) -> Decimal:
    """A Xero record's total as money on PEX Cash: a SPEND (or a transfer out of PEX Cash) is money out."""
    if isinstance(record, XeroBankTransfer):
        return -record.amount if pex_cash and record.from_account_code == pex_cash else record.amount
    return -record.total if record.type.upper().startswith("SPEND") else record.total


def _xero_only(xero: dict, pex_ids: np.ndarray, start: Optional[date], end: Optional[date],
               pex_cash: str = "") -> pd.DataFrame:
    """One row per Xero record whose PEX marker names no transaction in the results (within start..end)."""
    orphan = (xero["marked_id"] >= 0) & ~np.isin(xero["marked_id"], pex_ids)
    if start is not None:
        orphan &= xero["day"] >= np.datetime64(start, "s")
    if end is not None:
        orphan &= xero["day"] <= np.datetime64(end, "s")
    rows = np.flatnonzero(orphan)
    rows = rows[np.lexsort((xero["marked_id"][rows], xero["day"][rows]))]
    count = len(rows)
    details = _xero_details(xero, rows)

    def fill(value):
        return cols.column(np.full(count, value, dtype=object))

    return pd.DataFrame({
        "pex_id": pd.Series(xero["marked_id"][rows], dtype="int64"),
        "date": cols.column(xero["date"][rows]), "kind": fill(""),
        "amount": cols.column(cols.objects([_signed_on_pex_cash(r, pex_cash) for r in xero["record"][rows]])),
        "merchant": fill(""),
        "cardholder": fill(""), "status": fill(models.XERO_ONLY), "reason": fill(XERO_ONLY_REASON),
        "differences": fill(""), "xero_id": cols.column(xero["xero_id"][rows]), "xero_type": cols.column(xero["xtype"][rows]),
        "xero_amount": cols.column(xero["xero_amount"][rows]), "account": cols.column(details["accounts"]),
        "contact": cols.column(details["contact"]), "tracking": cols.column(details["tracking"]), "link": fill(""),
        "planned": fill(None), "xero_record": cols.column(xero["record"][rows]),
    })
