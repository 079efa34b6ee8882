"""The Tie-out page's data: both balances per day for the chart, the explaining items and the blockers as
tables, the filters. Presentation-free, like `views`: the page only renders these. Money stays Decimal in the
tables (shown as text, to the cent); the chart frame alone carries floats, because a chart draws, it adds nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable, Optional

import pandas as pd

from pexxero.tieout import TieOut
from pexxero.views import money

ITEM_COLUMNS = ["date", "cause", "status", "amount", "pex_id", "xero_id", "reason"]
BLOCKER_COLUMNS = ["what", "count", "amount", "how to clear it"]


def balance_lines(tie: TieOut) -> pd.DataFrame:
    """One row per day and side: PEX's balance (its opening plus each day's movement) and Xero's PEX Cash (its
    opening plus the records read), and whether the day differs (marked on the chart)."""
    rows = []
    pex, xero = tie.closing.pex_opening, tie.closing.xero_opening
    for day in tie.days:
        pex += day.pex_movement
        xero += day.xero_movement
        for side, balance in (("PEX", pex), ("Xero PEX Cash", xero)):
            rows.append({"date": pd.Timestamp(day.day), "side": side, "balance": float(balance),
                         "shown": money(balance), "differs": not day.ties, "difference": money(day.difference)})
    return pd.DataFrame(rows, columns=["date", "side", "balance", "shown", "differs", "difference"])


def items_table(tie: TieOut) -> pd.DataFrame:
    """Every explaining item, the closing ones last; amounts as text to the cent."""
    rows = [{"date": i.day.isoformat(), "cause": i.cause, "status": i.status, "amount": money(i.amount),
             "pex_id": "" if i.pex_id is None else str(i.pex_id), "xero_id": i.xero_id, "reason": i.reason}
            for i in [*tie.items, *tie.closing_items]]
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def filter_items(table: pd.DataFrame, causes: Iterable[str] = (), statuses: Iterable[str] = (),
                 text: str = "") -> pd.DataFrame:
    """The items of the chosen causes and statuses (none chosen: all) whose id, date or reason holds `text`."""
    causes, statuses = list(causes), list(statuses)
    shown = table
    if causes:
        shown = shown[shown["cause"].isin(causes)]
    if statuses:
        shown = shown[shown["status"].isin(statuses)]
    needle = text.strip().casefold()
    if needle:
        haystack = (shown["pex_id"] + " " + shown["xero_id"] + " " + shown["date"] + " " + shown["reason"]).str.casefold()
        shown = shown[haystack.str.contains(needle, regex=False)]
    return shown


def blockers_table(tie: TieOut) -> pd.DataFrame:
    rows = [{"what": b.what, "count": str(b.count), "amount": "" if b.amount is None else money(b.amount),
             "how to clear it": b.clear} for b in tie.verdict.blockers]
    return pd.DataFrame(rows, columns=BLOCKER_COLUMNS)


def summary_metrics(tie: TieOut) -> list[tuple[str, str]]:
    """(label, value) of the page's metrics."""
    tied = sum(d.ties for d in tie.days)
    c = tie.closing
    return [("Days that tie", f"{tied} of {len(tie.days)}"), ("PEX closing", money(c.pex_closing)),
            ("Xero PEX Cash closing", money(c.xero_closing)), ("Closing difference", money(c.difference))]


def month_choices(first: date, last: date) -> list[str]:
    """"YYYY-MM" of every month from `first` to `last`, newest first."""
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(f"{day:%Y-%m}")
        day = (day + timedelta(days=32)).replace(day=1)
    return months[::-1]


def default_month(today: date, choices: list[str]) -> Optional[str]:
    """The last whole month (the one to lock at month-end), else the newest there is."""
    last = f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"
    return last if last in choices else (choices[0] if choices else None)


__all__ = ["balance_lines", "items_table", "filter_items", "blockers_table", "summary_metrics", "month_choices",
           "default_month"]
