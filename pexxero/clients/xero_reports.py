"""Xero's Bank Summary report (`GET Reports/BankSummary`): the opening balance, cash received, cash spent and
closing balance of every bank account between two dates, as Xero's own books work them out.

A mixin of `XeroGateway`: the call goes through the gateway's `_send` (limiter, fresh token, retries, counted in
`calls`) like every other read. The report's cells are text ("1,234.56"); they are read into exact Decimals here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Optional

from pexxero.clients.xero_calls import XeroError

REPORTS_SCOPE = "accounting.reports.read"  # Xero answers 403 to a connection granted without it


class ReportsNotAllowed(XeroError):
    """The connection was granted without the reports scope (connected before the tie-out existed)."""

    hint = f"re-connect Xero and allow it to read reports ({REPORTS_SCOPE})"

    def __init__(self, status: Optional[int] = None):
        super().__init__("Xero did not allow reading its Bank Summary report", status)


@dataclass(frozen=True)
class BankSummaryLine:
    """One bank account's row of the Bank Summary report."""

    account_id: str
    name: str
    opening: Decimal
    received: Decimal
    spent: Decimal
    closing: Decimal


class XeroReports:
    """The reports the gateway reads; the plumbing is the gateway's own."""

    def bank_summary(self, start: date, end: date) -> list[BankSummaryLine]:
        """Every bank account's row of Xero's Bank Summary from `start` to `end` (inclusive): one call."""
        try:
            data = self._send(self._accounting.get_report_bank_summary, from_date=start, to_date=end)
        except XeroError as exc:
            if exc.status in (401, 403):
                raise ReportsNotAllowed(exc.status) from None
            raise
        return parse_bank_summary(data)


def _money(text) -> Decimal:
    """A report cell: "1,234.56", "-10.00", "(10.00)" or "" (nothing: zero)."""
    value = str(text if text is not None else "").strip().replace(",", "")
    if value.startswith("(") and value.endswith(")"):
        value = "-" + value[1:-1]
    if not value:
        return Decimal("0.00")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise XeroError(f"Xero's Bank Summary holds {str(text)[:40]!r} where an amount belongs") from None


def _account_id(cell: dict) -> str:
    for attribute in cell.get("Attributes") or []:
        if str(attribute.get("Id", "")).lower() in ("accountid", "account"):
            return str(attribute.get("Value") or "").lower()
    return ""


def parse_bank_summary(data) -> list[BankSummaryLine]:
    """The account rows of a ReportWithRows answer (Header, then Sections of Rows, then a SummaryRow)."""
    try:
        report = data["Reports"][0]
        rows = report.get("Rows") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        raise XeroError("Xero answered the Bank Summary in a shape it does not have (no report in it)") from None
    lines = []
    for section in rows:
        if not isinstance(section, dict) or section.get("RowType") != "Section":
            continue
        for row in section.get("Rows") or []:
            if not isinstance(row, dict) or row.get("RowType") != "Row":
                continue
            cells = row.get("Cells") or []
            if len(cells) < 5:
                raise XeroError("Xero's Bank Summary has a row with fewer than five cells")
            lines.append(BankSummaryLine(
                account_id=_account_id(cells[0]) or _account_id(cells[2]), name=str(cells[0].get("Value") or ""),
                opening=_money(cells[1].get("Value")), received=_money(cells[2].get("Value")),
                spent=_money(cells[3].get("Value")), closing=_money(cells[4].get("Value"))))
    return lines


def line_for(lines: list[BankSummaryLine], account_id: str, name: str = "") -> Optional[BankSummaryLine]:
    """The row of one bank account (by its AccountID, else by name); None when the report has none (an account
    with no movement and a zero balance is left out by Xero)."""
    wanted = (account_id or "").lower()
    found = next((line for line in lines if wanted and line.account_id == wanted), None)
    return found or next((line for line in lines if name and line.name == name), None)
