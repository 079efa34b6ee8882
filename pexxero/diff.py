"""The reconciliation: planned records beside what Xero already holds -> one status and reason per item.

Pure and vectorised: the inputs become two tables (one row per PEX transaction, one per Xero record, built with a
plain loop), and every comparison after that is a pandas merge or a column operation: integer cents and datetime64
for matching, Decimals only in the display columns. The returned frame is what Preview shows, what the CSV holds
and what Sync reads (`planned` and `xero_record` carry the objects).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
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

BANK_TRANSACTION, BANK_TRANSFER, TRANSFER_TYPE = "BankTransaction", "BankTransfer", "TRANSFER"
GONE = ("DELETED", "VOIDED")  # Xero keeps these, but they no longer book anything
MARKER = re.compile(r"PEX-(\d+)", re.IGNORECASE)
NONE_SHOWN = "(none)"
TEXT_KEYS = ["ref", "rtype", "xtype", "bank_key", "amount_text", "date_text", "accounts", "tracking", "contact",
             "contact_key"]  # typed explicitly: an empty input must still merge

SYNCED_REASON = "in Xero with the same amount, date, type, account, tracking and contact"
CHANGED_REASON = "in Xero (same PEX reference) but different: Sync leaves it alone unless you choose to update it"
RECONCILED_NOTE = "; it is reconciled in Xero, which refuses updates"
NEW_REASON = "not in Xero yet: Sync will create it"
XERO_ONLY_REASON = "carries a PEX reference, but no PEX transaction in range has that id"

# (label in `differences`, key column compared, text column shown)
COMPARED = [
    ("amount", "cents", "amount_text"),
    ("date", "day", "date_text"),
    ("type", "xtype", "xtype"),
    ("bank account", "bank_key", "bank_key"),
    ("account", "accounts", "accounts"),
    ("tracking", "tracking", "tracking"),
    ("contact", "contact_key", "contact"),
]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def _days(dates: list) -> np.ndarray:
    """Python dates -> datetime64 (NaT for None), the dtype the date-distance matching runs on."""
    return np.array([d if d is not None else np.datetime64("NaT") for d in dates], dtype="datetime64[D]").astype(
        "datetime64[s]"
    )


def _line_keys(lines) -> tuple[str, str]:
    accounts = ", ".join(sorted(line.account_code for line in lines))
    tracking = "; ".join(sorted(f"{t.category}: {t.option}" for line in lines for t in line.tracking))
    return accounts, tracking


# ------------------------------------------------------------------------------------------- the frames


def _pex_frame(results: Sequence[MappingResult]) -> pd.DataFrame:
    cols: dict[str, list] = {name: [] for name in (
        "pex_id", "date", "kind", "amount", "merchant", "cardholder", "status", "reason", "link", "planned",
        "ref", "rtype", "xtype", "bank_key", "cents", "amount_text", "date_text", "accounts", "tracking",
        "contact", "contact_key", "abs_cents",
    )}
    for result in results:
        tx, planned = result.transaction, result.planned
        when = planned.date if planned else (result.post_date or tx.transaction_time.date())
        cols["pex_id"].append(tx.transaction_id)
        cols["date"].append(when)
        cols["kind"].append(result.kind or "")
        cols["amount"].append(tx.amount)
        cols["merchant"].append(tx.merchant_name or tx.description)
        cols["cardholder"].append(tx.cardholder)
        cols["status"].append(result.status or "")
        cols["reason"].append(result.reason)
        cols["link"].append(planned.url if planned else result.link)
        cols["planned"].append(planned)
        cols["ref"].append(models.marker(tx.transaction_id).upper())
        cols["date_text"].append(when.isoformat())
        cols["abs_cents"].append(abs(_cents(tx.amount)))
        if planned is None:
            for name in ("rtype", "xtype", "bank_key", "amount_text", "accounts", "tracking", "contact",
                         "contact_key"):
                cols[name].append("")
            cols["cents"].append(0)
            continue
        cols["rtype"].append(planned.record_type)
        cols["cents"].append(_cents(planned.total))
        cols["amount_text"].append(_money(planned.total))
        if planned.record_type == BANK_TRANSFER:
            cols["xtype"].append(TRANSFER_TYPE)
            cols["bank_key"].append("")
            cols["accounts"].append(f"{planned.from_account_code} → {planned.to_account_code}")
            cols["tracking"].append("")
        else:
            accounts, tracking = _line_keys(planned.lines)
            cols["xtype"].append(planned.xero_type)
            cols["bank_key"].append(planned.bank_account_code)
            cols["accounts"].append(accounts)
            cols["tracking"].append(tracking)
        cols["contact"].append(planned.contact_name)
        cols["contact_key"].append(planned.contact_name.strip().casefold())
    frame = pd.DataFrame(cols).astype({name: "str" for name in TEXT_KEYS})
    frame["amount"] = pd.Series(cols["amount"], dtype=object)
    frame["date"] = pd.Series(cols["date"], dtype=object)
    frame["pex_id"] = frame["pex_id"].astype("int64")
    frame["cents"] = frame["cents"].astype("int64")
    frame["abs_cents"] = frame["abs_cents"].astype("int64")
    frame["day"] = _days(cols["date"])
    return frame


def _xero_frame(
    bank_transactions: Sequence[XeroBankTransaction], bank_transfers: Sequence[XeroBankTransfer]
) -> pd.DataFrame:
    cols: dict[str, list] = {name: [] for name in (
        "xero_id", "xero_date", "xero_amount", "xero_record", "ref", "marked", "marked_id", "rtype", "xtype",
        "bank_key", "cents", "amount_text", "date_text", "accounts", "tracking", "contact", "contact_key",
        "reconciled",
    )}

    def common(record, xero_id, when, total, reference):
        match = MARKER.fullmatch(reference.strip())
        cols["xero_id"].append(xero_id)
        cols["xero_date"].append(when)
        cols["xero_amount"].append(total)
        cols["xero_record"].append(record)
        cols["ref"].append(reference.strip().upper())
        cols["marked"].append(match is not None)
        cols["marked_id"].append(int(match.group(1)) if match else -1)
        cols["cents"].append(_cents(total))
        cols["amount_text"].append(_money(total))
        cols["date_text"].append(when.isoformat())

    for record in bank_transactions:
        if record.status.upper() in GONE:
            continue
        common(record, record.bank_transaction_id, record.date, record.total, record.reference)
        accounts, tracking = _line_keys(record.lines)
        cols["rtype"].append(BANK_TRANSACTION)
        cols["xtype"].append(record.type.upper())
        cols["bank_key"].append(record.bank_account_code)
        cols["accounts"].append(accounts)
        cols["tracking"].append(tracking)
        cols["contact"].append(record.contact_name)
        cols["contact_key"].append(record.contact_name.strip().casefold())
        cols["reconciled"].append(record.is_reconciled)
    for record in bank_transfers:
        common(record, record.bank_transfer_id, record.date, record.amount, record.reference)
        cols["rtype"].append(BANK_TRANSFER)
        cols["xtype"].append(TRANSFER_TYPE)
        cols["bank_key"].append("")
        cols["accounts"].append(f"{record.from_account_code} → {record.to_account_code}")
        cols["tracking"].append("")
        cols["contact"].append("")
        cols["contact_key"].append("")
        cols["reconciled"].append(False)
    frame = pd.DataFrame(cols).astype({name: "str" for name in TEXT_KEYS + ["xero_id"]})
    for name in ("xero_date", "xero_amount", "xero_record"):
        frame[name] = pd.Series(cols[name], dtype=object)
    frame["cents"] = frame["cents"].astype("int64")
    frame["marked_id"] = frame["marked_id"].astype("int64")
    frame["marked"] = frame["marked"].astype(bool)
    frame["reconciled"] = frame["reconciled"].astype(bool)
    frame["day"] = _days(cols["xero_date"])
    return frame


# ------------------------------------------------------------------------------------------ reconcile


def _join_parts(parts: list[np.ndarray]) -> np.ndarray:
    """Join per-row text parts with "; ", skipping the empty ones (one vector step per part, not per row)."""
    joined = np.full(len(parts[0]) if parts else 0, "", dtype=object)
    for part in parts:
        joined = np.where(joined == "", part, np.where(part == "", joined, joined + "; " + part))
    return joined


def _differences(merged: pd.DataFrame, compared: np.ndarray) -> np.ndarray:
    """`amount: Xero 12.00, PEX 15.00; account: Xero 429, PEX 453` for the `compared` rows that differ."""
    both_bank = (merged["rtype"] == BANK_TRANSACTION) & (merged["x_rtype"] == BANK_TRANSACTION)
    parts = []
    for label, key, text in COMPARED:
        differs = (merged[key].to_numpy() != merged["x_" + key].to_numpy()) & compared
        if key == "bank_key":
            differs &= both_bank.to_numpy()
        pex_text = merged[text].to_numpy(dtype=object)[differs]
        xero_text = merged["x_" + text].to_numpy(dtype=object)[differs]
        part = np.full(len(merged), "", dtype=object)
        part[differs] = (
            label + ": Xero " + np.where(xero_text == "", NONE_SHOWN, xero_text)
            + ", PEX " + np.where(pex_text == "", NONE_SHOWN, pex_text)
        )
        parts.append(part)
    return _join_parts(parts)


def reconcile(
    results: Sequence[MappingResult],
    bank_transactions: Sequence[XeroBankTransaction],
    bank_transfers: Sequence[XeroBankTransfer],
    *,
    lock_date: Optional[date] = None,
    start: Optional[date] = None,
    end: Optional[date] = None,
    duplicate_days: int = 3,
) -> pd.DataFrame:
    """One row per PEX transaction (in the order given), then one `xero only` row per orphaned marked record.

    `start`/`end` bound the `xero only` rows (the caller fetches Xero with a margin); the PEX side is already
    limited to the range by mapping. For a `possible duplicate` the xero_* columns describe the unmarked record
    it resembles.
    """
    pex = _pex_frame(results)
    xero = _xero_frame(bank_transactions, bank_transfers)
    marked = xero[xero["marked"]]
    carriers = marked["ref"].value_counts()

    # 1. the marker: at most one Xero record per PEX row (the first one if Xero holds several)
    x_cols = ["ref", "xero_id", "xero_date", "xero_amount", "xero_record", "rtype", "xtype", "bank_key", "cents",
              "day", "amount_text", "date_text", "accounts", "tracking", "contact", "contact_key", "reconciled"]
    first = marked.drop_duplicates("ref")[x_cols].rename(columns={c: "x_" + c for c in x_cols[5:]})
    merged = pex.merge(first, on="ref", how="left", validate="many_to_one")
    for name in ("x_rtype", "x_xtype", "x_bank_key", "x_amount_text", "x_date_text", "x_accounts", "x_tracking",
                 "x_contact", "x_contact_key"):
        merged[name] = merged[name].fillna("").astype(object)
    has_marker = merged["xero_id"].notna().to_numpy()
    planned = merged["planned"].notna().to_numpy()
    passed = (merged["status"] != "").to_numpy()  # mapping said skipped or blocked

    matched = planned & ~passed & has_marker
    differences = _differences(merged, matched)
    status = merged["status"].to_numpy(dtype=object).copy()
    reason = merged["reason"].to_numpy(dtype=object).copy()
    reconciled = merged["x_reconciled"].fillna(False).astype(bool).to_numpy()
    status[matched & (differences == "")] = models.SYNCED
    reason[matched & (differences == "")] = SYNCED_REASON
    is_changed = matched & (differences != "")
    status[is_changed] = models.CHANGED
    reason[is_changed] = np.where(reconciled[is_changed], CHANGED_REASON + RECONCILED_NOTE, CHANGED_REASON)
    several = merged["ref"].map(carriers).fillna(0).to_numpy() > 1
    reason[several] = reason[several] + "; note: " + merged["ref"].to_numpy(dtype=object)[several] + (
        " is carried by more than one Xero record"
    )

    # 2. no marker: the nearest unmarked Xero record of the same type, bank and total within duplicate_days
    open_rows = planned & ~passed & ~has_marker
    candidates = _duplicates(merged[open_rows], xero[~xero["marked"]], duplicate_days)
    is_dup = np.zeros(len(merged), dtype=bool)
    dup_rows = np.flatnonzero(open_rows)[candidates["found"].to_numpy()]
    is_dup[dup_rows] = True
    found = candidates[candidates["found"]]
    status[dup_rows] = models.POSSIBLE_DUPLICATE
    reason[dup_rows] = (
        "Xero already has an unmarked " + found["d_xtype"].to_numpy(dtype=object) + " of "
        + found["d_amount_text"].to_numpy(dtype=object) + " dated " + found["d_date_text"].to_numpy(dtype=object)
        + np.where(found["d_contact"].to_numpy(dtype=object) != "", " to " + found["d_contact"].to_numpy(dtype=object), "")
        + " (no PEX reference; a bank-feed line or hand entry?): push only if it is a different transaction"
    )

    # 3. the lock date, then new
    still_open = open_rows & ~is_dup
    if lock_date is not None:
        locked = still_open & (merged["day"].to_numpy() <= np.datetime64(lock_date, "s"))
        status[locked] = models.BLOCKED
        reason[locked] = (
            "dated " + merged["date_text"].to_numpy(dtype=object)[locked]
            + f", on or before Xero's lock date {lock_date.isoformat()}: ask your adviser to move the lock date "
            "or change the start date"
        )
        still_open &= ~locked
    status[still_open] = models.NEW
    reason[still_open] = NEW_REASON

    # the Xero side shown on each PEX row: the marked record, or the duplicate it resembles
    xero_show = {}
    for col in ("xero_id", "xero_amount", "xero_record"):
        values = merged[col].to_numpy(dtype=object)
        values = np.where(merged[col].notna().to_numpy(), values, None)
        values[dup_rows] = found["d_" + col].to_numpy(dtype=object)
        xero_show[col] = values
    xero_type = merged["x_xtype"].to_numpy(dtype=object).copy()
    xero_type[dup_rows] = found["d_xtype"].to_numpy(dtype=object)

    pex_rows = pd.DataFrame({
        "pex_id": merged["pex_id"].to_numpy(),
        "date": merged["date"].to_numpy(dtype=object),
        "kind": merged["kind"].to_numpy(dtype=object),
        "amount": merged["amount"].to_numpy(dtype=object),
        "merchant": merged["merchant"].to_numpy(dtype=object),
        "cardholder": merged["cardholder"].to_numpy(dtype=object),
        "status": status,
        "reason": reason,
        "differences": differences.astype(object),
        "xero_id": xero_show["xero_id"],
        "xero_type": xero_type,
        "xero_amount": xero_show["xero_amount"],
        "account": merged["accounts"].to_numpy(dtype=object),
        "contact": merged["contact"].to_numpy(dtype=object),
        "tracking": merged["tracking"].to_numpy(dtype=object),
        "link": merged["link"].to_numpy(dtype=object),
        "planned": merged["planned"].to_numpy(dtype=object),
        "xero_record": xero_show["xero_record"],
    })
    return pd.concat([pex_rows, _xero_only(marked, pex, start, end)], ignore_index=True)


def _duplicates(open_rows: pd.DataFrame, unmarked: pd.DataFrame, duplicate_days: int) -> pd.DataFrame:
    """Per open PEX row (same order): `found` and the nearest matching unmarked record's columns (prefix d_)."""
    keys = ["rtype", "xtype", "bank_key", "cents"]
    left = open_rows[keys + ["day"]].assign(row=np.arange(len(open_rows))).sort_values("day", kind="stable")
    shown = ["xero_id", "xero_amount", "xero_record", "amount_text", "date_text", "contact"]
    right = unmarked[keys + ["day"] + shown].rename(columns={c: "d_" + c for c in shown})
    right = right.assign(d_xtype=right["xtype"]).sort_values("day", kind="stable")
    if len(left) == 0:
        return left.assign(found=np.zeros(0, dtype=bool), **{"d_" + c: [] for c in shown + ["xtype"]})
    nearest = pd.merge_asof(
        left, right, on="day", by=keys, direction="nearest", tolerance=pd.Timedelta(days=duplicate_days),
    )
    nearest = nearest.sort_values("row", kind="stable").reset_index(drop=True)
    nearest["found"] = nearest["d_xero_id"].notna()
    return nearest


