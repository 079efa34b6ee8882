"""Mapping: every rule of PEX transaction -> planned Xero record, table-driven, on the demo business's lists."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

import pytest

from pexxero import mapping, models
from pexxero.mapping import classify, plan, standardize_merchant
from pexxero.models import (
    PexTransaction,
    ReferenceData,
    Split,
    TagDefinition,
    TagOption,
    TagValue,
    Tracking,
    XeroAccount,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from pexxero.sandbox import demo
from pexxero.setup import AccountOptions, ContactOptions, FeeOptions, PexOptions, PurchaseOptions, Setup

TODAY = date(2026, 6, 15)


# ------------------------------------------------------------------------------------------- helpers


def demo_reference(required: tuple[str, ...] = ()) -> ReferenceData:
    """The demo business's Xero lists and PEX tags as models; `required` names tags to mark IsRequired."""
    accounts = tuple(
        XeroAccount(a["AccountID"], a["Code"], a["Name"], a["Type"], a["Status"], a.get("CurrencyCode", ""))
        for a in demo.accounts()
    )
    tracking = tuple(
        XeroTrackingCategory(
            c["TrackingCategoryID"], c["Name"], c["Status"],
            tuple(XeroTrackingOption(o["TrackingOptionID"], o["Name"], o["Status"]) for o in c["Options"]),
        )
        for c in demo.tracking_categories()
    )
    tags = tuple(
        TagDefinition(
            t["Id"], t["Name"], t["Type"], t["IsEnabled"], t["IsDeleted"], t["IsRequired"] or t["Name"] in required,
            tuple(TagOption(o["Name"], o["Value"], o["Order"], o["IsEnabled"]) for o in t.get("Options", [])),
        )
        for t in demo.pex_tag_definitions()
    )
    return ReferenceData(accounts=accounts, tracking=tracking, tags=tags)


REF = demo_reference()

# the sandbox setup (demo.SANDBOX_SETUP_TOML) as a value
SETUP = Setup(
    pex=PexOptions(start_date=date(2026, 1, 1)),
    accounts=AccountOptions(
        source_cash="090", pex_cash="091", purchase_account_tag="EXPENSE TYPE", purchase_default_account="429",
        fee_account="404", rebate_account="260",
    ),
    purchases=PurchaseOptions(attachments=True, line_amounts="NoTax", description_tag="ITEM NOTES",
                              tracking={"PROJECTS": "PROJECTS"}),
    contacts=ContactOptions(mode="per_merchant", single_contact="PEX", standardize_merchant_names=True),
    fees=FeeOptions(contact="PEX TX FEES", tracking={"PROJECTS": "Overhead"}),
)


def with_setup(**sections) -> Setup:
    """SETUP with some fields of some sections replaced: with_setup(pex={"fees": False})."""
    return dataclasses.replace(
        SETUP, **{name: dataclasses.replace(getattr(SETUP, name), **fields) for name, fields in sections.items()}
    )


def account_tag(code: str) -> TagValue:
    return TagValue(demo.EXPENSE_TYPE_TAG_ID, "EXPENSE TYPE", demo.xid("account", code))


def project_tag(option: str) -> TagValue:
    return TagValue(demo.PROJECTS_TAG_ID, "PROJECTS", demo.xid("tracking", "PROJECTS", option))


def notes_tag(text: str) -> TagValue:
    return TagValue(demo.NOTES_TAG_ID, "ITEM NOTES", text)


def purchase(**fields) -> PexTransaction:
    base = dict(
        transaction_id=419086499, acct_id=7378, ledger="cardholder", transaction_type="Network", category="Spend",
        amount=Decimal("-15.00"), transaction_time=datetime(2026, 3, 2, 14, 5, 11),
        settlement_time=datetime(2026, 3, 4, 2, 0), description="HOME DEPOT #4421 AUSTIN TX",
        merchant_name="HOME DEPOT #4421", approval_status="Approved", cardholder="Pat Lee",
        tags=(account_tag("453"), project_tag("Alpha Site"), notes_tag("Lumber")),
    )
    base.update(fields)
    return PexTransaction(**base)


def business(category: str, amount: str, description: str = "", **fields) -> PexTransaction:
    base = dict(
        transaction_id=500001, acct_id=demo.BUSINESS_ACCOUNT_ID, ledger="business", transaction_type="Transfer",
        category=category, amount=Decimal(amount), transaction_time=datetime(2026, 3, 5, 9, 0),
        settlement_time=datetime(2026, 3, 5, 9, 0), description=description,
    )
    base.update(fields)
    return PexTransaction(**base)


