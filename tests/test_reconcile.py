"""The reconciliation: every preview status and reason, the summary, the CSV and its formula neutralising."""

from __future__ import annotations

import csv
import importlib.util
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pexxero import csvsafe, models, reconcile, reconcile_report
from pexxero.mapping import MappingResult
from pexxero.models import Line, PexTransaction, PlannedRecord, Tracking, XeroBankTransaction, XeroBankTransfer

DAY = date(2026, 3, 2)
ALPHA = (("PROJECTS", "Alpha Site"),)


# ------------------------------------------------------------------------------------------- helpers


def pex_tx(pex_id: int, amount: Decimal, day: date, **fields) -> PexTransaction:
    return PexTransaction(pex_id, 7378, "cardholder", "Network", "Spend", amount, datetime(day.year, day.month, day.day,
                                                                                            14, 5), **fields)


def spend(pex_id=1, amount="15.00", day=DAY, account="453", tracking=ALPHA, contact="Home Depot",
          xero_type="SPEND") -> MappingResult:
    total = Decimal(amount)
    lines = (Line("Lumber", total, account, tuple(Tracking(c, o) for c, o in tracking)),)
    record = PlannedRecord(pex_id, models.PURCHASE, "BankTransaction", day, total, models.marker(pex_id),
                           f"https://dashboard.pexcard.com/transactions/{pex_id}", xero_type=xero_type,
                           bank_account_code="091", contact_name=contact, lines=lines, wants_attachments=True)
    signed = -total if xero_type == "SPEND" else total
    tx = pex_tx(pex_id, signed, day, merchant_name="HOME DEPOT #4421", cardholder="Pat Lee")
    return MappingResult(tx, models.PURCHASE, record, None, "", day, record.url)


def funding(pex_id=2, amount="500.00", day=DAY, source="090", target="091") -> MappingResult:
    record = PlannedRecord(pex_id, models.TRANSFER, "BankTransfer", day, Decimal(amount), models.marker(pex_id),
                           "link", from_account_code=source, to_account_code=target)
    tx = PexTransaction(pex_id, 1, "business", "Transfer", "BusinessFunding",
                        Decimal(amount) if target == "091" else -Decimal(amount), datetime(2026, 3, 2, 9),
                        description="ACH")
    return MappingResult(tx, models.TRANSFER, record, None, "", day, "link")


def not_planned(pex_id=3, status=models.SKIPPED, reason="pending: not settled yet") -> MappingResult:
    tx = pex_tx(pex_id, Decimal("-9.99"), DAY, merchant_name="SHELL OIL 5744", is_pending=True)
    return MappingResult(tx, models.PURCHASE, None, status, reason, DAY, "link")


def xero_spend(reference="PEX-1", amount="15.00", day=DAY, account="453", tracking=ALPHA, contact="Home Depot",
               xero_type="SPEND", xid="x-1", bank="091", **fields) -> XeroBankTransaction:
    lines = (Line("Lumber", Decimal(amount), account, tuple(Tracking(c, o) for c, o in tracking)),)
    return XeroBankTransaction(xid, xero_type, day, Decimal(amount), bank, reference, contact, lines=lines, **fields)


def xero_transfer(reference="PEX-2", amount="500.00", day=DAY, source="090", target="091", xid="t-1"):
    return XeroBankTransfer(xid, day, Decimal(amount), source, target, reference)


def only_row(results, bank_transactions=(), bank_transfers=(), **kw):
    frame = reconcile.reconcile(results if isinstance(results, list) else [results], list(bank_transactions),
                           list(bank_transfers), **kw)
    return frame.iloc[0]


# ------------------------------------------------------------------------------------------ statuses

