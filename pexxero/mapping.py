"""PEX transaction -> planned Xero record (pure: everything comes in as arguments, nothing is fetched).

Each transaction gets exactly one MappingResult: a PlannedRecord, or SKIPPED (not eligible) or BLOCKED (cannot be
mapped as the setup stands) with a reason a bookkeeper can act on. Classification follows the rules PEX's own SDK
and its Aplos connector use; tag values resolve to Xero entities the way the SDK's FindMatchingEntity does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Callable, Iterable, Optional

from . import models
from .models import Line, PexTransaction, PlannedRecord, ReferenceData, Tracking
from .mapping_lookup import Blocked, Lookup
from .setup import Setup

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("10000000000")  # ten billion: no card transaction comes near; beyond it, PEX sent nonsense
CONTACT_NAME_LIMIT = 255  # Xero's maximum length of a contact name
DESCRIPTION_LIMIT = 4000  # Xero's maximum length of a line description
REFERENCE_LIMIT = 255  # Xero's maximum length of a bank transaction's or transfer's Reference
REBATE_DESCRIPTIONS = frozenset({"Rebate Credit", "Rebate Credit Reversal", "Rebate payout"})
CARD_FUNDING_REASON = "card funding moves money inside PEX; nothing to book"
# Card funding categories we have seen (PEX does not enumerate its categories); any other Transfer/Load
# category is still skipped, but its reason names the category so it can be reported
FUNDING_CATEGORIES = frozenset({"cardfunding", ""})

# which setup step 2 switch governs a kind, and how the reason names it
KIND_SWITCH = {
    models.PURCHASE: ("purchases", "purchases"),
    models.DISPUTE: ("purchases", "purchases (dispute credits)"),
    models.FEE: ("fees", "fees"),
    models.TRANSFER: ("transfers", "transfers"),
    models.REBATE: ("rebates", "rebates"),
}


@dataclass(frozen=True)
class MappingResult:
    transaction: PexTransaction
    kind: Optional[str]  # models.PURCHASE / DISPUTE / FEE / TRANSFER / REBATE; None when not a kind we sync
    planned: Optional[PlannedRecord]
    status: Optional[str]  # models.SKIPPED or models.BLOCKED when not plannable, else None
    reason: str  # always a human reason; when planned, "" or a note (a description cut to Xero's limit)
    post_date: Optional[date] = None  # the Xero date it would carry (also for skipped rows, for the preview)
    link: str = ""  # back to the transaction in PEX
    voided: bool = False  # skipped because PEX declined, reversed or voided it (a Xero record of it is `voided`)


def default_link(tx: PexTransaction) -> str:
    return f"https://dashboard.pexcard.com/transactions/{tx.transaction_id}"


# --------------------------------------------------------------------------------------- classification


def classify(tx: PexTransaction) -> Optional[str]:
    """The kind of a PEX row (from its TransactionType, Category and Description), or None for rows we never book (card funding and the rest)."""
    ttype = tx.transaction_type.strip().lower()
    category = tx.category.strip()
    folded = category.lower()
    if folded == "businessrebate":
        return models.REBATE
    if folded in ("cardaccountfee", "businessaccountfee"):
        return models.FEE
    if ttype == "network":
        return models.PURCHASE
    if ttype == "transfer" and category == "Dispute":  # the SDK compares this one case-sensitively
        return models.DISPUTE
    if tx.description.strip() in REBATE_DESCRIPTIONS:  # before funding: Aplos drops rebates from transfers
        return models.REBATE
    if folded == "businessfunding":
        return models.TRANSFER
    return None


def shown_kind(tx: PexTransaction) -> str:
    """The Kind the preview shows for a row `classify` gives none: card funding (a transfer or load), or other."""
    return models.CARD_FUNDING if tx.transaction_type.strip().lower() in ("transfer", "load") else models.OTHER_KIND


_STORE_SUFFIX = re.compile(r"\s*[#*].*$")  # "Target #0973226", "AMZN Mktp US*2K4LL"
_STORE_NUMBER = re.compile(r"\s+\d{3,}(\s.*)?$")  # "DELTA AIR 0062341234567 ATLANTA": number and location
_TRAILING_CODE = re.compile(r"(\s+\S*\d\S*)+$")  # "SHELL OIL 5744-2898", "WALMART ST0412"


def standardize_merchant(name: str, normalized: str = "") -> str:
    """A merchant name without store numbers: "Target #0973226" -> "Target". PEX's own normalized name wins."""
    if normalized.strip():
        return " ".join(normalized.split())
    cleaned = _STORE_SUFFIX.sub("", name)
    cleaned = _STORE_NUMBER.sub("", cleaned)
    cleaned = _TRAILING_CODE.sub("", cleaned)
    cleaned = " ".join(cleaned.split()).strip(" -,.:;")
    return cleaned or " ".join(name.split())


# ------------------------------------------------------------------------------------------- the plan


def post_date(tx: PexTransaction, setup: Setup) -> date:
    """The Eastern calendar date of the chosen post time (PEX times are naive Eastern: no shift through UTC)."""
    when = tx.transaction_time
    if setup.pex.post_date.strip().lower() == "settlement" and tx.settlement_time is not None:
        when = tx.settlement_time
    return when.date()


def plan(
    transactions: Iterable[PexTransaction],
    setup: Setup,
    ref: ReferenceData,
    *,
    today: date,
    pex_link: Callable[[PexTransaction], str] = default_link,
) -> list[MappingResult]:
    """One MappingResult per transaction, in the order given."""
    lookup = Lookup(ref)
    return [_map_one(tx, setup, lookup, today, pex_link) for tx in transactions]


def _map_one(tx, setup: Setup, lookup: Lookup, today: date, pex_link) -> MappingResult:
    kind = classify(tx)
    when = post_date(tx, setup)
    link = pex_link(tx)

    def result(status, reason, planned=None):
        voided = status == models.SKIPPED and kind is not None and tx.is_decline
        return MappingResult(tx, kind, planned, status, reason, when, link, voided)

    if tx.problem:  # before any skip rule: those would read the very fields that could not be read
        return result(models.BLOCKED, f"PEX sent data that cannot be read ({tx.problem}): nothing is booked "
                                      "until it is corrected in PEX")
    skip = _skip_reason(tx, kind, when, setup, lookup, today)
    if skip:
        return result(models.SKIPPED, skip)
    try:
        planned, notes = _fit_to_xero(_planned(tx, kind, when, setup, lookup, link))
        return result(None, "; ".join(notes), planned)
    except Blocked as blocked:
        return result(models.BLOCKED, str(blocked))


def _fit_to_xero(planned: PlannedRecord) -> tuple[PlannedRecord, list[str]]:
    """Xero's field lengths, checked before anything is sent: a description or a merchant name that is too long
    is cut (with a note for the item's reason); anything else too long blocks the item, naming the field."""
    from dataclasses import replace

    notes = []
    if len(planned.reference) > REFERENCE_LIMIT:
        raise Blocked(f"Reference is {len(planned.reference):,} characters; Xero takes at most {REFERENCE_LIMIT}")
    lines = []
    for number, line in enumerate(planned.lines, start=1):
        if len(line.description) > DESCRIPTION_LIMIT:
            where = f" of line {number}" if len(planned.lines) > 1 else ""
            notes.append(f"the description{where} was cut from {len(line.description):,} to {DESCRIPTION_LIMIT:,} "
                         "characters (Xero's limit)")
            line = replace(line, description=line.description[:DESCRIPTION_LIMIT])
        lines.append(line)
    contact = planned.contact_name
    if len(contact) > CONTACT_NAME_LIMIT:
        notes.append(f"the contact name was cut from {len(contact):,} to {CONTACT_NAME_LIMIT} characters (Xero's "
                     "limit)")
        contact = contact[:CONTACT_NAME_LIMIT].strip()
    if notes:
        planned = replace(planned, lines=tuple(lines), contact_name=contact)
    return planned, notes


