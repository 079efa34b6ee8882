"""What the demo organisation already holds in Xero, so that every preview status shows up in the sandbox.

Written from the demo's PEX rows by the rules below, spelled out by hand for the sandbox setup (what a correct
connector would have written), never by the product's own mapping: so a test's `synced` and `changed` compare the
code under test with an independent answer. A share of the older items is already synced (carrying the `PEX-<id>` marker), a few of those were edited in Xero since (changed), a few
unmarked bank-feed-like lines match PEX amounts (possible duplicates), two marked records have no PEX transaction
(xero only), the period lock date falls inside the range (blocked; what is synced up to it is reconciled in
Xero), and one purchase written to Xero was declined
in PEX since (voided).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from pexxero.models import (
    ReferenceData,
    XeroAccount,
    XeroContact,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from pexxero.clients.pex_rows import parse_tag_definition, parse_transaction
from pexxero.sandbox import demo
from pexxero.setup_toml import from_toml

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


# ------------------------------------------------------------------ what a correct connector wrote, by hand
# The sandbox setup, as plain facts: PEX Cash 091, Source Cash 090, purchase accounts from the EXPENSE TYPE tag
# (an AccountID) else 429, fees on 404 and rebates on 260 with the contact PEX TX FEES, fee tracking PROJECTS =
# Overhead, line descriptions from the ITEM NOTES tag else the PEX description, tracking PROJECTS from the PROJECTS
# tag (an option id), one contact per merchant (PEX's normalized name, else the name up to a store marker), NoTax
# lines, dated by transaction time.
PEX_CASH, SOURCE_CASH, DEFAULT_PURCHASE_ACCOUNT = "091", "090", "429"
FEE_ACCOUNT, REBATE_ACCOUNT, FEE_CONTACT = "404", "260", "PEX TX FEES"
FEE_TRACKING = [{"Name": "PROJECTS", "Option": "Overhead"}]
REBATE_DESCRIPTIONS = ("Rebate Credit", "Rebate Credit Reversal", "Rebate payout")
PEX_LINK = "https://dashboard.pexcard.com/transactions/{}"


@dataclass
class Written:
    """One PEX row as it stands in Xero: the Xero JSON plus what the seed picks by."""
    pex_id: int
    kind: str  # purchase (refunds too), dispute, fee, rebate, transfer
    date: date
    total: Decimal
    record: dict  # a BankTransaction or a BankTransfer in Xero's JSON shape


def _kind(row: dict) -> str | None:
    category = (row["TransactionTypeCategory"] or "").lower()
    if category == "businessrebate" or row["Description"].strip() in REBATE_DESCRIPTIONS:
        return "rebate"
    if category in ("cardaccountfee", "businessaccountfee"):
        return "fee"
    if row["TransactionType"] == "Network":
        return "purchase"
    if row["TransactionType"] == "Transfer" and row["TransactionTypeCategory"] == "Dispute":
        return "dispute"
    if category == "businessfunding":
        return "transfer"
    return None  # card funding: nothing in Xero


def _tag_values(entries) -> dict[int, str]:
    """Tag values by tag id, from ordinary tag entries or a split's Allocation."""
    return {e.get("FieldId", e.get("TagId")): str(e["Value"]).strip() for e in entries}


def _purchase_line(row: dict, tags: dict, amount: Decimal) -> dict | None:
    """A purchase line, or None when its EXPENSE TYPE points at an archived account (the product blocks it)."""
    account = DEFAULT_PURCHASE_ACCOUNT
    if tags.get(demo.EXPENSE_TYPE_TAG_ID):
        chosen = next(a for a in demo.accounts() if a["AccountID"] == tags[demo.EXPENSE_TYPE_TAG_ID])
        if chosen["Status"] == "ARCHIVED":
            return None
        account = chosen["Code"]
    projects = {o["TrackingOptionID"]: o["Name"]
                for c in demo.tracking_categories() if c["Name"] == "PROJECTS" for o in c["Options"]}
    tracking = [{"Name": "PROJECTS", "Option": projects[tags[demo.PROJECTS_TAG_ID]]}] \
        if tags.get(demo.PROJECTS_TAG_ID) else []
    description = tags.get(demo.NOTES_TAG_ID) or row["Description"].strip() or row["MerchantName"].strip()
    return {"Description": description, "Quantity": 1, "UnitAmount": str(amount), "AccountCode": account,
            "Tracking": tracking}


def _merchant_contact(row: dict) -> str:
    return row["MerchantNameNormalized"].strip() or row["MerchantName"].split("*")[0].split("#")[0].strip()


