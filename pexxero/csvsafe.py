"""Neutralise spreadsheet formulas in CSV cells (OWASP "CSV Injection").

A merchant name, a tag or a decline text comes from outside; a spreadsheet opening the reconciliation CSV would run
a cell such as `=HYPERLINK(...)` as a formula. Prefixing `'` makes it plain text without changing what a reader sees.
"""

from __future__ import annotations

import re

# The characters a spreadsheet treats as the start of a formula (OWASP's list)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A plain signed number ("-12.50") is data, not a formula: leave it a number so sums still work
_PLAIN_NUMBER = re.compile(r"-\d+(\.\d+)?")


def neutralise(cell: object) -> object:
    """The cell, made safe to open in a spreadsheet; anything that is not a string is returned unchanged."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return cell
    if _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell
