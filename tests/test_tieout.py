"""The tie-out against both doubles: a small clean business whose last month ties exactly after a full sync, then
the same month with each cause of a difference planted once and named, to the cent; the command line's exit codes
and CSV; the sandbox's BankSummary and PEX balances through the real clients."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from pexxero import tieout_explain as ex
from pexxero.sandbox import demo
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.xero_double import XeroDouble
from pexxero.sandbox.xero_wire import ms_date
from pexxero.sync import run_sync
from pexxero.tieout import tie_out
from sandbox_env import open_sandbox

CARD = demo.PEX_CARDHOLDERS[0][0]


def _month(today: date) -> tuple[date, date]:
    """Last month: whole, before today, and within the sandbox setup's 90 days."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


class Ledger:
    """A small PEX business, every row settled on the day it happened."""

    def __init__(self, first: date):
        self.first = first
        self.rows = {"cardholder": [], "business": []}
        self.next_id = 500_000_001

    def add(self, day: int, amount: str, *, kind: str = "purchase", name: str = "Corner Hardware", **extra) -> int:
        when = datetime.combine(self.first + timedelta(days=day), time(11, 30))
        tx_id, self.next_id = self.next_id, self.next_id + 1
        shapes = {"purchase": ("cardholder", CARD, "Network", "Spend"),
                  "fee": ("business", demo.BUSINESS_ACCOUNT_ID, "Transfer", "BusinessAccountFee"),
                  "funding": ("business", demo.BUSINESS_ACCOUNT_ID, "Transfer", "BusinessFunding"),
                  "rebate": ("business", demo.BUSINESS_ACCOUNT_ID, "Transfer", "BusinessRebate"),
                  "card funding": ("cardholder", CARD, "Transfer", "CardFunding")}
        ledger, account, ttype, category = shapes[kind]
        merchant = {"MerchantName": name, "MerchantNameNormalized": name} if kind == "purchase" else {}
        row = demo._pex_row(account, ttype, category, Decimal(amount), when, name, TransactionId=tx_id,
                            MetadataApprovalStatus="Approved", **merchant, **extra)
        self.rows[ledger].append(row)
        return tx_id


def _business(today: date) -> Ledger:
    first, last = _month(today)
    ledger = Ledger(first)
    ledger.add(0, "5000.00", kind="funding", name="ACH Transfer from Business Checking")
    ledger.add(1, "-1500.00", kind="card funding", name="Funds transfer from business account")
    ledger.add(2, "-42.17")
    ledger.add(4, "-310.05", name="Delta Air")
    ledger.add(4, "18.20", name="Corner Hardware")  # a refund
    ledger.add(9, "-49.00", kind="fee", name="PEX Platform Fee")
    ledger.add(14, "37.50", kind="rebate", name="Monthly Rebate")
    ledger.add(20, "-1200.00", kind="funding", name="ACH Transfer to Business Checking")
    ledger.add((last - first).days, "-88.88", name="Office Depot")
    ledger.add((today - first).days, "-19.99", name="After The Month")  # today: after the month
    return ledger


@pytest.fixture
def clean(tmp_path):
    """The clean business in both doubles; Xero has nothing yet but PEX Cash's opening balance, which is what PEX
    held before the month."""
    pex = PexDouble()
    ledger = _business(pex.today)
    pex.transactions = ledger.rows
    pex.attachments = {}
    xero = XeroDouble(today=pex.today, minute_limit=100_000, seed_records=False)
    first, _ = _month(pex.today)
    opening = pex.balances.total_before(pex.account_details, pex.transactions, first)
    xero.reports.set_opening_balance(demo.TENANT_ID, "091", opening)
    with open_sandbox(tmp_path, pex=pex, xero=xero, attachments=False) as env:
        env.ledger = ledger
        yield env


def _books(env):
    return env.xero.books[demo.TENANT_ID]


def _record_of(env, pex_id: int) -> dict:
    return next(r for r in _books(env).bank_transactions.values() if r.get("Reference") == f"PEX-{pex_id}")