def card_fee(amount: str = "-2.50", **fields) -> PexTransaction:
    return business("CardAccountFee", amount, "ISA Fee", ledger="cardholder", acct_id=7378, **fields)


def map_one(tx: PexTransaction, setup: Setup = SETUP, ref: ReferenceData = REF, **kw) -> mapping.MappingResult:
    (result,) = plan([tx], setup, ref, today=kw.pop("today", TODAY), **kw)
    return result


def planned(tx: PexTransaction, setup: Setup = SETUP, ref: ReferenceData = REF, *, note: str = "",
            **kw) -> models.PlannedRecord:
    """The planned record; its reason is empty, or holds `note` (a value cut to Xero's limit)."""
    result = map_one(tx, setup, ref, **kw)
    assert result.status is None, result.reason
    assert (note in result.reason) if note else result.reason == "", result.reason
    return result.planned


# ------------------------------------------------------------------------------------------ classify


@pytest.mark.parametrize(
    "ttype, category, description, kind",
    [
        ("Network", "Spend", "HOME DEPOT", models.PURCHASE),
        ("NETWORK", "Spend", "webhook spelling", models.PURCHASE),
        ("Network", "Spend", "Rebate payout", models.PURCHASE),  # the rebate descriptions are business-ledger rows
        ("Transfer", "Dispute", "Dispute credit", models.DISPUTE),
        ("Transfer", "dispute", "the SDK compares Dispute case-sensitively", None),
        ("Transfer", "CardAccountFee", "ISA Fee", models.FEE),
        ("Transfer", "cardaccountfee", "ISA Fee Adjustment", models.FEE),
        ("Transfer", "BusinessAccountFee", "Monthly fee", models.FEE),
        ("Transfer", "BusinessFunding", "ACH deposit", models.TRANSFER),
        ("transfer", "BUSINESSFUNDING", "ACH withdrawal", models.TRANSFER),
        ("Transfer", "BusinessRebate", "Quarterly rebate", models.REBATE),
        ("Transfer", "BusinessFunding", "Rebate Credit", models.REBATE),  # the rebate rule wins over funding
        ("Transfer", "BusinessFunding", "Rebate Credit Reversal", models.REBATE),
        ("Transfer", "Other", "Rebate payout", models.REBATE),
        ("Transfer", "BusinessFunding", "rebate credit", models.TRANSFER),  # descriptions match exactly
        ("Transfer", "CardFunding", "Funds to card", None),
        ("Load", "CardFunding", "Card load", None),
        ("Invalid", "", "", None),
    ],
)
def test_classify_follows_the_pex_rules(ttype, category, description, kind):
    tx = business(category, "-1.00", description, transaction_type=ttype)
    assert classify(tx) == kind


@pytest.mark.parametrize(
    "name, normalized, expected",
    [
        ("Target #0973226", "", "Target"),
        ("HOME DEPOT #4421 AUSTIN TX", "", "HOME DEPOT"),
        ("SHELL OIL 57442898", "", "SHELL OIL"),
        ("DELTA AIR LINES 0062341234567 ATLANTA", "", "DELTA AIR LINES"),
        ("AMZN Mktp US*2K4LL7", "", "AMZN Mktp US"),
        ("7-ELEVEN 35512", "", "7-ELEVEN"),
        ("76 GAS 1234 HOUSTON", "", "76 GAS"),
        ("  Staples   Inc  ", "", "Staples Inc"),
        ("#4421", "", "#4421"),  # nothing left after cleaning: keep what PEX sent
        ("HOME DEPOT #4421", "The Home Depot", "The Home Depot"),  # PEX's normalized name wins
    ],
)
def test_standardize_merchant(name, normalized, expected):
    assert standardize_merchant(name, normalized) == expected


# ------------------------------------------------------------------------------------------- skipped

