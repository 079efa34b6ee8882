"""Column helpers of the reconciliation: object arrays filled with C-level getters (map/attrgetter, one pass per
field instead of Python code per cell), integer cents, datetime64 days, and their text."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from operator import attrgetter, itemgetter

import numpy as np
import pandas as pd

EPOCH = date(1970, 1, 1).toordinal()
HUNDRED = Decimal(100)


def column(values: np.ndarray) -> pd.Series:
    """An object column (no string-dtype inference: these hold text, Decimals, dates and records as given)."""
    return pd.Series(values, dtype=object, copy=False)


def objects(values) -> np.ndarray:
    """A 1-D object array holding `values` as they are (tuples stay elements, never become a second axis)."""
    return np.fromiter(values, dtype=object, count=len(values))


def days(ordinals: np.ndarray) -> np.ndarray:
    """Proleptic ordinals -> datetime64, the dtype the date matching runs on."""
    return (ordinals - EPOCH).astype("datetime64[D]").astype("datetime64[s]")


def date_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def money_text(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> "12.50" (exact: integer arithmetic only)."""
    cents = np.asarray(cents, dtype=np.int64)
    magnitude = np.abs(cents)
    whole = (magnitude // 100).astype(str).astype(object)
    fraction = (magnitude % 100).astype(str).astype(object)
    return np.where(cents < 0, "-", "") + whole + np.where(magnitude % 100 < 10, ".0", ".") + fraction


def line_keys(lines) -> tuple[str, str]:
    """Account codes and tracking of a record's lines as comparable text (order of lines ignored)."""
    accounts = ", ".join(sorted(line.account_code for line in lines))
    tracking = "; ".join(sorted(f"{t.category}: {t.option}" for line in lines for t in line.tracking))
    return accounts, tracking


def lines_text(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_line_keys for an array of line tuples. The common shape (one line, at most one tracking) is read with
    C-level getters; only the rest goes through Python one record at a time."""
    count = len(lines)
    accounts, tracking = np.full(count, "", dtype=object), np.full(count, "", dtype=object)
    single = np.flatnonzero(np.fromiter(map(len, lines), np.int64, count) == 1)
    firsts = list(map(itemgetter(0), lines[single]))
    tracked = get(firsts, "tracking")
    tracked_count = np.fromiter(map(len, tracked), np.int64, len(tracked))
    simple = tracked_count <= 1
    accounts[single[simple]] = get(firsts, "account_code")[simple]
    one = tracked_count == 1
    options = list(map(itemgetter(0), tracked[one]))
    tracking[single[one]] = get(options, "category") + ": " + get(options, "option")
    rest = np.ones(count, dtype=bool)
    rest[single[simple]] = False
    for row in np.flatnonzero(rest):
        accounts[row], tracking[row] = line_keys(lines[row])
    return accounts, tracking



def get(records: list, field: str) -> np.ndarray:
    return np.fromiter(map(attrgetter(field), records), dtype=object, count=len(records))


def text(records: list, field: str, fallback="") -> np.ndarray:
    """A text field with None and "" replaced by `fallback`."""
    values = get(records, field)
    return np.where((values == None) | (values == ""), fallback, values)  # noqa: E711 (elementwise on objects)


def cents_of(amounts) -> np.ndarray:
    """Decimal amounts -> integer cents (exact for amounts in cents, which mapping guarantees)."""
    return np.fromiter(map(int, map(HUNDRED.__mul__, amounts)), np.int64, len(amounts))


def day_of(dates) -> np.ndarray:
    return days(np.fromiter(map(date.toordinal, dates), np.int64, len(dates)))