def _by_cause(tie) -> dict[str, list]:
    found: dict[str, list] = {}
    for item in [*tie.items, *tie.closing_items]:
        found.setdefault(item.cause, []).append(item)
    return found


def test_a_month_ties_exactly_after_a_full_sync(clean):
    first, last = _month(clean.today)
    before = tie_out(clean.conn, start=first, end=last)
    assert before.exit_code == 2 and not before.unexplained
    assert {i.cause for i in before.items} == {ex.NOT_SYNCED}
    assert before.closing.opening_difference == 0  # Xero's opening balance is what PEX held

    run = run_sync(clean.conn)
    assert run["status"] == "succeeded", run
    tie = tie_out(clean.conn, start=first, end=last)
    assert tie.ties and tie.exit_code == 0
    assert tie.items == [] and tie.closing_items == []
    assert all(d.difference == 0 for d in tie.days) and len(tie.days) == (last - first).days + 1
    # PEX moved: 5000 in, 1200 out, purchases and refund -42.17 -310.05 +18.20 -88.88, fee -49, rebate +37.50
    assert sum((d.pex_movement for d in tie.days), Decimal(0)) == Decimal("3365.60")
    assert tie.closing.pex_closing == tie.closing.xero_closing == tie.closing.pex_opening + Decimal("3365.60")
    # the purchase after the month is rolled back from PEX's balances now
    assert tie.closing.pex_since == Decimal("-19.99")
    assert tie.verdict.ready and tie.verdict.sentence() == f"Ready to lock up to {last.isoformat()}"
    assert str(tie.sentences()[-1]) == f"Ready to lock up to {last.isoformat()}"