def written_record(row: dict) -> Written | None:
    """The Xero record of one settled PEX row under the sandbox setup (None: nothing is booked for it)."""
    kind = _kind(row)
    if kind is None:
        return None
    amount = Decimal(row["TransactionAmount"])
    total = abs(amount).quantize(Decimal("0.01"))
    when = datetime.fromisoformat(row["TransactionTime"]).date()
    common = {"Date": when.isoformat(), "Reference": f"PEX-{row['TransactionId']}"}
    if kind == "transfer":
        source, pex_cash = {"Code": SOURCE_CASH}, {"Code": PEX_CASH}
        record = {"FromBankAccount": source if amount > 0 else pex_cash,
                  "ToBankAccount": pex_cash if amount > 0 else source, "Amount": str(total), **common}
        return Written(row["TransactionId"], kind, when, total, record)
    if kind == "fee":
        contact = FEE_CONTACT
        lines = [{"Description": row["Description"].strip() or "PEX fee", "Quantity": 1, "UnitAmount": str(total),
                  "AccountCode": FEE_ACCOUNT, "Tracking": FEE_TRACKING}]
    elif kind == "rebate":
        contact = FEE_CONTACT
        lines = [{"Description": row["Description"].strip() or "PEX rebate", "Quantity": 1,
                  "UnitAmount": str(total), "AccountCode": REBATE_ACCOUNT, "Tracking": []}]
    else:
        contact = _merchant_contact(row)
        entries = (row["TransactionTags"] or {}).get("Tags") or []
        splits = [json.loads(e["Value"]) for e in entries if e["FieldId"] == demo.SPLIT_TAG_ID]
        if splits:  # one line per split; the row's own tags are not read
            lines = [_purchase_line(row, _tag_values(s["Allocation"]), Decimal(s["Amount"])) for s in splits]
        else:
            lines = [_purchase_line(row, _tag_values(entries), total)]
        if None in lines:
            return None
    record = {"Type": "SPEND" if amount < 0 else "RECEIVE", "BankAccount": {"Code": PEX_CASH},
              "Contact": {"Name": contact}, **common, "Url": PEX_LINK.format(row["TransactionId"]),
              "LineAmountTypes": "NoTax", "Status": "AUTHORISED", "LineItems": lines}
    return Written(row["TransactionId"], kind, when, total, record)


def _edited(written: Written, *, total_delta: Decimal = Decimal(0), account: str = "") -> dict:
    """The record as someone changed it in Xero since: another amount or another account on its first line."""
    record = json.loads(json.dumps(written.record))
    line = record["LineItems"][0]
    if total_delta:
        line["UnitAmount"] = str(Decimal(line["UnitAmount"]) + total_delta)
    if account:
        line["AccountCode"] = account
    return record


def xero_seed(seed: int = 1, today: date | None = None) -> dict:
    today = today or demo.eastern_today()
    rng = random.Random(f"xero-seed-{seed}")
    start = today - timedelta(days=START_DAYS_BACK)
    ledgers = demo.pex_transactions(seed, today)
    rows = ledgers["cardholder"] + ledgers["business"]
    settled = [r for r in rows if not r["IsDecline"] and not r["IsPending"]]
    planned = sorted((w for w in map(written_record, settled) if w is not None and start <= w.date <= today),
                     key=lambda w: (w.date, w.pex_id))
    lock = today - timedelta(days=LOCK_DAYS_BACK)
    older = [w for w in planned if w.date < today - timedelta(days=30)]
    bank, transfers = [], []
    synced = [w for w in older if w.date <= lock or rng.random() < 0.45]
    # everything up to the lock date is synced except three, which show as blocked
    unsynced_before_lock = [w for w in synced if w.date <= lock and w.kind != "transfer"][-3:]
    synced = [w for w in synced if w not in unsynced_before_lock]
    purchases = [w for w in synced if w.kind == "purchase" and w.date > lock and len(w.record["LineItems"]) == 1]
    edited = {w.pex_id: i for i, w in enumerate(rng.sample(purchases, min(4, len(purchases))))}
    for w in synced:
        if w.kind == "transfer":
            transfers.append(w.record)
        elif w.pex_id in edited:
            # edited in Xero since: two with another amount, two booked to another account
            code = w.record["LineItems"][0]["AccountCode"]
            bank.append(_edited(w, total_delta=Decimal("5.00")) if edited[w.pex_id] < 2
                        else _edited(w, account="453" if code != "453" else "429"))
        elif w.date <= lock:  # a closed period: matched to the bank statement, so Xero refuses to edit or delete it
            bank.append({**w.record, "IsReconciled": True})
        else:
            bank.append(w.record)
    # bank-feed-like lines with no marker, a day after an unsynced purchase of the same amount
    fresh = [w for w in planned if w not in synced and w.kind == "purchase" and w.date > lock
             and w.date < today - timedelta(days=2)]
    for w in rng.sample(fresh, min(5, len(fresh))):
        bank.append({
            "Type": w.record["Type"], "BankAccount": {"Code": PEX_CASH}, "Contact": {"Name": "PEX"},
            "Date": (w.date + timedelta(days=1)).isoformat(), "Reference": "", "LineAmountTypes": "NoTax",
            "Status": "AUTHORISED",
            "LineItems": [{"Description": "Card payment (bank feed)", "Quantity": 1, "UnitAmount": str(w.total),
                           "AccountCode": "429"}],
        })
    # marked records whose PEX transaction is not in the range: listed as `xero only`
    for n, days in enumerate((40, 20)):
        bank.append({
            "Type": "SPEND", "BankAccount": {"Code": PEX_CASH}, "Contact": {"Name": "PEX"},
            "Date": (today - timedelta(days=days)).isoformat(), "Reference": f"PEX-39999990{n}",
            "LineAmountTypes": "NoTax", "Status": "AUTHORISED",
            "LineItems": [{"Description": "Entered by hand with a PEX reference", "Quantity": 1,
                           "UnitAmount": "19.99", "AccountCode": "429"}],
        })
    # a purchase written to Xero before PEX declined it: `voided`, for the user to release for removal
    declined = [r for r in rows if r["IsDecline"] and r["TransactionType"] == "Network"
                and lock < datetime.fromisoformat(r["TransactionTime"]).date() < today - timedelta(days=2)]
    known = {b["Contact"]["Name"] for b in bank}  # a contact Xero holds already: nothing else in the demo moves
    for row in declined:
        written = written_record(row)
        if written is not None and written.record["Contact"]["Name"] in known:
            bank.append(written.record)
            break
    return {"bank_transactions": bank, "bank_transfers": transfers, "period_lock_date": lock.isoformat()}