CASES = [
    # label, result, bank transactions, transfers, options, status, reason, differences
    ("nothing in Xero", spend(), [], [], {}, models.NEW, reconcile.NEW_REASON, ""),
    ("marker agrees", spend(), [xero_spend()], [], {}, models.SYNCED, reconcile.SYNCED_REASON, ""),
    ("contact differs only in case", spend(contact="Home Depot"), [xero_spend(contact=" HOME DEPOT ")], [], {},
     models.SYNCED, reconcile.SYNCED_REASON, ""),
    ("amount and account differ", spend(), [xero_spend(amount="12.00", account="429")], [], {}, models.CHANGED,
     reconcile.CHANGED_REASON, "amount: Xero 12.00, PEX 15.00; account: Xero 429, PEX 453"),
    ("date differs", spend(), [xero_spend(day=date(2026, 3, 5))], [], {}, models.CHANGED, reconcile.CHANGED_REASON,
     "date: Xero 2026-03-05, PEX 2026-03-02"),
    ("type differs", spend(), [xero_spend(xero_type="RECEIVE")], [], {}, models.CHANGED, reconcile.CHANGED_REASON,
     "type: Xero RECEIVE, PEX SPEND"),
    ("tracking differs", spend(), [xero_spend(tracking=())], [], {}, models.CHANGED, reconcile.CHANGED_REASON,
     "tracking: Xero (none), PEX PROJECTS: Alpha Site"),
    ("contact differs", spend(), [xero_spend(contact="Lowe's")], [], {}, models.CHANGED, reconcile.CHANGED_REASON,
     "contact: Xero Lowe's, PEX Home Depot"),
    ("bank account differs", spend(), [xero_spend(bank="090")], [], {}, models.CHANGED, reconcile.CHANGED_REASON,
     "bank account: Xero 090, PEX 091"),
    ("reconciled and changed", spend(), [xero_spend(amount="1.00", is_reconciled=True)], [], {}, models.CHANGED,
     reconcile.CHANGED_REASON + reconcile.RECONCILED_NOTE, "amount: Xero 1.00, PEX 15.00"),
    ("marked but deleted", spend(), [xero_spend(status="DELETED")], [], {}, models.NEW, reconcile.NEW_REASON, ""),
    ("marked but voided", spend(), [xero_spend(status="VOIDED")], [], {}, models.NEW, reconcile.NEW_REASON, ""),
    ("marker is case-insensitive", spend(), [xero_spend(reference=" pex-1 ")], [], {}, models.SYNCED,
     reconcile.SYNCED_REASON, ""),
    ("unmarked look-alike", spend(), [xero_spend(reference="", day=date(2026, 3, 4), contact="HOME DEPOT 4421")], [],
     {}, models.POSSIBLE_DUPLICATE,
     "Xero already has an unmarked SPEND of 15.00 dated 2026-03-04 to HOME DEPOT 4421 (no PEX reference: a bank-feed "
     "line or a hand entry?): push it only if it is a different transaction", ""),
    ("look-alike with another reference", spend(), [xero_spend(reference="Card 4421", day=date(2026, 2, 28))], [], {},
     models.POSSIBLE_DUPLICATE,
     "Xero already has an unmarked SPEND of 15.00 dated 2026-02-28 to Home Depot (no PEX reference: a bank-feed "
     "line or a hand entry?): push it only if it is a different transaction", ""),
    ("look-alike too far", spend(), [xero_spend(reference="", day=date(2026, 3, 6))], [], {}, models.NEW,
     reconcile.NEW_REASON, ""),
    ("look-alike with a wider window", spend(), [xero_spend(reference="", day=date(2026, 3, 6))], [],
     {"duplicate_days": 4}, models.POSSIBLE_DUPLICATE, None, ""),
    ("unmarked, other amount", spend(), [xero_spend(reference="", amount="15.01")], [], {}, models.NEW,
     reconcile.NEW_REASON, ""),
    ("unmarked, other type", spend(), [xero_spend(reference="", xero_type="RECEIVE")], [], {}, models.NEW,
     reconcile.NEW_REASON, ""),
    ("unmarked, other bank", spend(), [xero_spend(reference="", bank="090")], [], {}, models.NEW, reconcile.NEW_REASON,
     ""),
    ("another record's marker is no look-alike", spend(), [xero_spend(reference="PEX-77")], [], {}, models.NEW,
     reconcile.NEW_REASON, ""),
    ("on the lock date", spend(), [], [], {"lock_date": DAY}, models.BLOCKED,
     "dated 2026-03-02, on or before Xero's lock date 2026-03-02: ask your adviser to move the lock date or change "
     "the start date", ""),
    ("after the lock date", spend(), [], [], {"lock_date": date(2026, 3, 1)}, models.NEW, reconcile.NEW_REASON, ""),
    ("changed before the lock date", spend(), [xero_spend(contact="Shell")], [], {"lock_date": DAY}, models.CHANGED,
     reconcile.CHANGED_REASON + "; it is dated on or before Xero's lock date 2026-03-02",
     "contact: Xero Shell, PEX Home Depot"),
    ("synced before the lock date", spend(), [xero_spend()], [], {"lock_date": date(2026, 5, 31)}, models.SYNCED,
     reconcile.SYNCED_REASON, ""),
    ("look-alike before the lock date", spend(), [xero_spend(reference="")], [], {"lock_date": date(2026, 5, 31)},
     models.POSSIBLE_DUPLICATE, None, ""),
    ("skipped passes through", not_planned(), [], [], {}, models.SKIPPED, "pending: not settled yet", ""),
    ("blocked passes through", not_planned(status=models.BLOCKED, reason="amount is 0.00"), [xero_spend(
        reference="", amount="9.99")], [], {"lock_date": date(2026, 12, 31)}, models.BLOCKED, "amount is 0.00", ""),
    ("transfer synced", funding(), [], [xero_transfer()], {}, models.SYNCED, reconcile.SYNCED_REASON, ""),
    ("transfer the other way", funding(), [], [xero_transfer(source="091", target="090")], {}, models.CHANGED,
     reconcile.CHANGED_REASON, "account: Xero 091 → 090, PEX 090 → 091"),
    ("transfer look-alike", funding(), [], [xero_transfer(reference="ACH 2231", day=date(2026, 3, 3))], {},
     models.POSSIBLE_DUPLICATE, "Xero already has an unmarked TRANSFER of 500.00 dated 2026-03-03 (no PEX reference: "
     "a bank-feed line or a hand entry?): push it only if it is a different transaction", ""),
    ("transfer look-alike the other way", funding(), [], [xero_transfer(reference="", source="091", target="090")],
     {}, models.NEW, reconcile.NEW_REASON, ""),
    ("transfer marker on a bank transaction", funding(), [xero_spend(reference="PEX-2", amount="500.00")], [], {},
     models.CHANGED, reconcile.CHANGED_REASON,
     "type: Xero SPEND, PEX TRANSFER; account: Xero 453, PEX 090 → 091; tracking: Xero PROJECTS: Alpha Site, "
     "PEX (none); contact: Xero Home Depot, PEX (none)"),
]


