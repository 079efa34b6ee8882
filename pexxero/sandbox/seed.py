"""What the demo organisation already holds in Xero, so that every preview status shows up in the sandbox.

Built with the product's own mapping of the demo PEX data under the sandbox setup: a share of the older items is
already synced (carrying the `PEX-<id>` marker), a few of those were edited in Xero since (changed), a few
unmarked bank-feed-like lines match PEX amounts (possible duplicates), two marked records have no PEX transaction
(xero only), the period lock date falls inside the range (blocked), and one purchase written to Xero was declined
in PEX since (voided).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from pexxero import mapping
from pexxero.models import (
    PURCHASE,
    ReferenceData,
    XeroAccount,
    XeroContact,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from pexxero.clients.pex_rows import parse_tag_definition, parse_transaction
from pexxero.sandbox import demo
from pexxero.setup import from_toml

START_DAYS_BACK = 90  # the sandbox setup's start date
LOCK_DAYS_BACK = 80  # Xero's period lock date: a few unsynced items before it are blocked


def sandbox_setup(today: date):
    return from_toml(demo.SANDBOX_SETUP_TOML.format(start_date=(today - timedelta(days=START_DAYS_BACK)).isoformat(),
                                                    tenant_id=demo.TENANT_ID))


def reference_data() -> ReferenceData:
    """The demo business's reference data as the gateway and PEX client would return it."""
    return ReferenceData(
        accounts=tuple(
            XeroAccount(account_id=a["AccountID"], code=a["Code"], name=a["Name"], type=a["Type"], status=a["Status"],
                        currency_code=a.get("CurrencyCode", ""), tax_type=a.get("TaxType", ""))
            for a in demo.accounts()
        ),
        contacts=tuple(XeroContact(contact_id=c["ContactID"], name=c["Name"]) for c in demo.contacts()),
        tracking=tuple(
            XeroTrackingCategory(
                category_id=c["TrackingCategoryID"], name=c["Name"], status=c["Status"],
                options=tuple(XeroTrackingOption(option_id=o["TrackingOptionID"], name=o["Name"], status=o["Status"])
                              for o in c["Options"]),
            )
            for c in demo.tracking_categories()
        ),
        tags=tuple(parse_tag_definition(t) for t in demo.pex_tag_definitions()),
    )


def demo_transactions(seed: int, today: date):
    rows = demo.pex_transactions(seed, today)
    return [parse_transaction(r, "cardholder") for r in rows["cardholder"]] + \
        [parse_transaction(r, "business") for r in rows["business"]]


def _bank_transaction(record, *, total_delta: Decimal = Decimal(0), account: str = "") -> dict:
    lines = list(record.lines)
    if total_delta:
        lines[0] = replace(lines[0], amount=lines[0].amount + total_delta)
    return {
        "Type": record.xero_type,
        "BankAccount": {"Code": record.bank_account_code},
        "Contact": {"Name": record.contact_name},
        "Date": record.date.isoformat(),
        "Reference": record.reference,
        "Url": record.url,
        "LineAmountTypes": record.line_amount_types,
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": line.description, "Quantity": 1, "UnitAmount": str(line.amount),
             "AccountCode": account or line.account_code,
             "Tracking": [{"Name": t.category, "Option": t.option} for t in line.tracking]}
            for line in lines
        ],
    }


def xero_seed(seed: int = 1, today: date | None = None) -> dict:
    today = today or demo.eastern_today()
    rng = random.Random(f"xero-seed-{seed}")
    setup = sandbox_setup(today)
    transactions = demo_transactions(seed, today)
    results = mapping.plan(transactions, setup, reference_data(), today=today)
    lock = today - timedelta(days=LOCK_DAYS_BACK)
    planned = sorted((r.planned for r in results if r.planned is not None), key=lambda p: (p.date, p.pex_id))
    older = [p for p in planned if p.date < today - timedelta(days=30)]
    bank, transfers = [], []
    synced = [p for p in older if p.date <= lock or rng.random() < 0.45]
    # everything up to the lock date is synced except three, which show as blocked
    unsynced_before_lock = [p for p in synced if p.date <= lock and p.record_type == "BankTransaction"][-3:]
    synced = [p for p in synced if p not in unsynced_before_lock]
    purchases = [p for p in synced if p.kind == PURCHASE and p.date > lock and len(p.lines) == 1]
    edited = {p.pex_id: i for i, p in enumerate(rng.sample(purchases, min(4, len(purchases))))}
    for p in synced:
        if p.record_type == "BankTransfer":
            transfers.append({"FromBankAccount": {"Code": p.from_account_code},
                              "ToBankAccount": {"Code": p.to_account_code},
                              "Amount": str(p.total), "Date": p.date.isoformat(), "Reference": p.reference})
        elif p.pex_id in edited:
            # edited in Xero since: two with another amount, two booked to another account
            which = edited[p.pex_id]
            bank.append(_bank_transaction(p, total_delta=Decimal("5.00")) if which < 2
                        else _bank_transaction(p, account="453" if p.lines[0].account_code != "453" else "429"))
        else:
            bank.append(_bank_transaction(p))
    # bank-feed-like lines with no marker, a day after an unsynced purchase of the same amount
    fresh = [p for p in planned if p not in synced and p.kind == PURCHASE and p.date > lock
             and p.date < today - timedelta(days=2)]
    for p in rng.sample(fresh, min(5, len(fresh))):
        bank.append({
            "Type": p.xero_type, "BankAccount": {"Code": p.bank_account_code}, "Contact": {"Name": "PEX"},
            "Date": (p.date + timedelta(days=1)).isoformat(), "Reference": "", "LineAmountTypes": "NoTax",
            "Status": "AUTHORISED",
            "LineItems": [{"Description": "Card payment (bank feed)", "Quantity": 1, "UnitAmount": str(p.total),
                           "AccountCode": "429"}],
        })
    # marked records whose PEX transaction is not in the range: listed as `xero only`
    for n, days in enumerate((40, 20)):
        bank.append({
            "Type": "SPEND", "BankAccount": {"Code": "091"}, "Contact": {"Name": "PEX"},
            "Date": (today - timedelta(days=days)).isoformat(), "Reference": f"PEX-39999990{n}",
            "LineAmountTypes": "NoTax", "Status": "AUTHORISED",
            "LineItems": [{"Description": "Entered by hand with a PEX reference", "Quantity": 1,
                           "UnitAmount": "19.99", "AccountCode": "429"}],
        })
    # a purchase written to Xero before PEX declined it: `voided`, for the user to release for removal
    declined = [tx for tx in transactions if tx.is_decline and tx.transaction_type.lower() == "network"
                and lock < tx.transaction_time.date() < today - timedelta(days=2)]
    known = {b["Contact"]["Name"] for b in bank}  # a contact Xero holds already: nothing else in the demo moves
    for tx in declined:
        written = mapping.plan([replace(tx, is_decline=False)], setup, reference_data(), today=today)[0].planned
        if written is not None and written.contact_name in known:
            bank.append(_bank_transaction(written))
            break
    return {"bank_transactions": bank, "bank_transfers": transfers, "period_lock_date": lock.isoformat()}