def _skip_reason(tx, kind, when: date, setup: Setup, lookup: Lookup, today: date) -> str:
    """Why the transaction is not eligible ("" when it is)."""
    if kind is None:
        if tx.transaction_type.strip().lower() in ("transfer", "load"):
            if tx.category.strip().lower() in FUNDING_CATEGORIES:
                return CARD_FUNDING_REASON
            # a category PEX added since: name it, so a bookkeeper can tell us it should be booked
            return f"{tx.transaction_type} of unknown category {tx.category or '(none)'}: treated as card " \
                   "funding, nothing to book"
        return f"not a purchase, fee, transfer or rebate ({tx.transaction_type} {tx.category}): nothing to book"
    if tx.is_decline:
        return f"declined in PEX: {tx.description.strip() or 'no reason given'}"
    if tx.is_pending:
        return "pending: not settled yet"
    switch, label = KIND_SWITCH[kind]
    if not getattr(setup.pex, switch):
        return f"{label} are switched off in setup step 2"
    approval = tx.approval_status.strip()
    if kind in (models.PURCHASE, models.DISPUTE) and setup.pex.approved_only and approval.lower() != "approved":
        return f"not approved in PEX ({approval or 'no status'}): setup step 2 syncs approved purchases only"
    start, end = setup.pex.start_date, setup.pex.end_date or today
    if start and when < start:
        return f"dated {when}, before the start date {start} (setup step 2)"
    if when > end:
        return f"dated {when}, after the end date {end}"
    if kind in (models.PURCHASE, models.DISPUTE):
        return _missing_required_tag(tx, setup, lookup)
    return ""


def _missing_required_tag(tx, setup: Setup, lookup: Lookup) -> str:
    required = lookup.required_tags((setup.accounts.purchase_account_tag, setup.purchases.description_tag,
                                     *setup.purchases.tracking.values()))
    if not required:
        return ""
    tag_sets = [s.tags for s in tx.splits] if tx.splits else [tx.tags]
    for name in required:
        for number, tags in enumerate(tag_sets, start=1):
            if not lookup.tag_value(tags, name):
                where = f" on split {number}" if tx.splits else ""
                return f"required tag {name} is empty{where}: fill it in PEX"
    return ""


def _planned(tx, kind, when: date, setup: Setup, lookup: Lookup, link: str) -> PlannedRecord:
    amount = tx.amount
    if abs(amount) >= MAX_AMOUNT:  # also keeps quantize below within Decimal's precision
        raise Blocked(f"amount {amount} is beyond any card transaction ({MAX_AMOUNT:,} or more): check it in PEX")
    if amount != amount.quantize(CENT):
        raise Blocked(f"amount {amount} has more than two decimal places; Xero books cents: check it in PEX")
    if amount == 0:
        raise Blocked("amount is 0.00: Xero refuses a zero bank transaction; nothing to book unless PEX corrects it")
    total = abs(amount).quantize(CENT)  # "15" and "15.00" both become 15.00
    common = dict(pex_id=tx.transaction_id, kind=kind, date=when, total=total,
                  reference=models.marker(tx.transaction_id), url=link)
    accounts = setup.accounts
    if kind == models.TRANSFER:
        source = lookup.usable_account(accounts.source_cash, "Source Cash", "accounts.source_cash").code
        pex_cash = lookup.usable_account(accounts.pex_cash, "PEX Cash", "accounts.pex_cash").code
        from_code, to_code = (source, pex_cash) if amount > 0 else (pex_cash, source)
        return PlannedRecord(**common, record_type="BankTransfer", from_account_code=from_code, to_account_code=to_code)

    pex_cash = lookup.usable_account(accounts.pex_cash, "PEX Cash", "accounts.pex_cash").code
    xero_type = "SPEND" if amount < 0 else "RECEIVE"
    bank = dict(common, record_type="BankTransaction", xero_type=xero_type, bank_account_code=pex_cash)
    if kind == models.FEE:
        account = lookup.usable_account(accounts.fee_account, "fee", "accounts.fee_account").code
        tracking = _fee_tracking(setup, lookup)
        line = Line(tx.description.strip() or "PEX fee", total, account, tracking)
        return PlannedRecord(**bank, contact_name=_fee_contact(setup), lines=(line,))
    if kind == models.REBATE:
        account = lookup.usable_account(accounts.rebate_account, "rebate", "accounts.rebate_account").code
        line = Line(tx.description.strip() or "PEX rebate", total, account)
        return PlannedRecord(**bank, contact_name=_fee_contact(setup), lines=(line,))
    # purchases and dispute credits
    lines = _purchase_lines(tx, total, setup, lookup)
    return PlannedRecord(
        **bank,
        contact_name=_purchase_contact(tx, setup),
        line_amount_types=setup.purchases.line_amounts or "NoTax",
        lines=lines,
        wants_attachments=bool(setup.purchases.attachments),
    )