@pytest.mark.parametrize("label, result, bank, transfers, options, status, reason, differences", CASES,
                         ids=[c[0] for c in CASES])
def test_each_pex_transaction_gets_its_status_and_reason(label, result, bank, transfers, options, status, reason,
                                                         differences):
    row = only_row(result, bank, transfers, **options)
    assert row["status"] == status
    if reason is not None:
        assert row["reason"] == reason
    assert row["differences"] == differences
    assert row["planned"] is result.planned


def test_the_xero_columns_show_the_marked_record_or_the_look_alike():
    marked = xero_spend(amount="12.00", xid="x-marked")
    row = only_row(spend(), [marked])
    assert (row["xero_id"], row["xero_type"], row["xero_amount"], row["xero_record"]) == (
        "x-marked", "SPEND", Decimal("12.00"), marked)
    look_alike = xero_spend(reference="", xid="x-feed")
    row = only_row(spend(), [look_alike])
    assert (row["xero_id"], row["xero_amount"], row["xero_record"]) == ("x-feed", Decimal("15.00"), look_alike)
    row = only_row(spend(), [])
    assert (row["xero_id"], row["xero_type"], row["xero_amount"], row["xero_record"]) == (None, "", None, None)


def test_a_skipped_row_still_shows_the_xero_record_carrying_its_marker():
    record = xero_spend(reference="PEX-3", xid="x-3", amount="9.99")
    frame = reconcile.reconcile([not_planned()], [record], [])
    assert len(frame) == 1  # not `xero only`: the transaction is in the results
    assert (frame.iloc[0]["status"], frame.iloc[0]["xero_id"]) == (models.SKIPPED, "x-3")


