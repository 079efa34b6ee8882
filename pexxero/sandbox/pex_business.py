"""One business the PEX double serves: what PEX keeps per business, picked by the API token of each call.

PEX ties a token to one business; the double serves the first demo business under its own token and the second
demo business under `demo.SECOND_PEX_TOKEN`, each with its own ledgers, receipts, tags, details, settings and
per-token rate-limit buckets, so a client holding one token never sees the other business.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date

from pexxero.sandbox import demo
from pexxero.sandbox.pex_balances import Balances


@dataclass
class PexBusiness:
    token: str
    account_id: int  # the business account (admin) id
    name: str
    transactions: dict  # {"cardholder": [...], "business": [...]}
    attachments: dict  # TransactionId -> attachments incl. Content
    tag_definitions: list
    account_details: dict
    tags_enabled: bool = True
    funding_source: str = "Prepaid"
    requests: list = field(default_factory=list)  # (method, path, query) of each call this token made
    calls: dict = field(default_factory=dict)  # rate-limit bucket name -> deque of call times
    balances: Balances = field(default_factory=Balances)  # today's balances follow the ledgers, planted rows too

    def bucket(self, name: str) -> deque:
        return self.calls.setdefault(name, deque())

    def cardholder_ids(self) -> set[int]:
        return {c["AccountId"] for c in self.account_details["CHAccountList"]}

    def row(self, tx_id: int):
        for ledger in self.transactions.values():
            for row in ledger:
                if isinstance(row, dict) and row.get("TransactionId") == tx_id:
                    return row
        return None


def first_business(seed: int, today: date, token: str) -> PexBusiness:
    transactions = demo.pex_transactions(seed, today)
    return PexBusiness(token=token, account_id=demo.BUSINESS_ACCOUNT_ID, name=demo.BUSINESS_NAME,
                       transactions=transactions, attachments=demo.receipts_for(transactions, seed),
                       tag_definitions=demo.pex_tag_definitions(), account_details=demo.account_details())


def second_business(seed: int, today: date) -> PexBusiness:
    from pexxero.sandbox import second_business as second

    transactions = second.pex_transactions(seed, today)
    return PexBusiness(token=demo.SECOND_PEX_TOKEN, account_id=demo.SECOND_BUSINESS_ACCOUNT_ID,
                       name=demo.SECOND_BUSINESS_NAME, transactions=transactions,
                       attachments=demo.receipts_for(transactions, seed),
                       tag_definitions=second.pex_tag_definitions(), account_details=second.account_details())
