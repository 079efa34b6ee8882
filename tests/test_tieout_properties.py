"""Properties of the tie-out's explanation over generated ledgers: whatever PEX holds and whatever Xero holds of
PEX Cash (synced, edited, re-dated, duplicated, voided, hand entries, bank-feed lines), each day's explaining items
add up to that day's difference to the cent, and nothing is left unexplained."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pexxero import mapping, reconcile
from pexxero import tieout_explain as ex
from pexxero.models import PexTransaction, XeroBankTransaction, XeroBankTransfer
from pexxero.tieout import days_of

from test_reconcile_properties import REF, SETUP

START, END, TODAY = date(2026, 3, 1), date(2026, 3, 31), date(2026, 4, 10)
PEX_CASH = SETUP.accounts.pex_cash

SHAPES = [  # (ledger, TransactionType, TransactionTypeCategory, Description, sign)
    ("cardholder", "Network", "Spend", "HOME DEPOT #4421", -1),
    ("cardholder", "Network", "Refund", "HOME DEPOT #4421", 1),
    ("cardholder", "Transfer", "Dispute", "Dispute credit", 1),
    ("cardholder", "Transfer", "CardAccountFee", "ISA Fee", -1),
    ("cardholder", "Transfer", "CardFunding", "Funds to card", 1),
    ("business", "Transfer", "BusinessAccountFee", "Monthly fee", -1),
    ("business", "Transfer", "BusinessFunding", "ACH in", 1),
    ("business", "Transfer", "BusinessFunding", "ACH out", -1),
    ("business", "Transfer", "BusinessRebate", "Rebate payout", 1),
]
# what Xero holds of a PEX transaction
FATES = ["none", "synced", "synced", "amount", "date", "twice", "look-alike", "look-alike later"]


def _record(planned, *, total=None, day=None, reference=None):
    total = planned.total if total is None else total
    day = planned.date if day is None else day
    reference = planned.reference if reference is None else reference
    if planned.record_type == "BankTransfer":
        return XeroBankTransfer(str(uuid.uuid4()), day, total, planned.from_account_code, planned.to_account_code,
                                reference)
    return XeroBankTransaction(str(uuid.uuid4()), planned.xero_type, day, total, planned.bank_account_code, reference,
                               planned.contact_name, lines=planned.lines)


@st.composite
def ledgers(draw):
    transactions, fates = [], []
    for n, pex_id in enumerate(draw(st.lists(st.integers(1, 5000), unique=True, max_size=20))):
        ledger, ttype, category, description, sign = draw(st.sampled_from(SHAPES))
        cents = draw(st.integers(1, 200_000))
        when = datetime.combine(START - timedelta(days=3) + timedelta(days=draw(st.integers(0, 36))),
                                datetime.min.time()) + timedelta(minutes=draw(st.integers(0, 1439)))
        state = draw(st.sampled_from(["settled"] * 6 + ["pending", "declined"]))
        settled = state == "settled"
        transactions.append(PexTransaction(
            pex_id, 7001 if ledger == "cardholder" else 70000, ledger, ttype, category, Decimal(sign * cents) / 100,
            when, when + timedelta(days=1) if settled else None, description, merchant_name=description,
            is_pending=state == "pending", is_decline=state == "declined", approval_status="Approved"))
        fates.append(draw(st.sampled_from(FATES)))
    extras = draw(st.lists(st.tuples(st.integers(1, 50_000), st.integers(-3, 33), st.booleans(),
                                     st.sampled_from(["", "PEX-999999", "PEX-1"])), max_size=4))
    return transactions, fates, extras


def _xero(results, fates, extras):
    bank, transfers = [], []

    def put(record):
        (transfers if isinstance(record, XeroBankTransfer) else bank).append(record)

    for result, fate in zip(results, fates):
        planned, tx = result.planned, result.transaction
        if planned is None:
            if tx.is_decline and fate != "none" and tx.amount < 0:  # written before PEX declined it: voided
                put(XeroBankTransaction(str(uuid.uuid4()), "SPEND", tx.transaction_time.date(), -tx.amount, PEX_CASH,
                                        f"PEX-{tx.transaction_id}"))
            continue
        if fate == "synced":
            put(_record(planned))
        elif fate == "amount":
            put(_record(planned, total=planned.total + Decimal("5.00")))
        elif fate == "date":
            put(_record(planned, day=planned.date + timedelta(days=2)))
        elif fate == "twice":
            put(_record(planned))
            put(_record(planned))
        elif fate == "look-alike":
            put(_record(planned, reference=""))
        elif fate == "look-alike later":
            put(_record(planned, reference="", day=planned.date + timedelta(days=1)))
    for cents, days, receive, reference in extras:  # hand entries, bank-feed lines, orphaned markers
        put(XeroBankTransaction(str(uuid.uuid4()), "RECEIVE" if receive else "SPEND", START + timedelta(days=days),
                                Decimal(cents) / 100, PEX_CASH, reference))
    return bank, transfers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers())
def test_each_days_items_add_up_to_its_difference_and_nothing_is_unexplained(ledger):
    transactions, fates, extras = ledger
    results = mapping.plan(transactions, SETUP, REF, today=TODAY)
    bank, transfers = _xero(results, fates, extras)
    frame = reconcile.reconcile(results, bank, transfers, start=START, end=END, pex_cash=PEX_CASH)
    items = ex.explain(results, frame, bank, transfers, PEX_CASH, START, END)
    records = [*ex.live_bank(bank, PEX_CASH), *ex.on_pex_cash(transfers, PEX_CASH)]
    days, remainders = days_of(results, records, items, PEX_CASH, START, END)

    assert not remainders, [(r.day, r.amount) for r in remainders]
    assert all(START <= i.day <= END and i.amount != 0 for i in items)
    assert all(i.cause in ex.CAUSES and i.cause != ex.UNEXPLAINED and i.reason for i in items)
    for day in days:
        assert sum((i.amount for i in items if i.day == day.day), Decimal(0)) == day.difference
        assert day.difference == day.pex_movement - day.xero_movement
    assert days[-1].running_difference == sum((d.difference for d in days), Decimal(0))
    # PEX's side counts the settled transactions of a kind we book, card funding left out
    moved = sum((t.amount for t, r in zip(transactions, results) if not t.is_pending and not t.is_decline
                 and t.category != "CardFunding" and START <= r.post_date <= END), Decimal(0))
    assert sum((d.pex_movement for d in days), Decimal(0)) == moved


def test_a_pair_on_two_days_is_explained_on_each_day_as_dated_differently():
    when = datetime(2026, 3, 10, 12, 0)
    tx = PexTransaction(11, 7001, "cardholder", "Network", "Spend", Decimal("-12.34"), when, when, "SHOP",
                        merchant_name="SHOP")
    results = mapping.plan([tx], SETUP, REF, today=TODAY)
    bank = [_record(results[0].planned, day=date(2026, 3, 12))]
    frame = reconcile.reconcile(results, bank, [], start=START, end=END, pex_cash=PEX_CASH)
    items = ex.explain(results, frame, bank, [], PEX_CASH, START, END)
    assert [(i.day, i.amount, i.cause) for i in items] == [
        (date(2026, 3, 10), Decimal("-12.34"), ex.DATED), (date(2026, 3, 12), Decimal("12.34"), ex.DATED)]
    assert "PEX 2026-03-10" in items[0].reason and "2026-03-12" in items[0].reason


def test_what_blocks_a_lock_is_each_state_once_with_the_way_to_clear_it():
    from pexxero.tieout_verdict import status_blockers

    rows = [(1, "new", Decimal("-10.00")), (2, "new", Decimal("-5.00")), (3, "possible duplicate", Decimal("-7.50")),
            (4, "synced", Decimal("-1.00")), (5, "skipped", Decimal("-2.00"))]
    found = {b.what: b for b in status_blockers(rows, {2: "Account code '999' is not a valid code"}, [5], [4])}
    assert list(found) == ["not yet synced (new)", "failed in the last sync", "waiting for a receipt",
                           "pending in PEX", "held as a possible duplicate"]
    assert (found["not yet synced (new)"].count, found["not yet synced (new)"].amount) == (1, Decimal("-10.00"))
    assert "Account code '999'" in found["failed in the last sync"].clear and "--retry-failed" in \
        found["failed in the last sync"].clear
    assert found["held as a possible duplicate"].amount == Decimal("-7.50")
    assert status_blockers([(4, "synced", Decimal("-1.00"))], {}, [], []) == []