def test_the_nearest_look_alike_is_chosen():
    far = xero_spend(reference="", day=date(2026, 3, 5), xid="far")
    near = xero_spend(reference="", day=date(2026, 3, 1), xid="near")
    assert only_row(spend(), [far, near])["xero_id"] == "near"


def test_several_records_carrying_one_marker_are_flagged():
    row = only_row(spend(), [xero_spend(xid="a"), xero_spend(xid="b", amount="99.00")])
    assert (row["status"], row["xero_id"]) == (models.SYNCED, "a")
    assert row["reason"] == reconcile.SYNCED_REASON + "; PEX-1" + reconcile.SEVERAL_NOTE


def test_marked_records_without_a_pex_transaction_are_xero_only():
    orphans = [
        xero_spend(reference="PEX-900", xid="o-1", day=date(2026, 3, 10), contact="Shell", account="449",
                   tracking=()),
        xero_transfer(reference="PEX-901", xid="o-2", day=date(2026, 3, 9)),
        xero_spend(reference="PEX-902", xid="o-3", day=date(2026, 2, 1)),  # outside start..end
        xero_spend(reference="PEX-903", xid="o-4", day=date(2026, 3, 9), status="DELETED"),
        xero_spend(reference="INV-1", xid="u-1", amount="3.00"),  # unmarked: never listed
    ]
    bank_only = [o for o in orphans if isinstance(o, XeroBankTransaction)]
    frame = reconcile.reconcile([spend()], bank_only, [orphans[1]], start=date(2026, 3, 1), end=date(2026, 3, 31))
    xero_only = frame[frame["status"] == models.XERO_ONLY]
    assert list(xero_only["pex_id"]) == [901, 900]  # by date
    assert list(xero_only["xero_id"]) == ["o-2", "o-1"]
    first = xero_only.iloc[1]
    assert (first["date"], first["xero_amount"], first["contact"], first["account"]) == (
        date(2026, 3, 10), Decimal("15.00"), "Shell", "449")
    # no PEX amount: the row shows Xero's, as money on PEX Cash (a SPEND is money out)
    assert (first["amount"], first["kind"], first["merchant"], first["planned"]) == (Decimal("-15.00"), "", "", None)
    assert first["reason"] == reconcile.XERO_ONLY_REASON
    assert xero_only.iloc[0]["xero_type"] == "TRANSFER" and xero_only.iloc[0]["amount"] == Decimal("500.00")
    unbounded = reconcile.reconcile([spend()], bank_only, [orphans[1]])
    assert sorted(unbounded[unbounded["status"] == models.XERO_ONLY]["pex_id"]) == [900, 901, 902]


