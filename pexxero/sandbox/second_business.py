"""The second demo business ("Sandbox Holdings Ltd"), whose PEX data overlaps the first's on purpose.

About half of the first business's settled purchases are bought again here: the same merchant, the same amount,
the same moment, under this business's own cardholders, tag ids and TransactionIds (PEX's ids are unique across
businesses). Its monthly platform fee falls on the first business's days with the same amount. It has merchants
and funding of its own as well. Data that looks alike in both businesses is what proves that nothing of one
connection leaks into the other: an engine that matched by merchant, amount and day across connections would
show it at once.

Deterministic from (seed, today), like the first business; the first business is not changed by anything here.
"""

from __future__ import annotations

import copy
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pexxero.sandbox import demo

CARDHOLDER_TX_BASE = 600_000_000  # far from the first business's 300/400/450 million ranges
BUSINESS_TX_BASE = 650_000_000
AUTH_TX_BASE = 700_000_000
SHARE = 0.5  # the share of the first business's settled purchases bought here too

# (AccountId, FirstName, LastName, last four digits of the card)
CARDHOLDERS = [
    (72001, "Ana", "Costa", "2204"),
    (72002, "Ben", "Hughes", "6615"),
    (72003, "Chloe", "Martin", "8830"),
]
# merchants only this business buys from: (MerchantName, normalized, MCC, city, state, account code, cents low, high)
OWN_MERCHANTS = [
    ("FEDEX OFFICE 1187", "FedEx Office", "7338", "ALPHARETTA", "GA", "461", 1250, 18900),
    ("MSFT *AZURE", "Microsoft", "5734", "REDMOND", "WA", "463", 4200, 31900),
    ("HILTON GARDEN INN", "Hilton", "3504", "SAVANNAH", "GA", "493", 11900, 32900),
]
OWN_PURCHASES = 30


def tag_ids() -> dict[str, str]:
    """The first business's tag ids -> this business's own (tag ids are per business in PEX)."""
    return {t["Id"]: demo.pex_id("second", "tag", t["Name"]) for t in demo.pex_tag_definitions()}


def pex_tag_definitions() -> list[dict]:
    """The same tags as the first business (names, types, dropdown options), under this business's ids."""
    ids = tag_ids()
    definitions = demo.pex_tag_definitions()
    for tag in definitions:
        tag["Id"] = ids[tag["Id"]]
        tag["ConcurrencyKey"] = demo.pex_id("ck", tag["Id"], 0)
    return definitions


def _cardholder(acct: int, first: str, last: str, last4: str) -> dict:
    holder = dict(demo.cardholders()[0])  # the same shape as the first business's
    holder.update(AccountId=acct, FirstName=first, LastName=last, CardNumber4Digits=last4,
                  Email=f"{first.lower()}.{last.lower()}@sandbox-holdings.example", CustomId=f"HLD-{acct % 1000:03d}")
    return holder


def account_details() -> dict:
    details = demo.account_details()
    details.update(
        BusinessAccountId=demo.SECOND_BUSINESS_ACCOUNT_ID, BusinessAccountNumber="0000070002",
        BusinessName=demo.SECOND_BUSINESS_NAME, BusinessAccountBalance=Decimal("9400.00"),
        OpenCardholdersCount=len(CARDHOLDERS), CHAccountList=[_cardholder(*c) for c in CARDHOLDERS],
    )
    details["BankAccountList"] = [dict(details["BankAccountList"][0], ExternalBankAcctId=9002,
                                       BankAccountNumber="****4410")]
    return details


def _shared(row: dict) -> bool:
    """A settled, unsplit purchase in US dollars: the kind of row copied here with the same merchant and amount."""
    return (row["TransactionType"] == "Network" and row["TransactionTypeCategory"] == "Spend"
            and not row["IsPending"] and not row["IsDecline"] and row["SourceAmount"] is None
            and not demo._is_split(row))


def _retagged(tags: dict | None, ids: dict[str, str]) -> dict | None:
    if tags is None:
        return None
    return dict(tags, Tags=[dict(t, FieldId=ids.get(t["FieldId"], t["FieldId"])) for t in tags["Tags"]])


def pex_transactions(seed: int = 1, today: date | None = None) -> dict[str, list[dict]]:
    """Both PEX ledgers of the second business, in the first business's shape (see demo.pex_transactions)."""
    today = today or demo.eastern_today()
    first = demo.pex_transactions(seed, today)
    rng = random.Random(f"pex-demo-second/{seed}")
    ids = tag_ids()
    holders = [acct for acct, *_ in CARDHOLDERS]
    account_id = {a["Code"]: a["AccountID"] for a in demo.accounts()}
    expense_tag = ids[demo.EXPENSE_TYPE_TAG_ID]

    cardholder = []
    for number, row in enumerate(r for r in first["cardholder"] if _shared(r)):
        if rng.random() >= SHARE:
            continue
        twin = copy.deepcopy(row)
        twin.update(AcctId=holders[number % len(holders)], TransactionNotes=[],
                    TransactionTags=_retagged(row["TransactionTags"], ids))
        cardholder.append(twin)

    for _ in range(OWN_PURCHASES):
        name, normalized, mcc, city, state, code, low, high = rng.choice(OWN_MERCHANTS)
        when = datetime.combine(today - timedelta(days=rng.randint(4, demo.DEMO_DAYS)),
                                time(rng.randint(7, 20), rng.randint(0, 59), rng.randint(0, 59)))
        settled = datetime.combine(when.date() + timedelta(days=1), time(rng.randint(4, 5), rng.randint(0, 59)))
        tags = demo._tags([(expense_tag, "EXPENSE TYPE", account_id[code])]) if rng.random() < 0.8 else None
        cardholder.append(demo._pex_row(
            rng.choice(holders), "Network", "Spend", demo._money(-rng.randint(low, high)), when,
            f"{name} {city} {state}", SettlementTime=demo.pex_time(settled), MerchantName=name,
            MerchantNameNormalized=normalized, MCCCode=mcc, MerchantCity=city, MerchantState=state,
            MerchantCountry="USA", MerchantLocalTime=demo.pex_time(when),
            MerchantId=f"MID{demo.hash_name(name) % 10**9:09d}", TransactionTags=tags,
            MetadataApprovalStatus="Approved"))

    demo._number(cardholder, CARDHOLDER_TX_BASE)
    for row in cardholder:
        row["AuthTransactionId"] = AUTH_TX_BASE + row["TransactionId"] - CARDHOLDER_TX_BASE
    return {"cardholder": cardholder, "business": _business_ledger(rng, today, first["business"])}


def _business_ledger(rng: random.Random, today: date, first: list[dict]) -> list[dict]:
    # the platform fee on the same days with the same amount as the first business's
    rows = [dict(copy.deepcopy(r), AcctId=demo.SECOND_BUSINESS_ACCOUNT_ID)
            for r in first if r["Description"] == "PEX Platform Fee"]
    start = today - timedelta(days=demo.DEMO_DAYS)
    for day in range(5, demo.DEMO_DAYS, 21):  # its own ACH funding every three weeks
        when = datetime.combine(start + timedelta(days=day), time(10, rng.randint(0, 59), rng.randint(0, 59)))
        rows.append(demo._pex_row(demo.SECOND_BUSINESS_ACCOUNT_ID, "Transfer", "BusinessFunding",
                                  demo._money(rng.randrange(300000, 900001, 50000)), when,
                                  "ACH Transfer from Business Checking ****4410"))
    demo._number(rows, BUSINESS_TX_BASE)
    return rows
