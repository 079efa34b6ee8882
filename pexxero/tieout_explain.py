"""The items that explain a tie-out's differences: each PEX transaction and each Xero record of the PEX Cash
account that makes a day's PEX movement differ from Xero's, with its status and the reason in words.

Pure. Every settled PEX transaction of a booked kind moves the money PEX Cash stands for on its post date (its
"PEX part"); every live Xero record of PEX Cash moves the account on its date (its "Xero part"). The preview pairs
a PEX transaction with the Xero record it matched (by its marker, or an unmarked look-alike); each record pairs
once. An item is what a pair, or a part left alone, adds to a day's difference (PEX minus Xero): a pair on one
day adds the gap between its two amounts (nothing when they agree), a pair on two days adds each part on its own
day. Whatever a day's items leave of its difference is the tie-out's `unexplained`, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Optional, Sequence

import pandas as pd

from pexxero import models
from pexxero.mapping import MappingResult, classify
from pexxero.models import XeroBankTransaction, XeroBankTransfer
from pexxero.reconcile import GONE, MARKER

ZERO = Decimal("0.00")

# why an item makes a difference: the causes a tie-out names (the page filters by them)
NOT_SYNCED = "not yet synced"
HELD = "held as a possible duplicate"
CHANGED = "changed in Xero"
VOIDED = "voided in PEX, still in Xero"
XERO_ONLY = "in Xero, no PEX transaction"
TWICE = "in Xero twice"
DATED = "dated differently"
SETTING = "skipped by a setting"
BEFORE_START = "before the start date"
LOCKED = "blocked"
SKIPPED = "skipped"
PENDING = "pending in PEX"
UNEXPLAINED = "unexplained"
CAUSES = (NOT_SYNCED, HELD, CHANGED, VOIDED, XERO_ONLY, TWICE, DATED, SETTING, BEFORE_START, LOCKED, SKIPPED,
          PENDING, UNEXPLAINED)

OPENING = "opening balance"  # the status of the item that explains a closing difference by the opening balance
XERO_ONLY_STATUS = models.XERO_ONLY


@dataclass(frozen=True)
class TieItem:
    """One item of a day's difference: `amount` is its part of PEX's movement minus Xero's that day."""

    day: date
    pex_id: Optional[int]
    xero_id: str
    amount: Decimal
    status: str  # the preview's status, `xero only`, `opening balance` or `unexplained`
    cause: str  # one of CAUSES
    reason: str


# ------------------------------------------------------------------------------------------- the parts


def pex_amount(result_or_tx) -> Optional[Decimal]:
    """A PEX transaction's movement of the money PEX Cash stands for (None: it moves none): settled, of a kind
    we book (purchases, refunds, dispute credits, fees, funding, rebates), never card funding inside PEX. A row
    PEX sent with a field that cannot be read still moved its amount (Preview blocks it, naming the field)."""
    tx = getattr(result_or_tx, "transaction", result_or_tx)
    if tx.is_pending or tx.is_decline or not isinstance(tx.amount, Decimal) or not tx.amount.is_finite():
        return None
    kind = result_or_tx.kind if isinstance(result_or_tx, MappingResult) else classify(tx)
    return tx.amount if kind is not None else None


def live_bank(records: Sequence[XeroBankTransaction], pex_cash: str) -> list[XeroBankTransaction]:
    return [r for r in records if r.status.upper() not in GONE and (not pex_cash or r.bank_account_code == pex_cash)]


def on_pex_cash(transfers: Sequence[XeroBankTransfer], pex_cash: str) -> list[XeroBankTransfer]:
    return [t for t in transfers if pex_cash in (t.from_account_code, t.to_account_code)
            and t.from_account_code != t.to_account_code]


def xero_amount(record, pex_cash: str) -> Decimal:
    """A Xero record's movement of PEX Cash: RECEIVE (or a transfer into it) in, SPEND (or out of it) out."""
    if isinstance(record, XeroBankTransfer):
        return -record.amount if record.from_account_code == pex_cash else record.amount
    return -record.total if record.type.upper().startswith("SPEND") else record.total


def record_id(record) -> str:
    return record.bank_transfer_id if isinstance(record, XeroBankTransfer) else record.bank_transaction_id


def _marked(record) -> Optional[int]:
    reference = (record.reference or "").strip()
    match = MARKER.fullmatch(reference) if reference[:4].upper() == "PEX-" else None
    return int(match.group(1)) if match else None


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


# ------------------------------------------------------------------------------------------- the words


def _cause_of(status: str, reason: str) -> str:
    """The cause of a PEX transaction's part that stands alone, from the preview's status and reason."""
    if status == models.NEW:
        return NOT_SYNCED
    if status == models.POSSIBLE_DUPLICATE:
        return HELD
    if status == models.CHANGED:
        return CHANGED
    if status == models.VOIDED:
        return VOIDED
    if status == models.BLOCKED:
        return LOCKED
    if status == models.SKIPPED:
        lowered = reason.lower()
        if "before the start date" in lowered:
            return BEFORE_START
        if "switched off" in lowered or "approved" in lowered or "after the end date" in lowered:
            return SETTING
        if lowered.startswith("pending"):
            return PENDING
        return SKIPPED
    return UNEXPLAINED  # a synced row never stands alone: if one does, it is not explained


def _alone_reason(cause: str, reason: str, xero_id: str) -> str:
    lead = {
        NOT_SYNCED: "not yet synced: PEX has it, Xero does not",
        HELD: "held as a possible duplicate: not pushed until you decide on Preview",
        CHANGED: "changed in Xero",
        VOIDED: "voided in PEX but still in Xero",
        LOCKED: "blocked: not written to Xero",
        BEFORE_START: "before the start date: PEX has it, the sync does not write it",
        SETTING: "skipped by a setting: PEX has it, the sync does not write it",
        PENDING: "pending in PEX",
        SKIPPED: "skipped: PEX has it, the sync does not write it",
        UNEXPLAINED: "unexplained: the preview calls it synced, yet Xero's record of it does not match",
    }[cause]
    return f"{lead} ({reason})" if reason else lead


# ------------------------------------------------------------------------------------------- the items


def explain(results: Sequence[MappingResult], frame: pd.DataFrame, bank: Sequence[XeroBankTransaction],
            transfers: Sequence[XeroBankTransfer], pex_cash: str, start: date, end: date) -> list[TieItem]:
    """The items of every day's difference in start..end, ordered by day (PEX transactions first, then Xero
    records). `frame` is the reconciliation of `results` against `bank` and `transfers` (its first rows are the
    results, in order); `bank` and `transfers` may reach beyond the range (their records outside it count only
    for the pairing)."""
    records = [*live_bank(bank, pex_cash), *on_pex_cash(transfers, pex_cash)]
    by_id = {record_id(r): r for r in records}
    claimed: set[str] = set()
    items: list[TieItem] = []

    def add(day: date, pex_id, xero_id: str, amount: Decimal, status: str, cause: str, reason: str) -> None:
        if start <= day <= end and amount != 0:
            items.append(TieItem(day, pex_id, xero_id, amount, status, cause, reason))

    statuses = frame["status"].to_numpy(dtype=object)
    reasons = frame["reason"].to_numpy(dtype=object)
    differences = frame["differences"].to_numpy(dtype=object)
    xero_ids = frame["xero_id"].to_numpy(dtype=object)
    pex_ids_in_range = set()
    for row, result in enumerate(results):
        tx = result.transaction
        pex_ids_in_range.add(tx.transaction_id)
        status, reason = statuses[row], reasons[row] or ""
        ours = pex_amount(result)
        ours_day = result.post_date or tx.transaction_time.date()
        record = by_id.get(xero_ids[row] or "")
        if record is not None and record_id(record) in claimed:
            record = None  # a look-alike another PEX transaction is already paired with
        if record is not None:
            claimed.add(record_id(record))
        theirs = xero_amount(record, pex_cash) if record is not None else None
        xero_id = record_id(record) if record is not None else ""
        if ours is None and theirs is None:
            continue
        if ours is not None and theirs is None:
            cause = _cause_of(status, reason)
            add(ours_day, tx.transaction_id, "", ours, status, cause, _alone_reason(cause, reason, ""))
            continue
        if ours is None:  # Xero books what PEX does not move: voided, pending, or a skipped kind that was written
            cause = VOIDED if status == models.VOIDED else (_cause_of(status, reason) if status == models.SKIPPED
                                                             else UNEXPLAINED)
            if cause == VOIDED:  # the preview's reason says it all: "voided in PEX, still in Xero (…): …"
                words = reason or "voided in PEX, still in Xero"
            else:
                words = f"in Xero, but PEX moves no money for it ({reason})" if reason else \
                    "in Xero, but PEX moves no money for it"
            add(record.date, tx.transaction_id, xero_id, -theirs, status, cause, words)
            continue
        if record.date == ours_day:
            gap = ours - theirs
            if gap:
                cause = CHANGED if status == models.CHANGED else HELD if status == models.POSSIBLE_DUPLICATE \
                    else UNEXPLAINED
                detail = differences[row] or f"amount: Xero {_money(-theirs)}, PEX {_money(ours)}"
                add(ours_day, tx.transaction_id, xero_id, gap, status, cause,
                    f"{cause}: {detail}" if cause != UNEXPLAINED else f"unexplained: {detail}")
            continue
        # one transaction on two days: each side counts on its own day
        if status == models.POSSIBLE_DUPLICATE:  # most likely one transaction, dated differently by a bank feed
            cause = HELD
            pair = (f"held as a possible duplicate: PEX has it on {ours_day.isoformat()}, Xero an unmarked "
                    f"look-alike on {record.date.isoformat()} (a bank-feed line or a hand entry?): not pushed until "
                    "you decide on Preview")
        else:
            cause = DATED
            pair = (f"dated differently: PEX {ours_day.isoformat()}, Xero {record.date.isoformat()}"
                    + (f" ({differences[row]})" if differences[row] else ""))
        add(ours_day, tx.transaction_id, xero_id, ours, status, cause, pair)
        add(record.date, tx.transaction_id, xero_id, -theirs, status, cause, pair)

    for record in records:  # Xero's records no PEX transaction is paired with
        if record_id(record) in claimed:
            continue
        marked = _marked(record)
        if marked is not None and marked in pex_ids_in_range:
            cause, words = TWICE, (f"in Xero twice: another Xero record carries PEX-{marked} as well, so PEX's one "
                                   "transaction is booked more than once")
        elif marked is not None:
            cause, words = XERO_ONLY, (f"in Xero with the reference PEX-{marked}, but no PEX transaction in range has "
                                       "that id")
        else:
            cause, words = XERO_ONLY, "in Xero with no PEX transaction (a hand entry or a bank-feed line)"
        add(record.date, marked, record_id(record), -xero_amount(record, pex_cash), XERO_ONLY_STATUS, cause, words)
    items.sort(key=lambda i: (i.day, i.pex_id is None, i.pex_id or 0, i.xero_id))
    return items