SKIPPED_CASES = [
    ("card funding", business("CardFunding", "100.00", "Funds to card"), SETUP, mapping.CARD_FUNDING_REASON),
    ("pending", purchase(is_pending=True, settlement_time=None), SETUP, "pending: not settled yet"),
    ("declined", purchase(is_decline=True, settlement_time=None, description="Insufficient funds"), SETUP,
     "declined in PEX: Insufficient funds"),
    ("not approved", purchase(approval_status="NotReviewed"), with_setup(pex={"approved_only": True}),
     "not approved in PEX (NotReviewed): setup step 2 syncs approved purchases only"),
    ("purchases off", purchase(), with_setup(pex={"purchases": False}), "purchases are switched off in setup step 2"),
    ("fees off", card_fee(), with_setup(pex={"fees": False}), "fees are switched off in setup step 2"),
    ("transfers off", business("BusinessFunding", "500.00"), with_setup(pex={"transfers": False}),
     "transfers are switched off in setup step 2"),
    ("rebates off", business("BusinessRebate", "12.00"), with_setup(pex={"rebates": False}),
     "rebates are switched off in setup step 2"),
    ("before start", purchase(), with_setup(pex={"start_date": date(2026, 3, 3)}),
     "dated 2026-03-02, before the start date 2026-03-03 (setup step 2)"),
    ("after end", purchase(), with_setup(pex={"end_date": date(2026, 3, 1)}),
     "dated 2026-03-02, after the end date 2026-03-01"),
    ("after today", purchase(transaction_time=datetime(2026, 6, 16, 0, 1)), SETUP,
     "dated 2026-06-16, after the end date 2026-06-15"),
]


@pytest.mark.parametrize("label, tx, setup, reason", SKIPPED_CASES, ids=[c[0] for c in SKIPPED_CASES])
def test_ineligible_transactions_are_skipped_with_the_reason(label, tx, setup, reason):
    result = map_one(tx, setup)
    assert (result.status, result.reason, result.planned) == (models.SKIPPED, reason, None)


def test_approved_only_compares_the_approval_status_case_insensitively():
    setup = with_setup(pex={"approved_only": True})
    assert map_one(purchase(approval_status="approved"), setup).status is None
    assert map_one(card_fee(approval_status="NotReviewed"), setup).status is None  # fees are not reviewed


@pytest.mark.parametrize(
    "required, tx, reason",
    [
        (("EXPENSE TYPE",), purchase(tags=(project_tag("Alpha Site"),)),
         "required tag EXPENSE TYPE is empty: fill it in PEX"),
        (("PROJECTS",), purchase(tags=(account_tag("453"),)), "required tag PROJECTS is empty: fill it in PEX"),
        (("ITEM NOTES",), purchase(tags=(account_tag("453"), notes_tag("  "))),
         "required tag ITEM NOTES is empty: fill it in PEX"),
        (("PROJECTS",), purchase(splits=(
            Split(Decimal("5.00"), (account_tag("453"), project_tag("Beta Site"))),
            Split(Decimal("10.00"), (account_tag("453"),)),
        )), "required tag PROJECTS is empty on split 2: fill it in PEX"),
    ],
)
def test_a_required_tag_the_mapping_reads_must_be_filled(required, tx, reason):
    result = map_one(tx, ref=demo_reference(required))
    assert (result.status, result.reason) == (models.SKIPPED, reason)


def test_a_required_tag_the_mapping_does_not_read_is_not_checked():
    result = map_one(purchase(), ref=demo_reference(("RECEIPT OK", "FUEL")))
    assert result.status is None


# ------------------------------------------------------------------------------------------- blocked

ARCHIVED_FEE_REF = dataclasses.replace(
    REF, accounts=tuple(dataclasses.replace(a, status="ARCHIVED") if a.code == "404" else a for a in REF.accounts)
)

