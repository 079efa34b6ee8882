"""The PEX double's balances, kept true to its ledgers: each card's ledger balance and the business account's
balance move with every settled row, so a row a test plants moves them as PEX would.

Worked out as an opening balance per account (what it held before its first row) plus the settled rows since;
the demo's own stated balances are not used, as its ledgers would not lead to them. Card funding moves money from the
business account to a card: it moves both, so the business's total funds do not change.
"""

from __future__ import annotations

import copy
from decimal import Decimal

ZERO = Decimal("0.00")


def _settled(row) -> bool:
    return isinstance(row, dict) and row.get("IsPending") is not True and row.get("IsDecline") is not True


def _amount(row) -> Decimal:
    try:
        amount = Decimal(str(row.get("TransactionAmount")))
    except Exception:  # noqa: BLE001 - a malformed row a test planted moves nothing
        return ZERO
    return amount if amount.is_finite() else ZERO  # nor does a planted NaN or Infinity


def _card_funding(row) -> bool:
    return str(row.get("TransactionType", "")).lower() in ("transfer", "load") and \
        str(row.get("TransactionTypeCategory") or "").strip().lower() in ("cardfunding", "")


def movements(ledgers: dict) -> tuple[Decimal, dict[int, Decimal]]:
    """(the business account's movement, each card's movement) over the settled rows of both ledgers."""
    business, cards = ZERO, {}
    for row in ledgers.get("business", []):
        if _settled(row):
            business += _amount(row)
    for row in ledgers.get("cardholder", []):
        if not _settled(row):
            continue
        amount = _amount(row)
        try:
            account = int(row.get("AcctId"))
        except (TypeError, ValueError):
            continue
        cards[account] = cards.get(account, ZERO) + amount
        if _card_funding(row):
            business -= amount  # the other side of the move, which the business ledger does not list
    return business, cards


BUSINESS_OPENING = Decimal("2500.00")  # the demo business account before its first row
CARD_OPENING = Decimal("6000.00")  # each demo card before its first row (the demo's cards spend more than funded)


class Balances:
    """Each account's balance before its first row; today's balances are these plus the settled rows."""

    def __init__(self, business_opening: Decimal = BUSINESS_OPENING, card_opening: Decimal = CARD_OPENING):
        self.business_opening = Decimal(business_opening)
        self.card_opening = Decimal(card_opening)

    def details(self, details: dict, ledgers: dict) -> dict:
        """AccountDetails with today's balances, from the ledgers as they are now."""
        business, cards = movements(ledgers)
        out = copy.deepcopy(details)
        out["BusinessAccountBalance"] = self.business_opening + business
        for holder in out["CHAccountList"]:
            ledger = self.card_opening + cards.get(int(holder["AccountId"]), ZERO)
            holder["LedgerBalance"] = ledger
            holder["AvailableBalance"] = ledger
        return out

    def total_before(self, details: dict, ledgers: dict, day) -> Decimal:
        """The business's funds in PEX (business account and every card) at the end of the day before `day`,
        dating each row by its transaction time."""
        from datetime import datetime

        earlier = {name: [r for r in rows if _settled(r)
                          and datetime.fromisoformat(str(r.get("TransactionTime"))).date() < day]
                   for name, rows in ledgers.items()}
        now = self.details(details, earlier)
        return now["BusinessAccountBalance"] + sum((h["LedgerBalance"] for h in now["CHAccountList"]), ZERO)
