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
from operator import attrgetter, itemgetter
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from . import csvsafe, models
from .mapping import MappingResult
from .models import XeroBankTransaction, XeroBankTransfer

# the reconciliation CSV, in this order
COLUMNS = [
    "pex_id", "date", "kind", "amount", "merchant", "cardholder", "status", "reason", "differences", "xero_id",
    "xero_type", "xero_amount", "account", "contact", "tracking", "link",
]
OBJECT_COLUMNS = ["planned", "xero_record"]  # kept for the sync engine; never written to the CSV

TRANSFER_TYPE = "TRANSFER"  # xero_type shown for a bank transfer
GONE = ("DELETED", "VOIDED")  # Xero keeps these, but they no longer book anything
MARKER = re.compile(r"PEX-(\d+)", re.IGNORECASE)
NONE_SHOWN = "(none)"
EPOCH = date(1970, 1, 1).toordinal()
HUNDRED = Decimal(100)

SYNCED_REASON = "in Xero with the same amount, date, type, account, tracking and contact"
CHANGED_REASON = "in Xero (same PEX reference) but different: Sync leaves it alone unless you choose to update it"
RECONCILED_NOTE = "; it is reconciled in Xero, which refuses updates"
NEW_REASON = "not in Xero yet: Sync will create it"
XERO_ONLY_REASON = "carries a PEX reference, but no PEX transaction in range has that id"
VOIDED_REASON = "voided in PEX, still in Xero"
REMOVE_HINT = "release it (remove) and the next sync deletes it in Xero"
TRANSFER_BY_HAND = "a bank transfer cannot be removed through Xero's API: remove by hand in Xero"
SEVERAL_NOTE = " is carried by more than one Xero record: only the first is compared"

# the fields compared for `changed`, in the order `differences` lists them
COMPARED = ("amount", "date", "type", "bank account", "account", "tracking", "contact")


# ------------------------------------------------------------------------------------------ helpers


def _column(values: np.ndarray) -> pd.Series:
    """An object column (no string-dtype inference: these hold text, Decimals, dates and records as given)."""
    return pd.Series(values, dtype=object, copy=False)


def _objects(values) -> np.ndarray:
    """A 1-D object array holding `values` as they are (tuples stay elements, never become a second axis)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _days(ordinals: np.ndarray) -> np.ndarray:
    """Proleptic ordinals -> datetime64, the dtype the date matching runs on."""
    return (ordinals - EPOCH).astype("datetime64[D]").astype("datetime64[s]")


def _date_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def _money_text(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> "12.50" (exact: integer arithmetic only)."""
    cents = np.asarray(cents, dtype=np.int64)
    magnitude = np.abs(cents)
    whole = (magnitude // 100).astype(str).astype(object)
    fraction = (magnitude % 100).astype(str).astype(object)
    return np.where(cents < 0, "-", "") + whole + np.where(magnitude % 100 < 10, ".0", ".") + fraction


def _line_keys(lines) -> tuple[str, str]:
    """Account codes and tracking of a record's lines as comparable text (order of lines ignored)."""
    accounts = ", ".join(sorted(line.account_code for line in lines))
    tracking = "; ".join(sorted(f"{t.category}: {t.option}" for line in lines for t in line.tracking))
    return accounts, tracking


def _lines_text(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_line_keys for an array of line tuples. The common shape (one line, at most one tracking) is read with
    C-level getters; only the rest goes through Python one record at a time."""
    count = len(lines)
    accounts, tracking = np.full(count, "", dtype=object), np.full(count, "", dtype=object)
    single = np.flatnonzero(np.fromiter(map(len, lines), np.int64, count) == 1)
    firsts = list(map(itemgetter(0), lines[single]))
    tracked = _get(firsts, "tracking")
    tracked_count = np.fromiter(map(len, tracked), np.int64, len(tracked))
    simple = tracked_count <= 1
    accounts[single[simple]] = _get(firsts, "account_code")[simple]
    one = tracked_count == 1
    options = list(map(itemgetter(0), tracked[one]))
    tracking[single[one]] = _get(options, "category") + ": " + _get(options, "option")
    rest = np.ones(count, dtype=bool)
    rest[single[simple]] = False
    for row in np.flatnonzero(rest):
        accounts[row], tracking[row] = _line_keys(lines[row])
    return accounts, tracking


def _xero_details(xero: dict, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Accounts, tracking and contact of the Xero records at `rows`: only the rows a decision or display needs."""
    records = xero["record"][rows]
    is_transfer = xero["xtype"][rows] == TRANSFER_TYPE
    banked, transfers = list(records[~is_transfer]), list(records[is_transfer])
    accounts, tracking = np.full(len(rows), "", dtype=object), np.full(len(rows), "", dtype=object)
    contact = np.full(len(rows), "", dtype=object)
    accounts[~is_transfer], tracking[~is_transfer] = _lines_text(_get(banked, "lines"))
    contact[~is_transfer] = _get(banked, "contact_name")
    accounts[is_transfer] = _get(transfers, "from_account_code") + " → " + _get(transfers, "to_account_code")
    return {"accounts": accounts, "tracking": tracking, "contact": contact}


# ------------------------------------------------------------------------------------------- the tables
# Built column by column with C-level getters (map/attrgetter): one pass per field instead of Python code per cell.


def _get(records: list, field: str) -> np.ndarray:
    return np.fromiter(map(attrgetter(field), records), dtype=object, count=len(records))


def _text(records: list, field: str, fallback="") -> np.ndarray:
    """A text field with None and "" replaced by `fallback`."""
    values = _get(records, field)
    return np.where((values == None) | (values == ""), fallback, values)  # noqa: E711 (elementwise on objects)


def _cents_of(amounts) -> np.ndarray:
    """Decimal amounts -> integer cents (exact for amounts in cents, which mapping guarantees)."""
    return np.fromiter(map(int, map(HUNDRED.__mul__, amounts)), np.int64, len(amounts))


def _day_of(dates) -> np.ndarray:
    return _days(np.fromiter(map(date.toordinal, dates), np.int64, len(dates)))


def _pex_table(results: Sequence[MappingResult]) -> dict[str, np.ndarray]:
    """One entry per PEX row; everything after this is column operations."""
    results = list(results)
    count = len(results)
    txs = list(map(attrgetter("transaction"), results))
    plans = _get(results, "planned")
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
        "day": _day_of(dates),
        "kind": _text(results, "kind"),
        "amount": _get(txs, "amount"),
        "merchant": _text(txs, "merchant_name", fallback=_get(txs, "description")),
        "cardholder": _get(txs, "cardholder"),
        "status": _text(results, "status"),
        "reason": _get(results, "reason"),
        "link": _get(results, "link"),
        "planned": plans,
        "voided": np.fromiter((getattr(r, "voided", False) for r in results), bool, count),
        "cents": np.zeros(count, dtype=np.int64),
    }
    for name in ("xtype", "bank", "accounts", "tracking", "contact"):
        table[name] = np.full(count, "", dtype=object)
    if len(at):
        table["link"][at] = list(map(attrgetter("url"), planned))
        table["cents"][at] = _cents_of(list(map(attrgetter("total"), planned)))
        transfer = _get(planned, "record_type") == "BankTransfer"
        table["xtype"][at] = np.where(transfer, TRANSFER_TYPE, _get(planned, "xero_type"))
        table["bank"][at] = _get(planned, "bank_account_code")
        table["contact"][at] = _get(planned, "contact_name")
        accounts, tracking = _lines_text(_get(planned, "lines"))
        moves = [p for p, is_transfer in zip(planned, transfer) if is_transfer]
        accounts[transfer] = _get(moves, "from_account_code") + " → " + _get(moves, "to_account_code")
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
        "xero_id": np.concatenate([_get(live, "bank_transaction_id"), _get(transfers, "bank_transfer_id")]),
        "date": _get(records, "date"),
        "xero_amount": np.concatenate([_get(live, "total"), _get(transfers, "amount")]),
        "record": _objects(records),
        "marked_id": np.fromiter(map(_marked_id, map(attrgetter("reference"), records)), np.int64, count),
        "reconciled": np.concatenate([_get(live, "is_reconciled").astype(bool), np.zeros(len(transfers), bool)]),
        "xtype": np.concatenate([_objects(list(map(str.upper, map(attrgetter("type"), live)))),
                                 np.full(len(transfers), TRANSFER_TYPE, dtype=object)]),
        "bank": np.concatenate([_get(live, "bank_account_code"), np.full(len(transfers), "", dtype=object)]),
        # accounts of transfers only (for the group key); a bank transaction's lines are read when needed
        "accounts": np.concatenate([np.full(banked, "", dtype=object),
                                    _get(transfers, "from_account_code") + " → " + _get(transfers, "to_account_code")]),
    }
    table["day"] = _day_of(table["date"])
    table["cents"] = _cents_of(table["xero_amount"])
    table["group"] = _group(table)
    return table


def _groups(pex: dict, xero: dict) -> tuple[np.ndarray, np.ndarray]:
    """One integer per (type, bank account or transfer direction): the exact keys a duplicate must share."""
    codes, _ = pd.factorize(np.concatenate([pex["group"], xero["group"]]))
    return codes[: len(pex["group"])], codes[len(pex["group"]):]


# ------------------------------------------------------------------------------------------ reconcile


def removal_blocker(record, lock_date: Optional[date] = None) -> str:
    """Why the Xero record of a voided PEX transaction cannot be removed through the API ("" when it can)."""
    if isinstance(record, XeroBankTransfer):
        return TRANSFER_BY_HAND
    if getattr(record, "is_reconciled", False):
        return "it is reconciled in Xero, which refuses to delete it: un-reconcile it in Xero first, or remove by hand"
    if lock_date is not None and record.date <= lock_date:
        return (f"it is dated {record.date.isoformat()}, on or before Xero's lock date {lock_date.isoformat()}, so "
                "it cannot be removed: ask your adviser to move the lock date, or remove by hand in Xero")
    return ""


def _voided_reasons(pex_reasons: np.ndarray, records: np.ndarray, lock_date: Optional[date]) -> np.ndarray:
    """`voided in PEX, still in Xero (declined in PEX: …): <what to do>` for the few rows that are voided."""
    return _objects([f"{VOIDED_REASON} ({why}): {removal_blocker(record, lock_date) or REMOVE_HINT}"
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
            "amount": (table["cents"][at], _money_text(table["cents"][at])),
            "date": (table["day"][at], _date_text(table["day"][at])),
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
        "Xero already has an unmarked " + xero["xtype"][found] + " of " + _money_text(xero["cents"][found])
        + " dated " + _date_text(xero["day"][found]) + np.where(contact != "", " to " + contact, "")
        + " (no PEX reference: a bank-feed line or a hand entry?): push it only if it is a different transaction"
    )

    # 3. the lock date, then new
    still_open = open_rows[look_alike < 0]
    if lock_date is not None:
        locked = still_open[pex["day"][still_open] <= np.datetime64(lock_date, "s")]
        status[locked] = models.BLOCKED
        reason[locked] = (
            "dated " + _date_text(pex["day"][locked]) + f", on or before Xero's lock date {lock_date.isoformat()}: "
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
        **{name: _column(pex[name]) for name in ("date", "kind", "amount", "merchant", "cardholder")},
        "status": _column(status), "reason": _column(reason), "differences": _column(differences),
        "xero_id": _column(beside("xero_id")), "xero_type": _column(beside("xtype")),
        "xero_amount": _column(beside("xero_amount")),
        "account": _column(pex["accounts"]), "contact": _column(pex["contact"]), "tracking": _column(pex["tracking"]),
        "link": _column(pex["link"]), "planned": _column(pex["planned"]), "xero_record": _column(beside("record")),
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
        return _column(np.full(count, value, dtype=object))

    return pd.DataFrame({
        "pex_id": pd.Series(xero["marked_id"][rows], dtype="int64"),
        "date": _column(xero["date"][rows]), "kind": fill(""),
        "amount": _column(_objects([_signed_on_pex_cash(r, pex_cash) for r in xero["record"][rows]])),
        "merchant": fill(""),
        "cardholder": fill(""), "status": fill(models.XERO_ONLY), "reason": fill(XERO_ONLY_REASON),
        "differences": fill(""), "xero_id": _column(xero["xero_id"][rows]), "xero_type": _column(xero["xtype"][rows]),
        "xero_amount": _column(xero["xero_amount"][rows]), "account": _column(details["accounts"]),
        "contact": _column(details["contact"]), "tracking": _column(details["tracking"]), "link": fill(""),
        "planned": fill(None), "xero_record": _column(xero["record"][rows]),
    })


# --------------------------------------------------------------------------------------- summary and CSV


TOTALS = ["status", "count", "money_out", "money_in", "net", "xero_amount"]
# the totals in words, said wherever they are shown (the Preview page, under the CLI's preview table)
TOTALS_DEFINITION = ("Money out: purchases, fees and transfers leaving PEX Cash. Money in: funding, rebates and "
                     "credits. Net = money in - money out, the net change to PEX Cash (negative when more went "
                     "out). A xero only row counts Xero's amount. The CSV's amount column sums to the net.")


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per status (every status, in STATUSES order), the one definition of the totals the CLI, the dashboard and
    the CSV share, from the signed `amount` (money on PEX Cash; a `xero only` row's is Xero's):

    - `money_out`: the sum of the negative amounts, as a positive number (purchases, fees, transfers out);
    - `money_in`: the sum of the positive amounts (funding, rebates, dispute credits);
    - `net` = money_in - money_out: the net change to PEX Cash, the plain sum of the CSV's amount column;
    - `xero_amount`: the sum of the Xero totals beside the rows.

    Decimals throughout, so every figure is exact to the cent."""
    statuses = frame["status"].to_numpy(dtype=object)
    amounts = [a if isinstance(a, Decimal) else Decimal("0") for a in frame["amount"]]
    xero_amounts = [a if isinstance(a, Decimal) else Decimal("0") for a in frame["xero_amount"]]
    zero = Decimal("0.00")
    rows = []
    for status in models.STATUSES:
        chosen = [a for a, s in zip(amounts, statuses) if s == status]
        out = sum((-a for a in chosen if a < 0), zero)
        money_in = sum((a for a in chosen if a > 0), zero)
        rows.append({
            "status": status,
            "count": len(chosen),
            "money_out": out,
            "money_in": money_in,
            "net": money_in - out,
            "xero_amount": sum((a for a, s in zip(xero_amounts, statuses) if s == status), zero),
        })
    return pd.DataFrame(rows, columns=TOTALS)


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return csvsafe.neutralise(value if isinstance(value, (int, np.integer)) else str(value))


def to_csv(frame: pd.DataFrame, path_or_buffer) -> None:
    """The reconciliation CSV: COLUMNS only, money to the cent, dates ISO, formula-like cells neutralised."""
    out = pd.DataFrame({name: [_cell(v) for v in frame[name].to_numpy(dtype=object)] for name in COLUMNS},
                       columns=COLUMNS)
    out.to_csv(path_or_buffer, index=False)
