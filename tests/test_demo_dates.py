"""The sandbox's demo business is generated relative to today; the tests that run on it must pass on every date.

Three things are checked here:

- the generated PEX ledgers have, on every day of 2026 and of a leap-year span, every kind of row the other tests
  use (purchases, fees, funding transfers, rebates, receipts, a merchant new to Xero, ...), with no time that a
  change of daylight saving time skips or repeats;
- the preview of that data against the seeded Xero organisation (the product's own mapping and reconciliation, in
  memory) has every status and every kind of new record a sync test relies on: a contact to create, a transfer, a
  fee, a rebate, a receipt to attach;
- the whole sandbox sync, with "today" pinned to awkward dates (1 January, 29 February, 31 December, the days US
  Eastern time changes, month ends), writes exactly one Xero record per eligible PEX transaction and attaches
  each receipt once, and the in-memory preview above agrees with the real one row by row.

The whole year runs in the slow suite; the fast suite takes a sample spread over it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from pexxero import mapping, reconcile
from pexxero import models
from pexxero.models import (
    BLOCKED,
    CHANGED,
    DISPUTE,
    FEE,
    NEW,
    POSSIBLE_DUPLICATE,
    PURCHASE,
    REBATE,
    STATUSES,
    SYNCED,
    TRANSFER,
    Line,
    Tracking,
    XeroBankTransaction,
    XeroBankTransfer,
)
from pexxero.clients.pex_rows import EASTERN, parse_transaction
from pexxero.sandbox import demo, seed
from pexxero.sync import run_sync
from sandbox_env import open_sandbox


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


EVERY_DAY = _days(date(2026, 1, 1), date(2026, 12, 31)) + _days(date(2027, 12, 1), date(2028, 3, 31))
AWKWARD = {
    date(2026, 1, 1): "new-year",
    date(2028, 2, 29): "leap-day",
    date(2026, 12, 31): "year-end",
    date(2026, 3, 8): "eastern-springs-forward",
    date(2026, 11, 1): "eastern-falls-back",
    date(2026, 4, 30): "month-end",
    date(2027, 2, 28): "month-end-no-leap-day",
}
SAMPLE = sorted(set(EVERY_DAY[::23]) | set(AWKWARD))
# every day, in quarters so that a parallel test run spreads them over its workers
QUARTERS = [EVERY_DAY[n:n + 92] for n in range(0, len(EVERY_DAY), 92)]
DAYS = [pytest.param(SAMPLE, id="sample")] + [
    pytest.param(days, id=f"every-day-from-{days[0]}", marks=pytest.mark.slow) for days in QUARTERS
]
# a whole sandbox sync each: three in the fast suite, the rest with the slow ones
SYNC_DAYS = [pytest.param(day, id=f"{day}-{name}",
                          marks=() if day in (date(2026, 1, 1), date(2028, 2, 29), date(2026, 3, 8))
                          else pytest.mark.slow)
             for day, name in sorted(AWKWARD.items())]


def test_the_awkward_dates_are_what_they_say():
    eastern = {day: (datetime.combine(day, time(0, 30), EASTERN).utcoffset(),
                     datetime.combine(day, time(23, 30), EASTERN).utcoffset()) for day in AWKWARD}
    changes = {day for day, (morning, night) in eastern.items() if morning != night}
    assert changes == {date(2026, 3, 8), date(2026, 11, 1)}
    assert all((day + timedelta(days=1)).day == 1 for day, name in AWKWARD.items() if "end" in name)


# ------------------------------------------------------------------------------------------- raw data


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, demo.PEX_TIME_FORMAT)


def _exists_once_in_eastern(moment: datetime) -> bool:
    """A naive Eastern time that is neither skipped (spring) nor repeated (autumn) by daylight saving time."""
    first = moment.replace(tzinfo=EASTERN, fold=0)
    second = moment.replace(tzinfo=EASTERN, fold=1)
    round_trip = first.astimezone(EASTERN).replace(tzinfo=None) == moment
    return round_trip and first.utcoffset() == second.utcoffset()


def raw_shortfalls(today: date) -> list[str]:
    """What the generated PEX ledgers lack on `today` (empty: everything the tests use is there)."""
    ledgers = demo.pex_transactions(1, today)
    start = today - timedelta(days=seed.START_DAYS_BACK)
    rows = ledgers["cardholder"] + ledgers["business"]
    in_range = [r for r in rows if start <= _time(r["TransactionTime"]).date() <= today]

    def some(what: str, test) -> list[str]:
        return [] if any(test(r) for r in in_range) else [f"no {what}"]

    def settled_purchase(r) -> bool:
        return (r["TransactionType"] == "Network" and r["TransactionAmount"] < 0 and not r["IsPending"]
                and not r["IsDecline"])

    def category(name: str):
        return lambda r: r["TransactionTypeCategory"] == name

    known = {name.casefold() for name in demo.CONTACT_NAMES}
    new_merchant = demo.PEX_NEW_MERCHANT[1].casefold()
    problems = []
    problems += some("settled purchase", settled_purchase)
    problems += some("split purchase", lambda r: settled_purchase(r) and demo._is_split(r))
    problems += some("pending purchase", lambda r: r["IsPending"])
    problems += some("declined purchase", lambda r: r["IsDecline"])
    problems += some("refund", category("Refund"))
    problems += some("dispute credit", category("Dispute"))
    problems += some("card fee", category("CardAccountFee"))
    problems += some("business fee", category("BusinessAccountFee"))
    problems += some("funding transfer into PEX", lambda r: category("BusinessFunding")(r)
                     and r["TransactionAmount"] > 0 and "Rebate" not in r["Description"])
    problems += some("rebate", category("BusinessRebate"))
    problems += some("card funding (never synced)", category("CardFunding"))
    problems += some("purchase tagged with the archived account", lambda r: any(
        t["FieldId"] == demo.EXPENSE_TYPE_TAG_ID and t["Value"] == demo.xid("account", "477")
        for t in ((r.get("TransactionTags") or {}).get("Tags") or [])))
    problems += some("recent purchase at a merchant no Xero contact is named after", lambda r: (
        settled_purchase(r) and r["MerchantNameNormalized"].casefold() == new_merchant not in known
        and _time(r["TransactionTime"]).date() > today - timedelta(days=30)))
    receipts = demo.receipts_for(ledgers, 1)
    problems += some("purchase with a loaded receipt", lambda r: any(
        a["UploadStatus"] == "Loaded" for a in receipts.get(r["TransactionId"], [])))
    problems += some("purchase with a receipt PEX cannot serve", lambda r: any(
        a["UploadStatus"] != "Loaded" for a in receipts.get(r["TransactionId"], [])))

    for r in rows:
        for field in ("TransactionTime", "SettlementTime", "HoldTime"):
            moment = _time(r[field])
            if moment is None:
                continue
            if moment.date() > today:
                problems.append(f"{r['TransactionId']} {field} {moment} is after today")
            if not _exists_once_in_eastern(moment):
                problems.append(f"{r['TransactionId']} {field} {moment} is skipped or repeated in US Eastern time")
    ids = [r["TransactionId"] for r in rows]
    if len(ids) != len(set(ids)):
        problems.append("TransactionIds repeat")
    return problems


@pytest.mark.parametrize("days", DAYS)
def test_the_pex_ledgers_have_every_kind_of_row_the_tests_use_on_every_day(days):
    shortfalls = {day: problems for day in days if (problems := raw_shortfalls(day))}
    assert shortfalls == {}


# ------------------------------------------------------------------------------------------- preview


def _bank_transaction(number: int, element: dict) -> XeroBankTransaction:
    lines = tuple(
        Line(item["Description"], Decimal(item["UnitAmount"]), item["AccountCode"],
             tuple(Tracking(t["Name"], t["Option"]) for t in item.get("Tracking") or []))
        for item in element["LineItems"]
    )
    return XeroBankTransaction(f"seed-{number}", element["Type"], date.fromisoformat(element["Date"]),
                               sum((line.amount for line in lines), Decimal("0")),
                               element["BankAccount"]["Code"], element.get("Reference") or "",
                               element["Contact"]["Name"], line_amount_types=element["LineAmountTypes"],
                               url=element.get("Url") or "", lines=lines)


def _bank_transfer(number: int, element: dict) -> XeroBankTransfer:
    return XeroBankTransfer(f"seed-transfer-{number}", date.fromisoformat(element["Date"]),
                            Decimal(element["Amount"]), element["FromBankAccount"]["Code"],
                            element["ToBankAccount"]["Code"], element.get("Reference") or "")


@dataclass
class DemoPreview:
    frame: pd.DataFrame
    xero_contacts: set[str]  # casefolded names of the contacts the organisation has before any sync
    receipts: dict[int, list[dict]]


def demo_preview(today: date) -> DemoPreview:
    """The sandbox's preview on `today`, in memory: the product's mapping and reconciliation of the demo PEX data
    against the records the Xero double is seeded with (no doubles, no database)."""
    ledgers = demo.pex_transactions(1, today)
    transactions = [parse_transaction(r, "cardholder") for r in ledgers["cardholder"]]
    transactions += [parse_transaction(r, "business") for r in ledgers["business"]]
    setup = seed.sandbox_setup(today)
    results = mapping.plan(transactions, setup, seed.reference_data(), today=today)
    books = seed.xero_seed(1, today)
    bank = [_bank_transaction(n, e) for n, e in enumerate(books["bank_transactions"])]
    transfers = [_bank_transfer(n, e) for n, e in enumerate(books["bank_transfers"])]
    frame = reconcile.reconcile(results, bank, transfers, lock_date=date.fromisoformat(books["period_lock_date"]),
                           start=setup.pex.start_date, end=today)
    contacts = {n.casefold() for n in demo.CONTACT_NAMES} | {e["Contact"]["Name"].casefold()
                                                             for e in books["bank_transactions"]}
    return DemoPreview(frame, contacts, demo.receipts_for(ledgers, 1))


def preview_shortfalls(today: date) -> list[str]:
    """What the sandbox preview on `today` lacks of what the sync, fault, page and notebook tests rely on."""
    preview = demo_preview(today)
    frame = preview.frame
    problems = [f"no {status} row" for status in STATUSES if not (frame["status"] == status).any()]
    new = [r for r in frame[frame["status"] == NEW].itertuples()]
    kinds = Counter(r.planned.kind for r in new)
    problems += [f"no new {kind}" for kind in (PURCHASE, FEE, TRANSFER, REBATE, DISPUTE) if not kinds[kind]]
    if not any(r.planned.record_type == "BankTransfer" for r in new):
        problems.append("no new bank transfer (PUT /BankTransfers)")
    contacts = {r.planned.contact_name for r in new if r.planned.record_type == "BankTransaction"}
    if not {c for c in contacts if c and c.casefold() not in preview.xero_contacts}:
        problems.append("no new record needs a contact Xero lacks (PUT /Contacts)")
    if not any(a["UploadStatus"] == "Loaded" for r in new if r.planned.kind == PURCHASE
               for a in preview.receipts.get(int(r.pex_id), [])):
        problems.append("no new purchase has a receipt to attach")
    if not any(len(r.planned.lines) > 1 for r in new):
        problems.append("no new split purchase")
    codes = Counter(line.account_code for r in new if r.planned.record_type == "BankTransaction"
                    for line in r.planned.lines)
    if len(codes) < 2:
        problems.append("every new record books to one account")
    if (frame["status"] == SYNCED).sum() < 10:
        problems.append("fewer than 10 synced rows")
    for status in (POSSIBLE_DUPLICATE, CHANGED, BLOCKED):
        if not frame[(frame["status"] == status)]["reason"].map(bool).all():
            problems.append(f"a {status} row without a reason")
    return problems


@pytest.mark.parametrize("days", DAYS)
def test_the_sandbox_preview_has_every_status_and_kind_of_new_record_on_every_day(days):
    shortfalls = {day: problems for day in days if (problems := preview_shortfalls(day))}
    assert shortfalls == {}


# -------------------------------------------------------------------------------- the sync, date pinned


@pytest.mark.parametrize("today", SYNC_DAYS)
def test_a_sandbox_sync_on_an_awkward_date_writes_each_record_once_and_each_receipt_once(tmp_path, today):
    with open_sandbox(tmp_path, today=today) as env:
        assert env.pex.today == env.today == today
        preview = env.conn.preview()
        assert (preview.start, preview.end) == (today - timedelta(days=seed.START_DAYS_BACK), today)
        # the in-memory preview the tests above check every day is the one the doubles give, row by row
        real = {int(r.pex_id): r.status for r in preview.frame.itertuples() if r.status != "xero only"}
        memory = {int(r.pex_id): r.status for r in demo_preview(today).frame.itertuples() if r.status != "xero only"}
        assert {tx_id: memory.get(tx_id) for tx_id in real} == real
        assert {memory[tx_id] for tx_id in memory.keys() - real.keys()} <= {"skipped"}  # before the start date
        expected = {f"PEX-{tx_id}" for tx_id, status in real.items() if status == NEW}
        assert expected
        contacts_before = len(env.xero.books[env.tenant_id].contacts)

        run = run_sync(env.conn)
        assert run["status"] == models.SUCCEEDED, run["message"]
        assert run["written"] == len(expected)
        refs = env.references()
        assert {ref: refs[ref] for ref in expected if refs[ref] != 1} == {}
        assert env.duplicates() == {}
        assert len(env.xero.books[env.tenant_id].contacts) > contacts_before  # the new merchant's contact

        attached = Counter()
        for tx in env.xero.bank_transactions(env.tenant_id):
            for att in env.xero.attachments(env.tenant_id, tx["BankTransactionID"]):
                attached[(tx["Reference"], att["FileName"].rsplit(".", 1)[0])] += 1
        loaded = {(f"PEX-{tx_id}", a["AttachmentId"]) for tx_id, files in env.pex.attachments.items()
                  for a in files if f"PEX-{tx_id}" in expected and a["UploadStatus"] == "Loaded"}
        assert loaded and set(attached) >= loaded
        assert max(attached.values()) == 1

        writes = env.writes()
        again = run_sync(env.conn)
        assert again["status"] == models.SUCCEEDED and again["written"] == 0
        assert env.writes() == writes
        after = env.conn.preview().frame
        assert not (after["status"] == NEW).any()
        assert set(after[after["pex_id"].isin([int(r[4:]) for r in expected])]["status"]) == {SYNCED}
