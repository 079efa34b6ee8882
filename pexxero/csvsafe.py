"""CSV cells a spreadsheet opens safely and legibly.

Formulas (OWASP "CSV Injection"): a merchant name, a tag or a decline text comes from outside; a spreadsheet
opening the reconciliation CSV would run a cell such as `=HYPERLINK(...)` as a formula. Prefixing `'` makes it plain
text without changing what a reader sees.

Our own typography: the arrows, dashes and dots pexxero writes in its words ("090 → 091") become ASCII, because
Excel opening a CSV by double-click may guess the wrong encoding and garble them. Names from PEX or Xero keep their
letters: the file starts with a byte-order mark (`ENCODING`), which makes Excel read UTF-8.
"""

from __future__ import annotations

import re

# The characters a spreadsheet treats as the start of a formula (OWASP's list)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A plain signed number ("-12.50") is data, not a formula: leave it a number so sums still work
_PLAIN_NUMBER = re.compile(r"-\d+(\.\d+)?")


# the file's encoding: UTF-8 with a byte-order mark, the one way Excel is told a CSV is UTF-8
ENCODING = "utf-8-sig"

_TYPOGRAPHY = str.maketrans({"→": "->", "←": "<-", "—": "-", "–": "-", "…": "...", "·": "-", "‘": "'", "’": "'",
                             "“": '"', "”": '"', "\u00a0": " ", "×": "x", "≈": "~"})


def ascii_typography(text: str) -> str:
    """`text` with pexxero's typographic characters as ASCII ("090 → 091" -> "090 -> 091"); other letters stay."""
    return text.translate(_TYPOGRAPHY)


def neutralise(cell: object) -> object:
    """The cell, made safe to open in a spreadsheet; anything that is not a string is returned unchanged."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return cell
    if _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell
