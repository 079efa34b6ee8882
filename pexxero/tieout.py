"""The month-end tie-out: PEX against Xero's PEX Cash account, day by day and at the closing balance, every
difference explained to the cent (`tieout_explain`), and the verdict on whether the period may be locked.

A tie-out reads what a preview reads (the local PEX copy, mapped with the setup; Xero's records of PEX Cash and
its bank transfers, reconciled) plus PEX's balances now (one AccountDetails read) and Xero's Bank Summary for the
range (one call). It never writes to Xero. Money is Decimal throughout: a difference is exact or it is not one.
"""

from __future__ import annotations

import calendar
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Optional

from pexxero import mapping, reconcile
from pexxero import tieout_explain as ex
from pexxero.errors import PexxeroError
from pexxero.tieout_explain import TieItem
from pexxero.tieout_verdict import Blocker, Verdict, ready_to_lock

if TYPE_CHECKING:
    from pexxero.connection import Connection

ZERO = ex.ZERO
XERO_MARGIN_DAYS = 7  # Xero is read a little beyond the range: a look-alike may be dated a few days off

DAY_COLUMNS = ["date", "pex_movement", "xero_movement", "difference", "running_difference"]
ITEM_COLUMNS = ["date", "pex_id", "xero_id", "amount", "status", "reason"]


class TieOutRangeError(PexxeroError):
    """A range the tie-out cannot work on (words and hint for the user)."""


@dataclass(frozen=True)
class TieDay:
    day: date
    pex_movement: Decimal  # PEX's movement of the money PEX Cash stands for that day
    xero_movement: Decimal  # Xero's PEX Cash that day: its spend and receive money and its bank transfers
    difference: Decimal  # PEX minus Xero
    running_difference: Decimal  # the differences so far, this day's included
    unexplained: Decimal = ZERO  # what the day's items leave of its difference

    @property
    def ties(self) -> bool:
        return self.difference == 0


@dataclass(frozen=True)
class Closing:
    """The closing balances. PEX's is its balances now rolled back by the activity since the end of the range;
    Xero's are its own Bank Summary's."""

    pex_now: Decimal  # the business account plus every card's ledger balance, now
    pex_since: Decimal  # PEX's movement after the range, up to now
    pex_movement: Decimal  # PEX's movement in the range
    xero_opening: Decimal
    xero_closing: Decimal
    xero_read_movement: Decimal  # the movement of the Xero records read in the range

    @property
    def pex_closing(self) -> Decimal:
        return self.pex_now - self.pex_since

    @property
    def pex_opening(self) -> Decimal:
        return self.pex_closing - self.pex_movement

    @property
    def difference(self) -> Decimal:
        return self.pex_closing - self.xero_closing

    @property
    def opening_difference(self) -> Decimal:
        return self.pex_opening - self.xero_opening

    @property
    def report_residual(self) -> Decimal:
        """What Xero's Bank Summary moves PEX Cash by beyond the records read (a payment of an invoice or bill
        from PEX Cash, which the bank transactions list does not hold)."""
        return (self.xero_closing - self.xero_opening) - self.xero_read_movement

    @property
    def ties(self) -> bool:
        return self.difference == 0


@dataclass
class TieOut:
    start: date
    end: date
    days: list[TieDay]
    items: list[TieItem]  # every day's explaining items, the unexplained remainders included
    closing: Closing
    closing_items: list[TieItem]  # the opening balance and what the Bank Summary moves beyond the records read
    verdict: Verdict
    lock_date: Optional[date] = None
    tenant_id: str = ""
    tenant_name: str = ""
    pex_cash: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        """Every day and the closing balances tie to the cent."""
        return all(d.ties for d in self.days) and self.closing.ties

    @property
    def unexplained(self) -> list[TieItem]:
        return [i for i in [*self.items, *self.closing_items] if i.cause == ex.UNEXPLAINED]

    @property
    def exit_code(self) -> int:
        """0: it ties; 2: it differs and every difference is explained; 1: something is unexplained."""
        if self.unexplained:
            return 1
        return 0 if self.ties else 2

    def locked(self) -> tuple[int, Decimal]:
        """How many of the explaining items are dated on or before Xero's lock date, and how much of the
        difference they make (Xero refuses to write there: Preview shows them `blocked`)."""
        if self.lock_date is None:
            return 0, ZERO
        chosen = [i for i in self.items if i.day <= self.lock_date and i.cause != ex.UNEXPLAINED]
        return len(chosen), sum((i.amount for i in chosen), ZERO)

    def sentences(self) -> list[str]:
        """The tie-out in words: the days, the closing balances, the lock date's share, the verdict."""
        differing = [d for d in self.days if not d.ties]
        c = self.closing
        lines = [f"{len(self.days) - len(differing)} of {len(self.days)} days tie"
                 + (f"; {len(differing)} differ (total {ex._money(sum((d.difference for d in differing), ZERO))})"
                    if differing else "")]
        lines.append(f"Closing balance on {self.end.isoformat()}: PEX {ex._money(c.pex_closing)}, Xero PEX Cash "
                     f"{ex._money(c.xero_closing)}, difference {ex._money(c.difference)}"
                     + (" (ties)" if c.ties else ""))
        lines.append(f"PEX's closing balance is its balances now ({ex._money(c.pex_now)}: the business account and "
                     f"every card's ledger balance) less {ex._money(c.pex_since)} of activity since "
                     f"{self.end.isoformat()}")
        count, amount = self.locked()
        if count:
            lines.append(f"{count} explaining items, {ex._money(amount)} of the difference, are dated on or before "
                         f"Xero's lock date {self.lock_date.isoformat()} (Preview shows them blocked): only your "
                         "adviser moving the lock date lets them be written")
        unexplained = self.unexplained
        if unexplained:
            lines.append(f"Unexplained: {ex._money(sum((i.amount for i in unexplained), ZERO))} "
                         f"({len(unexplained)} items): look at these days in Xero and PEX")
        lines.extend(self.notes)
        lines.append(self.verdict.sentence())
        return lines

    # ------------------------------------------------------------------------------------------ the CSV

    def day_rows(self) -> list[dict]:
        return [{"date": d.day, "pex_movement": d.pex_movement, "xero_movement": d.xero_movement,
                 "difference": d.difference, "running_difference": d.running_difference} for d in self.days]

    def item_rows(self) -> list[dict]:
        return [{"date": i.day, "pex_id": i.pex_id, "xero_id": i.xero_id, "amount": i.amount, "status": i.status,
                 "cause": i.cause, "reason": i.reason} for i in [*self.items, *self.closing_items]]

    def to_csv(self, path_or_buffer) -> None:
        """One row per day, then one row per explaining item (each part with its own header row), money to the
        cent, cells a spreadsheet would run as a formula neutralised; a file is for its owner alone."""
        if isinstance(path_or_buffer, (str, os.PathLike)):
            from pexxero.store import open_private

            with open_private(path_or_buffer, "w", encoding="utf-8", newline="") as handle:
                self._write_csv(handle)
            return
        self._write_csv(path_or_buffer)

    def _write_csv(self, handle) -> None:
        import csv

        from pexxero.reconcile_report import _cell

        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DAY_COLUMNS)
        for row in self.day_rows():
            writer.writerow([_cell(row[c]) for c in DAY_COLUMNS])
        writer.writerow(ITEM_COLUMNS)
        for row in self.item_rows():
            writer.writerow([_cell(row[c]) if row[c] is not None else "" for c in ITEM_COLUMNS])


# ---------------------------------------------------------------------------------------------- ranges


