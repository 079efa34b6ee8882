"""The Xero double's reports: `GET Reports/BankSummary`, worked out from the organisation's own records plus an
opening balance per bank account, in the shape of Xero's ReportWithRows.

Xero's Bank Summary counts everything that moves a bank account: spend and receive money, both sides of a bank
transfer, and payments of invoices and bills, which `GET BankTransactions` does not list. `payments` holds such
movements for a test to plant (a movement the bank transactions read cannot see).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, Optional

from starlette.requests import Request
from starlette.responses import Response

from pexxero.sandbox.xero_wire import dumps, money, parse_date, problem, query_parse_exception

if TYPE_CHECKING:
    from pexxero.sandbox.xero_books import Books
    from pexxero.sandbox.xero_double import XeroDouble

ZERO = Decimal("0.00")
REPORTS_SCOPE = "accounting.reports.read"
GONE = ("DELETED", "VOIDED")


def _json(body, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json; charset=utf-8")


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


class Reports:
    """Per organisation: opening balances (account code -> the balance before its first record) and payments
    (account code, date, signed amount) that move a bank account outside the bank transactions list."""

    def __init__(self, double: "XeroDouble"):
        self.double = double
        self.openings: dict[str, dict[str, Decimal]] = {}
        self.payments: dict[str, list[tuple[str, date, Decimal]]] = {}
        self._later: dict[tuple[str, str], Callable[[], Decimal]] = {}  # worked out when first asked for

    def set_opening_balance(self, tenant_id: str, code: str, amount) -> None:
        """The balance of bank account `code` before its first record; a callable is worked out when a report
        first needs it (the demo's takes a generation of the PEX ledgers, which most tests never ask for)."""
        if callable(amount):
            self._later[(tenant_id.lower(), code)] = amount
            return
        self._later.pop((tenant_id.lower(), code), None)
        self.openings.setdefault(tenant_id.lower(), {})[code] = Decimal(amount)

    def opening_balances(self, tenant_id: str) -> dict[str, Decimal]:
        for (tenant, code), work_out in list(self._later.items()):
            if tenant == tenant_id.lower():
                self.set_opening_balance(tenant, code, work_out())
        return dict(self.openings.get(tenant_id.lower(), {}))

    def add_payment(self, tenant_id: str, code: str, day: date, amount: Decimal) -> None:
        """A movement of bank account `code` that GET BankTransactions does not list (an invoice payment)."""
        self.payments.setdefault(tenant_id.lower(), []).append((code, day, Decimal(amount)))

    # ------------------------------------------------------------------------------------------- route

    def handle(self, request: Request, tenant: str, books: "Books") -> Optional[Response]:
        """The answer to a reports request; None for any other path (the resources answer those)."""
        parts = [p.lower() for p in request.path_params["rest"].split("/") if p]
        if not parts or parts[0] != "reports":
            return None
        if parts[1:] != ["banksummary"] or request.method != "GET":
            return Response("The resource you're looking for cannot be found", status_code=404,
                            media_type="text/plain")
        grant, _ = self.double.oauth.authenticate(request.headers.get("authorization"))
        if grant is None or REPORTS_SCOPE not in grant.scope.split():
            return _json(problem(403, "Forbidden", "AuthorizationUnsuccessful"), 403)
        query = {k.lower(): v for k, v in request.query_params.items()}
        today = books.today()
        try:
            start = parse_date(query["fromdate"]) if query.get("fromdate") else today.replace(day=1)
            end = parse_date(query["todate"]) if query.get("todate") else today
        except ValueError:
            return _json(query_parse_exception("fromDate and toDate must be dates (YYYY-MM-DD)"), 400)
        return _json(self.double.envelope("Reports", [self.bank_summary(tenant, books, start, end)]))

    # ------------------------------------------------------------------------------------------ report

    def movements(self, tenant: str, books: "Books") -> list[tuple[str, date, Decimal]]:
        """(account id, date, signed amount) of every record that moves a bank account."""
        by_code = {a["Code"]: a["AccountID"] for a in books.accounts}
        moves = []
        for record in books.bank_transactions.values():
            if str(record.get("Status", "")).upper() in GONE:
                continue
            account = (record.get("BankAccount") or {}).get("AccountID") or by_code.get(
                (record.get("BankAccount") or {}).get("Code"), "")
            total = Decimal(str(record.get("Total") or 0))
            sign = -1 if str(record.get("Type", "")).upper().startswith("SPEND") else 1
            moves.append((str(account).lower(), parse_date(record["Date"]), sign * total))
        for code, day, amount in self.payments.get(tenant.lower(), []):
            moves.append((str(by_code.get(code, "")).lower(), day, amount))
        return moves

    def bank_summary(self, tenant: str, books: "Books", start: date, end: date) -> dict:
        openings = self.opening_balances(tenant)
        moves = self.movements(tenant, books)
        rows = []
        totals = [ZERO, ZERO, ZERO, ZERO]
        for account in books.accounts:
            if account["Type"] != "BANK":
                continue
            account_id = account["AccountID"].lower()
            mine = [(day, amount) for a, day, amount in moves if a == account_id]
            opening = openings.get(account["Code"], ZERO) + sum((m for d, m in mine if d < start), ZERO)
            received = sum((m for d, m in mine if start <= d <= end and m > 0), ZERO)
            spent = -sum((m for d, m in mine if start <= d <= end and m < 0), ZERO)
            closing = opening + received - spent
            if not mine and not opening:
                continue  # Xero leaves out an account with nothing to show
            figures = [money(opening), money(received), money(spent), money(closing)]
            totals = [t + f for t, f in zip(totals, figures)]
            attribute = [{"Value": account["AccountID"], "Id": "account"}]
            rows.append({"RowType": "Row", "Cells": [
                {"Value": account["Name"], "Attributes": [{"Value": account["AccountID"], "Id": "accountID"}]},
                {"Value": f"{figures[0]:.2f}"},
                {"Value": f"{figures[1]:.2f}", "Attributes": attribute},
                {"Value": f"{figures[2]:.2f}", "Attributes": attribute},
                {"Value": f"{figures[3]:.2f}"},
            ]})
        rows.append({"RowType": "SummaryRow", "Cells": [{"Value": "Total"}] + [{"Value": f"{t:.2f}"} for t in totals]})
        now = datetime.fromtimestamp(self.double.clock(), tz=timezone.utc)
        return {
            "ReportName": "Bank Summary", "ReportType": "BankSummary",
            "ReportTitles": ["Bank Summary", books.organisation.get("Name", ""), f"From {_long(start)} to {_long(end)}"],
            "ReportDate": _long(now.date()), "UpdatedDateUTC": f"/Date({int(now.timestamp() * 1000)}+0000)/",
            "Fields": [],
            "Rows": [{"RowType": "Header", "Cells": [{"Value": v} for v in (
                "Bank Accounts", "Opening Balance", "Cash Received", "Cash Spent", "Closing Balance")]},
                {"RowType": "Section", "Title": "", "Rows": rows}],
        }


def demo_pex_cash_opening(seed: int, today: Optional[date]) -> Decimal:
    """The demo organisation's PEX Cash opening balance: what the demo's PEX business held at the end of the day
    before the sandbox setup's start date, so that a full sync of the demo leaves only the differences the demo
    plants (it dates rows by transaction time, as the sandbox setup does)."""
    from pexxero.sandbox import demo, pex_balances, seed as seeds

    today = today or demo.eastern_today()
    start = today - timedelta(days=seeds.START_DAYS_BACK)
    return pex_balances.Balances().total_before(demo.account_details(), demo.pex_transactions(seed, today), start)
