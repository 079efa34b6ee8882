"""The reconciliation's totals per status and its CSV: the one definition the CLI, the dashboard and the CSV
share."""

from __future__ import annotations

import io
import os
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from . import csvsafe, models

# the reconciliation CSV, in this order
COLUMNS = [
    "pex_id", "date", "kind", "amount", "merchant", "cardholder", "status", "reason", "differences", "xero_id",
    "xero_type", "xero_amount", "account", "contact", "tracking", "link",
]

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
    if isinstance(value, (int, np.integer)):
        return value
    return csvsafe.neutralise(csvsafe.ascii_typography(str(value)))


def to_csv(frame: pd.DataFrame, path_or_buffer) -> None:
    """The reconciliation CSV: COLUMNS only, money to the cent, dates ISO, formula-like cells neutralised, our
    arrows and dashes in ASCII. A path is written with the byte-order mark (`csvsafe.ENCODING`); a text buffer
    gets the text alone (`csv_bytes` gives the file's bytes)."""
    out = pd.DataFrame({name: [_cell(v) for v in frame[name].to_numpy(dtype=object)] for name in COLUMNS},
                       columns=COLUMNS)
    if isinstance(path_or_buffer, (str, os.PathLike)):
        out.to_csv(path_or_buffer, index=False, encoding=csvsafe.ENCODING)
    else:
        out.to_csv(path_or_buffer, index=False)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The reconciliation CSV as a file's bytes: UTF-8 with a byte-order mark, so Excel opens it as written."""
    buffer = io.StringIO()
    to_csv(frame, buffer)
    return buffer.getvalue().encode(csvsafe.ENCODING)