def month_range(month: str, today: date) -> tuple[date, date]:
    """"2026-11" -> (2026-11-01, 2026-11-30); the month in progress ends today."""
    try:
        year, number = (int(p) for p in month.strip().split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise TieOutRangeError(f"{month!r} is not a month", "write it as YYYY-MM, e.g. 2026-11") from None
    last = date(year, number, calendar.monthrange(year, number)[1])
    return first, min(last, today)


# ---------------------------------------------------------------------------------------------- the days


def days_of(results, records, items: list[TieItem], pex_cash: str, start: date, end: date) -> tuple[
        list[TieDay], list[TieItem]]:
    """Each day's movements and difference, and the unexplained remainder of each day as an item of its own."""
    pex: dict[date, Decimal] = {}
    for result in results:
        amount = ex.pex_amount(result)
        day = result.post_date or result.transaction.transaction_time.date()
        if amount is not None and start <= day <= end:
            pex[day] = pex.get(day, ZERO) + amount
    xero: dict[date, Decimal] = {}
    for record in records:
        if start <= record.date <= end:
            xero[record.date] = xero.get(record.date, ZERO) + ex.xero_amount(record, pex_cash)
    explained: dict[date, Decimal] = {}
    for item in items:
        explained[item.day] = explained.get(item.day, ZERO) + item.amount
    days, remainders, running = [], [], ZERO
    day = start
    while day <= end:
        ours, theirs = pex.get(day, ZERO), xero.get(day, ZERO)
        difference = ours - theirs
        running += difference
        left = difference - explained.get(day, ZERO)
        days.append(TieDay(day, ours, theirs, difference, running, left))
        if left:
            remainders.append(TieItem(day, None, "", left, ex.UNEXPLAINED, ex.UNEXPLAINED,
                                      "unexplained: no PEX transaction or Xero record read accounts for this part of "
                                      "the day's difference: look at this day in Xero and PEX"))
        day += timedelta(days=1)
    return days, remainders


def closing_items(closing: Closing, start: date, end: date, synced_from: Optional[date] = None) -> list[TieItem]:
    """The closing difference's items beyond the days': the opening balance (for a range that starts after the
    setup's start date, the difference carried in from the days before it) and what only the Bank Summary moves."""
    items = []
    if closing.opening_difference:
        needs, before = closing.pex_opening, (start - timedelta(days=1)).isoformat()
        held = (f"PEX held {ex._money(needs)} at the end of {before}; Xero's PEX Cash opens {start.isoformat()} at "
                f"{ex._money(closing.xero_opening)}")
        if synced_from is not None and synced_from < start:
            words = (f"before the start date: {held}, a difference of {ex._money(closing.opening_difference)} carried "
                     f"in from before {start.isoformat()} (tie out from {synced_from.isoformat()} to see its items)")
        else:
            words = (f"before the start date: {held}: Xero needs an opening balance of {ex._money(needs)} on PEX "
                     f"Cash (a difference of {ex._money(closing.opening_difference)}: enter it in Xero's conversion "
                     "balances, or book what PEX did before the start date)")
        items.append(TieItem(start, None, "", closing.opening_difference, ex.OPENING, ex.BEFORE_START, words))
    if closing.report_residual:
        items.append(TieItem(
            end, None, "", -closing.report_residual, ex.UNEXPLAINED, ex.UNEXPLAINED,
            f"unexplained: Xero's Bank Summary moves PEX Cash by {ex._money(closing.xero_closing - closing.xero_opening)}"
            f" from {start.isoformat()} to {end.isoformat()}, its bank transactions and transfers by "
            f"{ex._money(closing.xero_read_movement)} (an invoice or bill paid from PEX Cash? a manual journal?): "
            "find it in Xero's account transactions for PEX Cash"))
    return items


# ---------------------------------------------------------------------------------------------- build


def tie_out(conn: "Connection", *, start: Optional[date] = None, end: Optional[date] = None,
            month: Optional[str] = None, today: Optional[date] = None, refresh: bool = True) -> TieOut:
    """The tie-out of `start`..`end` (default: the setup's range; `month` "YYYY-MM" as a shorthand). Reads PEX
    (its local copy, refreshed as a preview refreshes it, and its balances) and Xero; writes nothing to Xero."""
    from pexxero.connection import today_eastern

    with conn.pinned_tenant() as tenant:
        today = today or today_eastern()
        setup = conn.setup()
        if refresh:
            conn.refresh_pex(today=today)
        first, last = conn.date_range(setup, today)
        if month:
            start, end = month_range(month, today)
        start, end = start or first, min(end or last, today)
        if start > end:
            raise TieOutRangeError(f"the range {start.isoformat()} to {end.isoformat()} is empty",
                                   "choose an end date on or after the start date, and not after today")
        state = conn.store.pex_refresh_state(conn.connection_id) or {}
        if state and start < state["start"]:
            raise TieOutRangeError(f"the local copy of PEX starts on {state['start'].isoformat()}, after "
                                   f"{start.isoformat()}", "tie out from that day on, or move the setup's start date "
                                                           "(setup step 2) back and preview once")
        ref = conn.reference(setup)
        pex_cash = setup.accounts.pex_cash
        results = mapping.plan(conn.pex_transactions(start, end), setup, ref, today=today)
        xero = conn.xero()
        margin = timedelta(days=XERO_MARGIN_DAYS)
        bank = list(xero.bank_transactions(pex_cash, start - margin, end + margin))
        transfers = list(xero.bank_transfers(start - margin, end + margin))
        lock = None
        if ref.organisation is not None:
            locks = [d for d in (ref.organisation.period_lock_date, ref.organisation.end_of_year_lock_date) if d]
            lock = max(locks) if locks else None
        frame = reconcile.reconcile(results, bank, transfers, lock_date=lock, start=start, end=end, pex_cash=pex_cash)
        items = ex.explain(results, frame, bank, transfers, pex_cash, start, end)
        records = [*ex.live_bank(bank, pex_cash), *ex.on_pex_cash(transfers, pex_cash)]
        days, remainders = days_of(results, records, items, pex_cash, start, end)
        items = sorted([*items, *remainders], key=lambda i: (i.day, i.cause == ex.UNEXPLAINED))

        later = conn.pex_transactions(end + timedelta(days=1), today) if end < today else []
        since = sum((ex.pex_amount(tx) or ZERO for tx in later if end < mapping.post_date(tx, setup) <= today), ZERO)
        balances = conn.pex().balances()
        account = next((a for a in ref.accounts if a.code == pex_cash), None)
        from pexxero.clients.xero_reports import line_for

        line = line_for(xero.bank_summary(start, end), account.account_id if account else "",
                        account.name if account else "")
        closing = Closing(
            pex_now=balances.total, pex_since=since, pex_movement=sum((d.pex_movement for d in days), ZERO),
            xero_opening=line.opening if line else ZERO, xero_closing=line.closing if line else ZERO,
            xero_read_movement=sum((d.xero_movement for d in days), ZERO))
        notes = []
        if state and state["end"] < today:
            notes.append(f"The local copy of PEX ends on {state['end'].isoformat()}: PEX's activity after it is not "
                         "rolled back from PEX's balances now, so the opening and closing balances may be off")
        name = ref.organisation.name if ref.organisation is not None else ""
        tie = TieOut(start=start, end=end, days=days, items=items, closing=closing,
                     closing_items=closing_items(closing, start, end, setup.pex.start_date), verdict=Verdict(False, end, ()),
                     lock_date=lock, tenant_id=tenant, tenant_name=name or conn.tenant_name(tenant, lookup=False),
                     pex_cash=pex_cash, notes=notes)
        tie.verdict = ready_to_lock(conn, tie, results, frame, setup)
        return tie


__all__ = ["TieOut", "TieDay", "TieItem", "Closing", "Blocker", "Verdict", "tie_out", "month_range",
           "TieOutRangeError"]
