"""Contract tests of what an undo asks of the Xero gateway, the real SDK over loopback against the Xero double:
bank transfers deleted through `POST /BankTransfers` (Status DELETED, and their two bank transaction lines with
them), a reconciled or locked transfer refused with Xero's words, deleted transfers listed only when asked
(by id), bank transactions read by id with their Status."""

from __future__ import annotations

from datetime import date, timedelta

from pexxero.sandbox import demo
from test_xero_gateway import calls_to, clock, double, gateway, purchase, transfer  # noqa: F401 - fixtures


def test_transfers_are_deleted_by_id_and_listed_deleted_only_when_asked(gateway, double):
    made = gateway.create_bank_transfers([transfer(9601, "40.00"), transfer(9602, "41.00"),
                                          transfer(9603, "42.00")], "key-undo-transfers")
    ids = [r.xero_id for r in made]
    double.set_transfer_reconciled(demo.TENANT_ID, ids[1])
    results = gateway.delete_bank_transfers([("PEX-9601", ids[0]), ("PEX-9602", ids[1])], "key-undo-del")
    assert [r.ok for r in results] == [True, False]
    assert "reconciled" in results[1].messages[0]
    assert "summarizeErrors=false" in calls_to(double, "/BankTransfers", "POST")[0].query.replace("False", "false")

    by_id = {t.bank_transfer_id: t for t in gateway.bank_transfers_by_id(ids)}
    assert by_id[ids[0]].status == "DELETED" and by_id[ids[1]].status == "AUTHORISED" and by_id[ids[1]].is_reconciled
    assert {t.reference for t in gateway.bank_transfers_by_reference(["PEX-9601", "PEX-9602"])} == {"PEX-9602"}
    lines = [t for t in double.bank_transactions(demo.TENANT_ID) if t["Reference"] == "PEX-9601"]
    assert len(lines) == 2 and {t["Status"] for t in lines} == {"DELETED"}  # its SPEND/RECEIVE-TRANSFER lines

    double.set_lock_date(demo.TENANT_ID, date.today())
    (locked,) = gateway.delete_bank_transfers([("PEX-9603", ids[2])], "key-undo-locked")
    assert not locked.ok and any("lock" in m.lower() for m in locked.messages)


def test_bank_transactions_by_id_include_deleted_ones(gateway):
    made = gateway.create_bank_transactions([purchase(9611, "5.00"), purchase(9612, "6.00")], "key-undo-bt")
    ids = [r.xero_id for r in made]
    assert gateway.delete_bank_transactions([("PEX-9611", ids[0])], "key-undo-bt-del")[0].ok
    found = {t.bank_transaction_id: t.status for t in gateway.bank_transactions_by_id(ids + [ids[0]])}
    assert found == {ids[0]: "DELETED", ids[1]: "AUTHORISED"}
    assert gateway.bank_transactions_by_id([]) == []
    assert date.today() - timedelta(days=3) in {t.date for t in gateway.bank_transactions_by_id(ids)}
