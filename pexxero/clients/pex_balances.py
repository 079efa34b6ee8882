"""PEX's balances now: the business account's balance and each card's ledger balance, from one read of
`GET /Details/AccountDetails` (PEX allows about ten an hour, so it is read once a tie-out)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pexxero.clients.pex_rows import PexError, _get


@dataclass(frozen=True)
class PexBalances:
    """What PEX holds now. The ledger balance leaves pending authorisations out, as the settled ledger does."""

    business: Decimal
    cards: tuple[tuple[int, Decimal], ...] = ()  # (AccountId, LedgerBalance), every card, open or closed

    @property
    def total(self) -> Decimal:
        """The business's funds in PEX: the business account plus every card's ledger balance."""
        return self.business + sum((balance for _, balance in self.cards), Decimal("0.00"))


def _amount(value, what: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise PexError(None, f"PEX sent no {what} in AccountDetails")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PexError(None, f"PEX sent {str(value)[:40]!r} as the {what} in AccountDetails") from None


def parse_balances(data) -> PexBalances:
    if not isinstance(data, dict):
        raise PexError(None, "PEX answered AccountDetails in a shape it does not have")
    cards = []
    for holder in _get(data, "CHAccountList") or []:
        account = _get(holder, "AccountId")
        cards.append((int(account), _amount(_get(holder, "LedgerBalance"), f"ledger balance of card account {account}")))
    return PexBalances(business=_amount(_get(data, "BusinessAccountBalance"), "business account balance"),
                       cards=tuple(cards))