def _xero_only(marked: pd.DataFrame, pex: pd.DataFrame, start: Optional[date], end: Optional[date]) -> pd.DataFrame:
    """One row per Xero record whose PEX marker names no transaction in the results (within start..end)."""
    orphan = marked[~marked["ref"].isin(pex["ref"])]
    if start is not None:
        orphan = orphan[orphan["day"] >= np.datetime64(start, "s")]
    if end is not None:
        orphan = orphan[orphan["day"] <= np.datetime64(end, "s")]
    orphan = orphan.sort_values(["day", "marked_id"], kind="stable")
    count = len(orphan)
    empty = np.full(count, "", dtype=object)
    return pd.DataFrame({
        "pex_id": orphan["marked_id"].to_numpy(dtype="int64"),
        "date": orphan["xero_date"].to_numpy(dtype=object),
        "kind": empty,
        "amount": np.full(count, None, dtype=object),
        "merchant": empty,
        "cardholder": empty,
        "status": np.full(count, models.XERO_ONLY, dtype=object),
        "reason": np.full(count, XERO_ONLY_REASON, dtype=object),
        "differences": empty,
        "xero_id": orphan["xero_id"].to_numpy(dtype=object),
        "xero_type": orphan["xtype"].to_numpy(dtype=object),
        "xero_amount": orphan["xero_amount"].to_numpy(dtype=object),
        "account": orphan["accounts"].to_numpy(dtype=object),
        "contact": orphan["contact"].to_numpy(dtype=object),
        "tracking": orphan["tracking"].to_numpy(dtype=object),
        "link": empty,
        "planned": np.full(count, None, dtype=object),
        "xero_record": orphan["xero_record"].to_numpy(dtype=object),
    })