def test_every_pex_transaction_gets_exactly_one_row_in_order():
    results = [spend(pex_id=i, amount=f"{i}.00") for i in range(10, 20)] + [not_planned(pex_id=5), funding(pex_id=6)]
    bank = [xero_spend(reference=f"PEX-{i}", amount=f"{i}.00", xid=f"x{i}") for i in range(10, 15)]
    frame = reconcile.reconcile(results, bank, [], lock_date=date(2026, 1, 1))
    assert list(frame.columns) == reconcile_report.COLUMNS + reconcile.OBJECT_COLUMNS
    assert list(frame["pex_id"]) == [r.transaction.transaction_id for r in results]
    assert list(frame["status"]) == [models.SYNCED] * 5 + [models.NEW] * 5 + [models.SKIPPED, models.NEW]
    assert list(frame["amount"]) == [r.transaction.amount for r in results]  # signed PEX amounts, as Decimals
    assert frame.iloc[0]["account"] == "453" and frame.iloc[0]["tracking"] == "PROJECTS: Alpha Site"
    assert frame.iloc[-1]["account"] == "090 → 091" and frame.iloc[-1]["merchant"] == "ACH"
    assert frame.iloc[10]["date"] == DAY and frame.iloc[10]["link"] == "link"


def test_empty_inputs_give_an_empty_frame_with_the_columns():
    frame = reconcile.reconcile([], [], [])
    assert list(frame.columns) == reconcile_report.COLUMNS + reconcile.OBJECT_COLUMNS and len(frame) == 0
    assert list(reconcile_report.summary(frame)["count"]) == [0] * len(models.STATUSES)


# ------------------------------------------------------------------------------------ summary and CSV


def test_summary_counts_money_out_money_in_and_net_per_status():
    results = [spend(pex_id=1, amount="10.00"), spend(pex_id=2, amount="2.50", xero_type="RECEIVE"),
               spend(pex_id=3, amount="7.25"), not_planned(pex_id=4)]
    bank = [xero_spend(reference="PEX-3", amount="7.00", xid="c"), xero_spend(reference="PEX-88", amount="4.40")]
    frame = reconcile.reconcile(results, bank, [])
    table = reconcile_report.summary(frame).set_index("status")
    assert list(table.index) == list(models.STATUSES)
    assert list(table.columns) == reconcile_report.TOTALS[1:]
    new = table.loc[models.NEW]
    assert (new["count"], new["money_out"], new["money_in"], new["net"]) == (
        2, Decimal("10.00"), Decimal("2.50"), Decimal("-7.50"))
    assert (table.loc[models.CHANGED, "net"], table.loc[models.CHANGED, "xero_amount"]) == (
        Decimal("-7.25"), Decimal("7.00"))
    assert table.loc[models.SKIPPED, "money_out"] == Decimal("9.99")
    xero_only = table.loc[models.XERO_ONLY]  # Xero's amount, signed: a SPEND is money out
    assert (xero_only["count"], xero_only["money_out"], xero_only["net"], xero_only["xero_amount"]) == (
        1, Decimal("4.40"), Decimal("-4.40"), Decimal("4.40"))
    assert table.loc[models.SYNCED, "count"] == 0 and table.loc[models.SYNCED, "net"] == Decimal("0")
    assert all(table["net"] == table["money_in"] - table["money_out"])
    assert sum(table["net"]) == sum(frame["amount"]) == Decimal("-29.14")  # the sum of the CSV's amount column


def test_a_xero_only_transfer_is_money_out_when_it_leaves_pex_cash():
    transfers = [xero_transfer(reference="PEX-901", xid="in", source="090", target="091"),
                 xero_transfer(reference="PEX-902", xid="out", amount="120.00", source="091", target="090")]
    frame = reconcile.reconcile([], [], transfers, pex_cash="091").set_index("xero_id")
    assert (frame.loc["in", "amount"], frame.loc["out", "amount"]) == (Decimal("500.00"), Decimal("-120.00"))
    totals = reconcile_report.summary(frame).set_index("status").loc[models.XERO_ONLY]
    assert (totals["money_out"], totals["money_in"], totals["net"]) == (
        Decimal("120.00"), Decimal("500.00"), Decimal("380.00"))