BLOCKED_CASES = [
    ("tag at archived account", purchase(tags=(account_tag("477"),)), SETUP, REF,
     "EXPENSE TYPE points at account 477 Old Fuel Account, which is archived in Xero: "
     "pick another option or un-archive it"),
    ("tag at unknown account", purchase(tags=(TagValue(demo.EXPENSE_TYPE_TAG_ID, "EXPENSE TYPE", "no-such-id"),)),
     SETUP, REF, "EXPENSE TYPE points at no-such-id, which is not an account in Xero: "
     "pick another option or run tags sync"),
    ("default account missing", purchase(tags=()), with_setup(accounts={"purchase_default_account": ""}), REF,
     "no default purchase account is set: choose one in setup step 4 (accounts.purchase_default_account)"),
    ("default account archived", purchase(tags=()), with_setup(accounts={"purchase_default_account": "477"}), REF,
     "default purchase account 477 Old Fuel Account is archived in Xero: un-archive it or pick another in "
     "setup step 4 (accounts.purchase_default_account)"),
    ("fee account archived", card_fee(), SETUP, ARCHIVED_FEE_REF,
     "fee account 404 Bank Service Charges is archived in Xero: un-archive it or pick another in setup step 4 "
     "(accounts.fee_account)"),
    ("rebate account unknown", business("BusinessRebate", "9.00"), with_setup(accounts={"rebate_account": "999"}),
     REF, "rebate account 999 is not in Xero's chart of accounts: fix setup step 4 (accounts.rebate_account)"),
    ("PEX Cash missing", purchase(), with_setup(accounts={"pex_cash": ""}), REF,
     "no PEX Cash account is set: choose one in setup step 4 (accounts.pex_cash)"),
    ("Source Cash missing", business("BusinessFunding", "500.00"), with_setup(accounts={"source_cash": "111"}), REF,
     "Source Cash account 111 is not in Xero's chart of accounts: fix setup step 4 (accounts.source_cash)"),
    ("unknown tracking option", purchase(tags=(account_tag("453"),
                                               TagValue(demo.PROJECTS_TAG_ID, "PROJECTS", "Gamma Site"))), SETUP, REF,
     "tag PROJECTS gives PROJECTS option Gamma Site, which is not in Xero: pick another option or run tags sync"),
    ("unknown fee tracking", card_fee(), with_setup(fees={"tracking": {"PROJECTS": "Nowhere"}}), REF,
     "setup step 7 (fees.tracking) gives PROJECTS option Nowhere, which is not in Xero: "
     "pick another option or run tags sync"),
    ("unknown tracking category", card_fee(), with_setup(fees={"tracking": {"REGION": "East"}}), REF,
     "tracking category REGION is not active in Xero: fix the tracking mapping in setup step 7 (fees.tracking)"),
    ("no fee contact", card_fee(), with_setup(fees={"contact": ""}), REF,
     "no fee contact is set: choose one in setup step 7 (fees.contact)"),
    ("zero amount", purchase(amount=Decimal("0.00")), SETUP, REF,
     "amount is 0.00: Xero refuses a zero bank transaction; nothing to book unless PEX corrects it"),
    ("sub-cent amount", purchase(amount=Decimal("-15.005")), SETUP, REF,
     "amount -15.005 has more than two decimal places; Xero books cents: check it in PEX"),
    ("splits off", purchase(splits=(Split(Decimal("5.00")), Split(Decimal("9.00")))), SETUP, REF,
     "the splits add up to 14.00 but the transaction is 15.00: fix the split in PEX"),
    ("splits mixed signs", purchase(splits=(Split(Decimal("20.00")), Split(Decimal("-5.00")))), SETUP, REF,
     "the splits mix positive and negative amounts: fix the split in PEX"),
    ("no contact at all", purchase(merchant_name=""), with_setup(contacts={"single_contact": ""}), REF,
     "no merchant name and no single contact: set one in setup step 6 (contacts.single_contact)"),
]


@pytest.mark.parametrize("label, tx, setup, ref, reason", BLOCKED_CASES, ids=[c[0] for c in BLOCKED_CASES])
def test_unmappable_transactions_are_blocked_with_the_fix(label, tx, setup, ref, reason):
    result = map_one(tx, setup, ref)
    assert (result.status, result.reason, result.planned) == (models.BLOCKED, reason, None)
    assert result.kind == classify(tx)


# ----------------------------------------------------------------------------------------- post date


@pytest.mark.parametrize(
    "post_date, transaction_time, settlement_time, expected",
    [
        ("transaction", datetime(2026, 3, 2, 23, 59, 59), datetime(2026, 3, 4, 2, 0), date(2026, 3, 2)),
        ("settlement", datetime(2026, 3, 2, 23, 59, 59), datetime(2026, 3, 4, 2, 0), date(2026, 3, 4)),
        ("settlement", datetime(2026, 3, 2, 23, 59, 59), None, date(2026, 3, 2)),  # falls back
        ("Settlement", datetime(2026, 3, 31, 22, 30), datetime(2026, 3, 31, 23, 45), date(2026, 3, 31)),
        # Eastern wall clock as PEX sends it: 23:30 would already be the next day in UTC, but the date stays
        ("transaction", datetime(2026, 1, 31, 23, 30), None, date(2026, 1, 31)),
    ],
)
def test_the_xero_date_is_the_eastern_calendar_date_of_the_chosen_time(post_date, transaction_time,
                                                                        settlement_time, expected):
    tx = card_fee(transaction_time=transaction_time, settlement_time=settlement_time)
    result = map_one(tx, with_setup(pex={"post_date": post_date}))
    assert result.planned.date == expected
    assert result.post_date == expected


# ------------------------------------------------------------------------------------ purchase lines


def foreign_option_reference() -> ReferenceData:
    """EXPENSE TYPE with an extra option whose Value is not a Xero id but whose Name is an account name."""
    tags = tuple(
        dataclasses.replace(t, options=t.options + (TagOption("Insurance", "legacy-17"),))
        if t.name == "EXPENSE TYPE" else t
        for t in REF.tags
    )
    return dataclasses.replace(REF, tags=tags)


@pytest.mark.parametrize(
    "raw, ref, code",
    [
        (demo.xid("account", "453"), REF, "453"),  # option Value = AccountID (what tags sync writes)
        (demo.xid("account", "453").upper(), REF, "453"),  # ids compare case-insensitively
        ("493", REF, "493"),  # an account code
        ("legacy-17", foreign_option_reference(), "433"),  # option Name = account name
        ("Motor Vehicle Expenses", REF, "449"),  # an account name typed as the value
        ("", REF, "429"),  # empty: the default account
    ],
)
def test_the_purchase_account_comes_from_the_tag_or_the_default(raw, ref, code):
    tags = (TagValue(demo.EXPENSE_TYPE_TAG_ID, "EXPENSE TYPE", raw),) if raw else ()
    assert planned(purchase(tags=tags), ref=ref).lines[0].account_code == code


def test_tags_match_on_the_definition_id_even_when_renamed_on_the_transaction():
    tx = purchase(tags=(TagValue(demo.EXPENSE_TYPE_TAG_ID, "old name", demo.xid("account", "463")),))
    assert planned(tx).lines[0].account_code == "463"


@pytest.mark.parametrize(
    "tags, description, merchant, setup, expected",
    [
        ((notes_tag("Lumber"),), "HOME DEPOT #4421", "HOME DEPOT", SETUP, "Lumber"),
        ((), "HOME DEPOT #4421 AUSTIN TX", "HOME DEPOT", SETUP, "HOME DEPOT #4421 AUSTIN TX"),
        ((notes_tag("Lumber"),), "PEX text", "M", with_setup(purchases={"description_tag": ""}), "PEX text"),
        ((), "", "HOME DEPOT #4421", SETUP, "HOME DEPOT #4421"),
    ],
)
def test_the_line_description(tags, description, merchant, setup, expected):
    tx = purchase(tags=tags, description=description, merchant_name=merchant)
    assert planned(tx, setup).lines[0].description == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (demo.xid("tracking", "PROJECTS", "Beta Site"), (Tracking("PROJECTS", "Beta Site"),)),
        ("Overhead", (Tracking("PROJECTS", "Overhead"),)),  # an option name works too
        ("", ()),  # empty and not required: no tracking
    ],
)
def test_purchase_tracking_comes_from_the_mapped_tag(value, expected):
    tags = (account_tag("453"), TagValue(demo.PROJECTS_TAG_ID, "PROJECTS", value))
    assert planned(purchase(tags=tags)).lines[0].tracking == expected


def test_each_split_becomes_a_line_with_its_own_account_tracking_and_description():
    tx = purchase(
        amount=Decimal("-1.01"),
        tags=(account_tag("420"),),  # ordinary tags of a split row are ignored
        splits=(
            # allocation entries carry only the tag definition id (TagId): names resolve through ref.tags
            Split(Decimal("0.50"), (TagValue(demo.EXPENSE_TYPE_TAG_ID, "", demo.xid("account", "453")),
                                    TagValue(demo.PROJECTS_TAG_ID, "", demo.xid("tracking", "PROJECTS", "Alpha Site")),
                                    TagValue(demo.NOTES_TAG_ID, "", "Paper"))),
            Split(Decimal("0.51"), (TagValue(demo.EXPENSE_TYPE_TAG_ID, "", demo.xid("account", "449")),
                                    TagValue(demo.PROJECTS_TAG_ID, "", demo.xid("tracking", "PROJECTS", "Beta Site")))),
        ),
    )
    record = planned(tx)
    assert record.total == Decimal("1.01") and record.xero_type == "SPEND"
    assert [(l.amount, l.account_code, l.tracking, l.description) for l in record.lines] == [
        (Decimal("0.50"), "453", (Tracking("PROJECTS", "Alpha Site"),), "Paper"),
        (Decimal("0.51"), "449", (Tracking("PROJECTS", "Beta Site"),), "HOME DEPOT #4421 AUSTIN TX"),
    ]