# --------------------------------------------------------------------------------------- summary and CSV


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per status (every status, in STATUSES order): count, `amount` = Decimal sum of |PEX amount| (what moves,
    regardless of direction; `xero only` rows have no PEX amount and add 0), `xero_amount` = sum of Xero totals."""
    statuses = frame["status"].to_numpy(dtype=object)
    amounts = [abs(a) if isinstance(a, Decimal) else Decimal("0") for a in frame["amount"]]
    xero_amounts = [a if isinstance(a, Decimal) else Decimal("0") for a in frame["xero_amount"]]
    rows = []
    for status in models.STATUSES:
        chosen = statuses == status
        rows.append({
            "status": status,
            "count": int(chosen.sum()),
            "amount": sum((a for a, c in zip(amounts, chosen) if c), Decimal("0.00")),
            "xero_amount": sum((a for a, c in zip(xero_amounts, chosen) if c), Decimal("0.00")),
        })
    return pd.DataFrame(rows, columns=["status", "count", "amount", "xero_amount"])


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, Decimal):
        return _money(value)
    if isinstance(value, date):
        return value.isoformat()
    return csvsafe.neutralise(value if isinstance(value, (int, np.integer)) else str(value))


def to_csv(frame: pd.DataFrame, path_or_buffer) -> None:
    """The reconciliation CSV: COLUMNS only, money to the cent, dates ISO, formula-like cells neutralised."""
    out = pd.DataFrame({name: [_cell(v) for v in frame[name].to_numpy(dtype=object)] for name in COLUMNS},
                       columns=COLUMNS)
    out.to_csv(path_or_buffer, index=False)