def test_the_csv_has_the_columns_in_order_and_neutralises_formulas():
    evil = spend(pex_id=1, contact="=HYPERLINK(\"http://x\")")
    evil = MappingResult(
        PexTransaction(1, 7378, "cardholder", "Network", "Spend", Decimal("-15.00"), datetime(2026, 3, 2, 14),
                       merchant_name="@SUM(A1:A9)", cardholder="+Pat"),
        evil.kind, evil.planned, None, "", DAY, evil.link,
    )
    frame = reconcile.reconcile([evil, not_planned(pex_id=2, reason="-declined\tby bank")], [], [])
    buffer = io.StringIO()
    reconcile_report.to_csv(frame, buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert list(rows[0].keys()) == reconcile_report.COLUMNS
    assert rows[0]["merchant"] == "'@SUM(A1:A9)"
    assert rows[0]["cardholder"] == "'+Pat"
    assert rows[0]["contact"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["amount"] == "-15.00"  # a plain negative number stays a number
    assert (rows[0]["pex_id"], rows[0]["date"], rows[0]["status"]) == ("1", "2026-03-02", models.NEW)
    assert (rows[0]["xero_id"], rows[0]["xero_amount"]) == ("", "")
    assert rows[1]["reason"] == "'-declined\tby bank"


def test_the_csv_can_be_written_to_a_path(tmp_path: Path):
    path = tmp_path / "reconciliation.csv"
    reconcile_report.to_csv(reconcile.reconcile([spend()], [xero_spend(amount="12.00")], []), path)
    (row,) = list(csv.DictReader(path.open(newline="")))
    assert (row["status"], row["xero_amount"], row["differences"]) == (
        models.CHANGED, "12.00", "amount: Xero 12.00, PEX 15.00")


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("=1+2", "'=1+2"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-12.50", "-12.50"),
        ("-12", "-12"),
        ("-12.50e3", "'-12.50e3"),
        ("Home Depot", "Home Depot"),
        ("a=b", "a=b"),
        ("", ""),
        (12, 12),
        (None, None),
    ],
)
def test_neutralise(cell, expected):
    assert csvsafe.neutralise(cell) == expected


# ---------------------------------------------------------------------------------------- the bench


def test_the_bench_generator_and_reconcile_still_run_at_a_small_size():
    path = Path(__file__).resolve().parent.parent / "bench" / "bench_reconcile.py"
    spec = importlib.util.spec_from_file_location("bench_reconcile", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results, bank_transactions, bank_transfers = bench.generate(1_000)
    assert len(results) == 1_000 and len(bank_transactions) + len(bank_transfers) == 1_000
    frame = reconcile.reconcile(results, bank_transactions, bank_transfers, lock_date=date(2026, 1, 5))
    counts = frame["status"].value_counts()
    assert (frame["status"] != models.XERO_ONLY).sum() == 1_000
    assert counts[models.XERO_ONLY] == 1_000 // 50
    assert counts[models.SYNCED] > 0 and counts[models.CHANGED] > 0 and counts[models.POSSIBLE_DUPLICATE] > 0
    assert counts[models.NEW] > 0 and counts[models.SKIPPED] > 0


# ------------------------------------------------------------------------------------------- voided


def declined(pex_id=5, day=DAY) -> MappingResult:
    tx = pex_tx(pex_id, Decimal("-15.00"), day, merchant_name="HOME DEPOT #4421", is_decline=True,
                description="Insufficient funds")
    return MappingResult(tx, models.PURCHASE, None, models.SKIPPED, "declined in PEX: Insufficient funds", day,
                         "link", voided=True)


def test_declined_after_it_was_written_is_voided_and_keeps_the_xero_id():
    frame = reconcile.reconcile([declined()], [xero_spend("PEX-5", xid="x-5")], [])
    row = frame.iloc[0]
    assert row["status"] == models.VOIDED
    assert row["reason"] == ("voided in PEX, still in Xero (declined in PEX: Insufficient funds): release it "
                             "(remove) and the next sync deletes it in Xero")
    assert row["xero_id"] == "x-5"
    assert reconcile_report.summary(frame).set_index("status").loc[models.VOIDED, "count"] == 1


def test_declined_and_never_written_or_deleted_since_stays_skipped():
    frame = reconcile.reconcile([declined(), declined(6)], [xero_spend("PEX-6", xid="x-6", status="DELETED")], [])
    assert list(frame["status"]) == [models.SKIPPED, models.SKIPPED]
    assert list(frame["reason"]) == ["declined in PEX: Insufficient funds"] * 2


def test_a_voided_record_on_or_before_the_lock_date_or_reconciled_cannot_be_removed():
    frame = reconcile.reconcile([declined(5), declined(6, day=date(2026, 3, 20))],
                           [xero_spend("PEX-5", xid="x-5"),
                            xero_spend("PEX-6", xid="x-6", day=date(2026, 3, 20), is_reconciled=True)],
                           [], lock_date=date(2026, 3, 2))
    assert list(frame["status"]) == [models.VOIDED, models.VOIDED]
    assert "on or before Xero's lock date 2026-03-02, so it cannot be removed" in frame["reason"][0]
    assert "reconciled in Xero, which refuses to delete it" in frame["reason"][1]


def test_a_voided_transfer_is_removed_like_a_bank_transaction_unless_reconciled():
    tx = PexTransaction(2, 1, "business", "Transfer", "BusinessFunding", Decimal("500.00"), datetime(2026, 3, 2, 9),
                        is_decline=True)
    result = MappingResult(tx, models.TRANSFER, None, models.SKIPPED, "declined in PEX: no reason given", DAY,
                           "link", voided=True)
    transfer = XeroBankTransfer("t-2", DAY, Decimal("500.00"), "090", "091", "PEX-2")
    row = reconcile.reconcile([result], [], [transfer]).iloc[0]
    assert row["status"] == models.VOIDED and row["xero_id"] == "t-2"
    assert row["reason"].endswith(reconcile.REMOVE_HINT)
    reconciled = XeroBankTransfer("t-2", DAY, Decimal("500.00"), "090", "091", "PEX-2", is_reconciled=True)
    row = reconcile.reconcile([result], [], [reconciled]).iloc[0]
    assert row["status"] == models.VOIDED and "reconciled in Xero, which refuses to delete it" in row["reason"]


def test_the_csv_lists_voided_rows():
    buffer = io.StringIO()
    reconcile_report.to_csv(reconcile.reconcile([declined()], [xero_spend("PEX-5", xid="x-5")], []), buffer)
    row = list(csv.DictReader(io.StringIO(buffer.getvalue())))[0]
    assert (row["status"], row["xero_id"]) == ("voided", "x-5")
    assert row["reason"].startswith("voided in PEX, still in Xero")


def test_the_csv_file_has_a_byte_order_mark_and_ascii_arrows(tmp_path: Path):
    """Excel, opening the file by double-click, reads UTF-8 only after a byte-order mark; our own arrow would
    still be garbled by any tool that guesses, so it is written "->". A merchant's own letters stay."""
    named = MappingResult(
        PexTransaction(1, 7378, "cardholder", "Network", "Spend", Decimal("-15.00"), datetime(2026, 3, 2, 14),
                       merchant_name="Café Zürich"),
        "purchase", spend().planned, None, "", DAY, "")
    frame = reconcile.reconcile([named, funding()], [], [])
    data = reconcile_report.csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "→" not in text and "090 -> 091" in text and "Café Zürich" in text
    path = tmp_path / "r.csv"
    reconcile_report.to_csv(frame, path)
    assert path.read_bytes() == data


def test_typography_becomes_ascii_and_names_keep_their_letters():
    assert csvsafe.ascii_typography("090 → 091 — done…") == "090 -> 091 - done..."
    assert csvsafe.ascii_typography("Müller · 東京") == "Müller - 東京"