@pytest.mark.parametrize(
    "amount, splits, lines",
    [
        ("-100.00", ["33.333", "33.333", "33.334"], ["33.33", "33.33", "33.34"]),  # the last takes the remainder
        ("-10.00", ["3.335", "3.335", "3.33"], ["3.34", "3.34", "3.32"]),
        ("-10.00", ["-4.00", "-6.00"], ["4.00", "6.00"]),  # a signed copy of the splits is accepted
        ("25.00", ["20.00", "5.00"], ["20.00", "5.00"]),  # a split refund
        ("-0.01", ["0.005", "0.005"], ["0.00", "0.01"]),
    ],
)
def test_split_lines_add_up_to_the_transaction_to_the_cent(amount, splits, lines):
    tx = purchase(amount=Decimal(amount), splits=tuple(Split(Decimal(s)) for s in splits))
    record = planned(tx)
    assert [line.amount for line in record.lines] == [Decimal(x) for x in lines]
    assert sum(line.amount for line in record.lines) == record.total == abs(Decimal(amount))
    assert all(line.amount.as_tuple().exponent == -2 for line in record.lines)


# ------------------------------------------------------------------------------------------ contacts


@pytest.mark.parametrize(
    "contacts, merchant, normalized, expected",
    [
        ({"mode": "single"}, "HOME DEPOT #4421", "", "PEX"),
        ({}, "HOME DEPOT #4421", "", "HOME DEPOT"),
        ({"standardize_merchant_names": False}, "HOME DEPOT #4421", "", "HOME DEPOT #4421"),
        ({}, "HOME DEPOT #4421", "The Home Depot", "The Home Depot"),
        ({}, "", "", "PEX"),  # no merchant at all: the single contact
        ({"standardize_merchant_names": False}, "A" * 300, "", "A" * 255),  # Xero's limit on contact names
    ],
)
def test_the_purchase_contact(contacts, merchant, normalized, expected):
    tx = purchase(merchant_name=merchant, merchant_name_normalized=normalized)
    note = "the contact name was cut from 300 to 255 characters" if len(merchant) > 255 else ""
    assert planned(tx, with_setup(contacts=contacts), note=note).contact_name == expected


def test_a_description_longer_than_xero_takes_is_cut_to_4000_characters_with_a_note():
    record = planned(purchase(tags=(notes_tag("N" * 100_000),)),
                     note="the description was cut from 100,000 to 4,000 characters (Xero's limit)")
    assert [line.description for line in record.lines] == ["N" * 4000]
    fee = planned(dataclasses.replace(purchase(description="F" * 4001), transaction_type="Fee",
                                      category="CardAccountFee"),
                  note="cut from 4,001 to 4,000")
    assert fee.kind == models.FEE and fee.lines[0].description == "F" * 4000
    exact = planned(purchase(tags=(notes_tag("E" * 4000),)))  # at the limit: untouched, no note
    assert exact.lines[0].description == "E" * 4000


# ------------------------------------------------------------------------------------ record by kind


def test_a_purchase_is_a_spend_on_pex_cash_with_its_marker_and_link():
    record = planned(purchase(), pex_link=lambda tx: f"https://example.test/tx/{tx.transaction_id}")
    assert dataclasses.asdict(record) == dataclasses.asdict(models.PlannedRecord(
        pex_id=419086499, kind=models.PURCHASE, record_type="BankTransaction", date=date(2026, 3, 2),
        total=Decimal("15.00"), reference="PEX-419086499", url="https://example.test/tx/419086499",
        xero_type="SPEND", bank_account_code="091", contact_name="HOME DEPOT", line_amount_types="NoTax",
        lines=(models.Line("Lumber", Decimal("15.00"), "453", (Tracking("PROJECTS", "Alpha Site"),)),),
        wants_attachments=True,
    ))


def test_the_default_link_points_at_the_pex_dashboard():
    result = map_one(purchase())
    assert result.planned.url == result.link == "https://dashboard.pexcard.com/transactions/419086499"
    skipped = map_one(purchase(is_pending=True))
    assert skipped.link == "https://dashboard.pexcard.com/transactions/419086499"