def test_each_cause_of_a_difference_is_named_once_and_the_items_add_up_to_the_cent(clean):
    env, ledger = clean, clean.ledger
    first, last = _month(env.today)
    rows = ledger.rows["cardholder"]
    # before the sync: a fee with fees switched off, and a bank-feed line a day after a purchase of the same amount
    fee = ledger.add(12, "-5.00", kind="fee", name="Card Replacement Fee")
    held = ledger.add(6, "-64.00", name="Shell Oil")
    _books(env).load_seed({"bank_transactions": [{
        "Type": "SPEND", "BankAccount": {"Code": "091"}, "Contact": {"Name": "PEX"}, "Reference": "",
        "Date": (first + timedelta(days=7)).isoformat(), "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Card payment (bank feed)", "Quantity": 1, "UnitAmount": "64.00",
                       "AccountCode": "429"}]}]})
    env.setup(pex=replace(env.conn.setup().pex, fees=False))
    assert run_sync(env.conn)["status"] == "succeeded"

    # after it: edited in Xero (amount; date), declined in PEX, a hand entry, a new purchase, the opening balance
    changed, dated, voided = ledger.rows["cardholder"][2]["TransactionId"], ledger.rows["cardholder"][3][
        "TransactionId"], ledger.rows["cardholder"][-3]["TransactionId"]
    record = _record_of(env, changed)
    record["Total"] = record["SubTotal"] = Decimal("320.05")
    record["LineItems"][0]["UnitAmount"] = record["LineItems"][0]["LineAmount"] = Decimal("320.05")
    moved = first + timedelta(days=1)
    _record_of(env, dated).update(Date=ms_date(moved), DateString=f"{moved.isoformat()}T00:00:00")
    next(r for r in rows if r["TransactionId"] == voided)["IsDecline"] = True
    _books(env).load_seed({"bank_transactions": [{
        "Type": "RECEIVE", "BankAccount": {"Code": "091"}, "Contact": {"Name": "PEX"}, "Reference": "",
        "Date": (first + timedelta(days=15)).isoformat(), "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Entered by hand", "Quantity": 1, "UnitAmount": "7.77", "AccountCode": "260"}]}]})
    new = ledger.add(16, "-23.45", name="Late Lunch")
    opening = env.xero.reports.opening_balances(demo.TENANT_ID)["091"]
    env.xero.reports.set_opening_balance(demo.TENANT_ID, "091", opening - Decimal("100.00"))
    env.conn.refresh_pex(full=True)

    tie = tie_out(env.conn, start=first, end=last, refresh=False)
    causes = _by_cause(tie)
    assert set(causes) == {ex.NOT_SYNCED, ex.HELD, ex.CHANGED, ex.VOIDED, ex.XERO_ONLY, ex.DATED, ex.SETTING,
                           ex.BEFORE_START}
    assert [i.pex_id for i in causes[ex.NOT_SYNCED]] == [new] and causes[ex.NOT_SYNCED][0].amount == Decimal("-23.45")
    platform_fee = next(r["TransactionId"] for r in ledger.rows["business"] if r["Description"] == "PEX Platform Fee")
    assert [i.pex_id for i in causes[ex.SETTING]] == [platform_fee, fee]  # both fees: fees are switched off
    assert all("fees are switched off" in i.reason for i in causes[ex.SETTING])
    assert [(i.pex_id, i.amount) for i in causes[ex.CHANGED]] == [(changed, Decimal("10.00"))]
    assert [(i.pex_id, i.amount) for i in causes[ex.VOIDED]] == [(voided, Decimal("-88.88") * -1)]
    assert [(i.pex_id, i.amount, i.xero_id != "") for i in causes[ex.XERO_ONLY]] == [(None, Decimal("-7.77"), True)]
    assert {(i.pex_id, i.amount) for i in causes[ex.DATED]} == {(dated, Decimal("18.20")), (dated, Decimal("-18.20"))}
    # the held purchase: PEX on day 6, Xero's unmarked look-alike on day 7: each side on its own day, both named
    assert [(i.day, i.pex_id, i.amount) for i in causes[ex.HELD]] == [
        (first + timedelta(days=6), held, Decimal("-64.00")), (first + timedelta(days=7), held, Decimal("64.00"))]
    assert [i.amount for i in causes[ex.BEFORE_START]] == [Decimal("100.00")]
    # the month starts after the setup's start date: the opening difference is carried in from the days before
    assert "a difference of 100.00 carried in from before" in causes[ex.BEFORE_START][0].reason
    assert not tie.unexplained and tie.exit_code == 2
    # from the setup's own start date, the same 100.00 is the opening balance Xero needs
    whole = tie_out(env.conn, end=last, refresh=False)
    assert whole.start == env.conn.setup().pex.start_date
    [opening_item] = [i for i in whole.closing_items if i.status == ex.OPENING]
    assert opening_item.amount == Decimal("100.00")
    assert f"Xero needs an opening balance of {whole.closing.pex_opening:,.2f} on PEX Cash" in opening_item.reason

    # every day's items add up to its difference, and all of them to the closing difference, to the cent
    for day in tie.days:
        assert sum((i.amount for i in tie.items if i.day == day.day), Decimal(0)) == day.difference
    assert sum((i.amount for i in [*tie.items, *tie.closing_items]), Decimal(0)) == tie.closing.difference
    verdict = tie.verdict
    assert not verdict.ready
    blocking = {b.what for b in verdict.blockers}
    assert {"not yet synced (new)", "held as a possible duplicate", "difference: changed in Xero",
            "difference: voided in PEX, still in Xero", "difference: before the start date"} <= blocking
    assert all(b.clear for b in verdict.blockers)

    # Xero's lock date after the new purchase: it is blocked now, and the tie-out says how much lies on or before it
    lock = first + timedelta(days=16)
    env.xero.set_lock_date(demo.TENANT_ID, lock)
    tie = tie_out(env.conn, start=first, end=last, refresh=False)
    assert [i.pex_id for i in tie.items if i.cause == ex.LOCKED] == [new]
    count, amount = tie.locked()
    early = [i for i in tie.items if i.day <= lock]
    assert count == len(early) and amount == sum((i.amount for i in early), Decimal(0))
    assert any(f"Xero's lock date {lock.isoformat()}" in line for line in tie.sentences())
    env.xero.set_lock_date(demo.TENANT_ID, None)

    # something only Xero's Bank Summary sees (a bill paid from PEX Cash) is unexplained, never hidden
    env.xero.reports.add_payment(demo.TENANT_ID, "091", first + timedelta(days=3), Decimal("-250.00"))
    tie = tie_out(env.conn, start=first, end=last, refresh=False)
    assert [(i.cause, i.amount) for i in tie.unexplained] == [(ex.UNEXPLAINED, Decimal("250.00"))]
    assert tie.exit_code == 1
    assert sum((i.amount for i in [*tie.items, *tie.closing_items]), Decimal(0)) == tie.closing.difference