def _fee_contact(setup: Setup) -> str:
    name = setup.fees.contact.strip()
    if not name:
        raise Blocked("no fee contact is set: choose one in setup step 7 (fees.contact)")
    return name[:CONTACT_NAME_LIMIT]


def _fee_tracking(setup: Setup, lookup: Lookup) -> tuple[Tracking, ...]:
    return tuple(
        lookup.tracking(category, option, "setup step 7 (fees.tracking)")
        for category, option in setup.fees.tracking.items()
        if option.strip()
    )


def _purchase_contact(tx: PexTransaction, setup: Setup) -> str:
    contacts = setup.contacts
    name = contacts.single_contact.strip() if contacts.mode.strip().lower() == "single" else ""
    if not name:
        merchant = tx.merchant_name.strip() or tx.merchant_name_normalized.strip()
        if merchant and contacts.standardize_merchant_names:
            merchant = standardize_merchant(tx.merchant_name, tx.merchant_name_normalized)
        name = merchant or contacts.single_contact.strip()  # no merchant at all: the fixed contact, if any
    if not name:
        raise Blocked("no merchant name and no single contact: set one in setup step 6 (contacts.single_contact)")
    return name  # cut to Xero's limit, with a note, by _fit_to_xero


def _purchase_lines(tx: PexTransaction, total: Decimal, setup: Setup, lookup: Lookup) -> tuple[Line, ...]:
    if not tx.splits:
        return (_purchase_line(tx, tx.tags, total, setup, lookup),)
    amounts = _split_amounts(tx, total)
    return tuple(_purchase_line(tx, split.tags, amount, setup, lookup) for split, amount in zip(tx.splits, amounts))


def _split_amounts(tx: PexTransaction, total: Decimal) -> list[Decimal]:
    """Each split to the cent, the last one taking the rounding remainder so the lines add up to `total`."""
    raw = [s.amount for s in tx.splits]
    if all(a <= 0 for a in raw):  # splits are unsigned in PEX; tolerate a signed copy
        raw = [-a for a in raw]
    if any(a < 0 for a in raw):
        raise Blocked("the splits mix positive and negative amounts: fix the split in PEX")
    if sum(raw).quantize(CENT, ROUND_HALF_UP) != total:
        raise Blocked(f"the splits add up to {sum(raw)} but the transaction is {total}: fix the split in PEX")
    head = [a.quantize(CENT, ROUND_HALF_EVEN) for a in raw[:-1]]
    last = total - sum(head, Decimal("0"))
    if last < 0:
        raise Blocked("the splits cannot be rounded to cents without a negative line: fix the split in PEX")
    return head + [last]


def _purchase_line(tx, tags, amount: Decimal, setup: Setup, lookup: Lookup) -> Line:
    tag_name = setup.accounts.purchase_account_tag
    raw = lookup.tag_value(tags, tag_name) if tag_name else ""
    if raw:
        account = lookup.account_from_tag(tag_name, raw)
    else:
        account = lookup.usable_account(
            setup.accounts.purchase_default_account, "default purchase", "accounts.purchase_default_account"
        )
    description_tag = setup.purchases.description_tag
    description = (lookup.tag_value(tags, description_tag) if description_tag else "") or tx.description.strip()
    description = description or tx.merchant_name.strip()
    tracking = []
    for category, pex_tag in setup.purchases.tracking.items():
        value = lookup.tag_value(tags, pex_tag)
        if value:
            tracking.append(lookup.tracking(category, value, f"tag {pex_tag}", tag_name=pex_tag))
    return Line(description, amount, account.code, tuple(tracking))