@pytest.mark.parametrize(
    "tx, setup, kind, xero_type, account, contact, tracking, line_amounts, attachments",
    [
        (purchase(amount=Decimal("12.00")), SETUP, models.PURCHASE, "RECEIVE", "453", "HOME DEPOT",
         (Tracking("PROJECTS", "Alpha Site"),), "NoTax", True),  # a refund
        (purchase(), with_setup(purchases={"line_amounts": "Inclusive", "attachments": False}), models.PURCHASE,
         "SPEND", "453", "HOME DEPOT", (Tracking("PROJECTS", "Alpha Site"),), "Inclusive", False),
        (purchase(transaction_type="Transfer", category="Dispute", amount=Decimal("15.00")), SETUP, models.DISPUTE,
         "RECEIVE", "453", "HOME DEPOT", (Tracking("PROJECTS", "Alpha Site"),), "NoTax", True),
        (card_fee(), with_setup(purchases={"line_amounts": "Inclusive"}), models.FEE, "SPEND", "404", "PEX TX FEES",
         (Tracking("PROJECTS", "Overhead"),), "NoTax", False),
        (business("BusinessAccountFee", "-30.00", "Monthly fee"), SETUP, models.FEE, "SPEND", "404", "PEX TX FEES",
         (Tracking("PROJECTS", "Overhead"),), "NoTax", False),
        (card_fee("2.50"), SETUP, models.FEE, "RECEIVE", "404", "PEX TX FEES",  # a fee reversal
         (Tracking("PROJECTS", "Overhead"),), "NoTax", False),
        (business("BusinessRebate", "42.10", "Rebate payout"), SETUP, models.REBATE, "RECEIVE", "260", "PEX TX FEES",
         (), "NoTax", False),
        (business("BusinessFunding", "-42.10", "Rebate Credit Reversal"), SETUP, models.REBATE, "SPEND", "260",
         "PEX TX FEES", (), "NoTax", False),
    ],
)
def test_bank_transactions_by_kind(tx, setup, kind, xero_type, account, contact, tracking, line_amounts,
                                   attachments):
    record = planned(tx, setup)
    assert (record.kind, record.record_type, record.xero_type, record.bank_account_code) == (
        kind, "BankTransaction", xero_type, "091")
    assert [line.account_code for line in record.lines] == [account]
    assert (record.contact_name, record.lines[0].tracking) == (contact, tracking)
    assert (record.line_amount_types, record.wants_attachments) == (line_amounts, attachments)
    assert record.total == abs(tx.amount) > 0 and record.lines[0].amount == record.total
    assert record.reference == f"PEX-{tx.transaction_id}"


@pytest.mark.parametrize("amount, source, target", [("500.00", "090", "091"), ("-75.25", "091", "090")])
def test_funding_is_a_bank_transfer_between_source_cash_and_pex_cash(amount, source, target):
    record = planned(business("BusinessFunding", amount, "ACH"))
    assert (record.record_type, record.from_account_code, record.to_account_code) == ("BankTransfer", source, target)
    assert (record.total, record.lines, record.contact_name) == (abs(Decimal(amount)), (), "")
    assert (record.kind, record.reference, record.wants_attachments) == (models.TRANSFER, "PEX-500001", False)


def test_amounts_without_cents_are_planned_to_the_cent():
    record = planned(purchase(amount=Decimal("-15"), tags=()))
    assert str(record.total) == str(record.lines[0].amount) == "15.00"


def test_plan_returns_one_result_per_transaction_in_order():
    txs = [purchase(transaction_id=i, amount=Decimal(f"-{i}.00")) for i in range(1, 6)]
    txs.append(purchase(transaction_id=99, is_pending=True))
    results = plan(txs, SETUP, REF, today=TODAY)
    assert [r.transaction.transaction_id for r in results] == [1, 2, 3, 4, 5, 99]
    assert [r.status for r in results] == [None] * 5 + [models.SKIPPED]
    assert all(isinstance(r.planned.total, Decimal) for r in results[:5])


def test_only_a_declined_transaction_is_flagged_as_voided():
    declined = map_one(purchase(is_decline=True, settlement_time=None, description="Insufficient funds"))
    assert (declined.status, declined.voided) == (models.SKIPPED, True)
    pending = map_one(purchase(is_pending=True, settlement_time=None))
    assert (pending.status, pending.voided) == (models.SKIPPED, False)
    assert map_one(purchase()).voided is False