@pytest.mark.slow  # two runs of the command in a child process
def test_the_command_prints_the_days_and_the_verdict_and_writes_a_formula_safe_csv(clean, tmp_path):
    first, last = _month(clean.today)
    clean.ledger.add(3, "-9.99", name="=HYPERLINK(\"http://x\")")
    path = tmp_path / "tieout.csv"
    done = clean.cli("tieout", "--from", first.isoformat(), "--to", last.isoformat(), "--csv", str(path))
    assert done.returncode == 2, done.stderr
    assert f"Not ready to lock up to {last.isoformat()}" in done.stdout
    assert "not yet synced" in done.stdout
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["date", "pex_movement", "xero_movement", "difference", "running_difference"]
    split = rows.index(["date", "pex_id", "xero_id", "amount", "status", "reason"])
    assert split == 1 + (last - first).days + 1
    assert all(len(r) == 5 for r in rows[1:split]) and all(len(r) == 6 for r in rows[split + 1:])
    assert sum(Decimal(r[3]) for r in rows[1:split]) == sum(Decimal(r[3]) for r in rows[split + 1:])
    assert not any(cell.startswith("=") for r in rows for cell in r)

    assert run_sync(clean.conn)["status"] == "succeeded"
    done = clean.cli("tieout", "--month", first.strftime("%Y-%m"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Ready to lock up to {last.isoformat()}" in done.stdout


def test_the_command_takes_a_month_or_a_range_not_both(tmp_path, capsys):
    from pexxero.cli import main

    assert main(["--db", str(tmp_path / "x.db"), "tieout", "--month", "2026-11", "--to", "2026-11-30"]) == 1
    assert "either --month or --from/--to" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--db", str(tmp_path / "x.db"), "tieout", "--from", "30/11/2026"])


def test_the_sandbox_serves_the_bank_summary_and_pex_balances_through_the_real_clients(sandbox):
    xero, pex = sandbox.conn.xero(), sandbox.conn.pex()
    before = xero.calls
    first = sandbox.today - timedelta(days=30)
    lines = xero.bank_summary(first, sandbox.today)
    assert xero.calls == before + 1
    cash = next(line for line in lines if line.name == "PEX Cash Account")
    assert cash.closing == cash.opening + cash.received - cash.spent
    balances = pex.balances()
    assert len(balances.cards) == len(demo.PEX_CARDHOLDERS)
    # a purchase planted in PEX moves the card's ledger balance and the business's total, as PEX would
    sandbox.add_pex_purchase("-42.17")
    after = pex.balances()
    assert after.total == balances.total - Decimal("42.17") and after.business == balances.business
    # without the reports scope, Xero refuses the report and the words say what to do
    from pexxero.clients.xero_reports import ReportsNotAllowed

    sandbox.conn.connect_xero(sandbox.xero.grant([demo.TENANT_ID], scope="offline_access accounting.transactions "
                                                                    "accounting.settings"), demo.TENANT_ID)
    with pytest.raises(ReportsNotAllowed, match="Bank Summary") as refused:
        sandbox.conn.xero().bank_summary(first, sandbox.today)
    assert "accounting.reports.read" in str(refused.value)
