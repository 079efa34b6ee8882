"""A purchase written to Xero and declined (reversed, voided) in PEX since: `voided`, never removed from Xero
without the user's release, removed exactly once after it, and a rerun does nothing more.

Real PEX client and Xero SDK over loopback against the doubles, real SQLite, the real sync runner."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pexxero import models
from pexxero.models import SKIPPED, VOIDED
from pexxero.sync import run_sync


def _row(frame, pex_id: int):
    return frame[frame["pex_id"] == pex_id].iloc[0]


def _decline(env, pex_id: int) -> None:
    row = next(r for r in env.pex.transactions["cardholder"] if r["TransactionId"] == pex_id)
    row.update(IsDecline=True, SettlementTime=None, Description="Reversed by the merchant")
    env.expire_pex_cache()


def _xero_record(env, pex_id: int) -> dict:
    records = [t for t in env.xero.bank_transactions(env.tenant_id) if t.get("Reference") == f"PEX-{pex_id}"]
    assert len(records) == 1, records
    return records[0]


def _deletes(env) -> int:
    return sum(1 for r in env.xero.requests if r.method == "POST" and r.path.endswith("/BankTransactions"))


@pytest.fixture
def written(sandbox):
    """A fresh purchase synced into Xero, then declined in PEX: (env, pex_id, xero_id)."""
    env = sandbox
    pex_id = env.add_pex_purchase("-33.30", "Reversal Hardware", days_back=5)
    run = run_sync(env.conn, today=env.today)
    assert run["status"] == models.SUCCEEDED, run
    xero_id = _xero_record(env, pex_id)["BankTransactionID"]
    _decline(env, pex_id)
    return env, pex_id, xero_id


def test_declined_after_sync_is_voided_with_its_xero_id(written):
    env, pex_id, xero_id = written
    row = _row(env.conn.preview(today=env.today).frame, pex_id)
    assert row["status"] == VOIDED
    assert row["xero_id"] == xero_id
    assert row["reason"].startswith("voided in PEX, still in Xero (declined in PEX: Reversed by the merchant)")


def test_not_removed_without_release_then_removed_once_and_a_rerun_does_nothing(written):
    env, pex_id, xero_id = written
    before = _deletes(env)
    run = run_sync(env.conn, today=env.today)
    assert run["status"] == models.SUCCEEDED
    assert _xero_record(env, pex_id)["Status"] == "AUTHORISED" and _deletes(env) == before
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert item["outcome"] == models.ITEM_SKIPPED and "not removed unless released (remove)" in item["reason"]

    env.conn.release(pex_id, "remove")
    run = run_sync(env.conn, today=env.today)
    assert run["status"] == models.SUCCEEDED, run
    assert "1 voided in PEX removed from Xero" in run["message"]
    assert _xero_record(env, pex_id)["Status"] == "DELETED" and _deletes(env) == before + 1
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert (item["outcome"], item["xero_id"], item["action"]) == (models.REMOVED, xero_id, "remove")
    intents = [i for i in env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)]
    assert intents == []
    assert env.conn.releases() == {}

    row = _row(env.conn.preview(today=env.today).frame, pex_id)  # deleted in Xero: a plain declined row again
    assert row["status"] == SKIPPED
    run = run_sync(env.conn, today=env.today)
    assert _deletes(env) == before + 1 and "removed" not in run["message"]
    assert len([t for t in env.xero.bank_transactions(env.tenant_id)
                if t.get("Reference") == f"PEX-{pex_id}"]) == 1  # kept by Xero as DELETED, never written again


def test_history_says_removed_from_xero(written):
    from pexxero.history import item_rows

    env, pex_id, xero_id = written
    env.conn.release(pex_id, "remove")
    run = run_sync(env.conn, today=env.today)
    row = next(r for r in item_rows(env.conn, run["id"]) if r["PEX id"] == pex_id)
    assert (row["Outcome"], row["Xero id"]) == ("removed from Xero", xero_id)
    assert "deleted in Xero" in row["Why"]


class Crash(BaseException):
    """The sync process dying mid-request (what SIGKILL does, without killing the test)."""


def _released_removal_dies(env, pex_id: int, monkeypatch, *, after_xero_deleted: bool) -> None:
    """Release the record for removal and run a sync that dies in its delete request: after Xero deleted the
    record (the answer never comes back) or before the request left."""
    env.conn.release(pex_id, "remove")
    gateway = env.conn.xero()
    real = gateway.delete_bank_transactions

    def die(*args, **kwargs):
        if after_xero_deleted:
            real(*args, **kwargs)
        raise Crash()

    monkeypatch.setattr(gateway, "delete_bank_transactions", die)
    with pytest.raises(Crash):
        run_sync(env.conn, today=env.today)
    monkeypatch.undo()


def test_a_removal_left_in_flight_is_looked_up_then_settled_without_a_second_delete(written, monkeypatch):
    env, pex_id, xero_id = written
    _released_removal_dies(env, pex_id, monkeypatch, after_xero_deleted=True)
    assert _xero_record(env, pex_id)["Status"] == "DELETED"
    [intent] = env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)
    assert intent["endpoint"] == "remove"
    deletes = _deletes(env)
    run = run_sync(env.conn, today=env.today)
    assert run["status"] == models.SUCCEEDED, run
    assert _deletes(env) == deletes  # found deleted by reference: not sent again
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []
    assert env.conn.releases() == {}
    item = next(it for it in env.conn.store.items(intent["run_id"]) if it["pex_id"] == pex_id)
    assert item["outcome"] == models.REMOVED  # the run that sent it says what happened to it


def test_a_removal_that_died_before_it_was_sent_is_resent_with_the_same_key(written, monkeypatch):
    env, pex_id, xero_id = written
    _released_removal_dies(env, pex_id, monkeypatch, after_xero_deleted=False)
    assert _xero_record(env, pex_id)["Status"] == "AUTHORISED"
    [intent] = env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)
    before = len(env.xero.requests)
    run = run_sync(env.conn, today=env.today)
    assert run["status"] == models.SUCCEEDED, run
    assert _xero_record(env, pex_id)["Status"] == "DELETED"
    keys = [r.idempotency_key for r in env.xero.requests[before:]
            if r.method == "POST" and r.path.endswith("/BankTransactions")]
    assert keys == [intent["key"]]


def test_a_voided_record_on_or_before_the_lock_date_is_not_removed_and_says_so(written):
    env, pex_id, xero_id = written
    env.xero.set_lock_date(env.tenant_id, env.today - timedelta(days=1))
    row = _row(env.conn.preview(today=env.today).frame, pex_id)
    assert row["status"] == VOIDED and "on or before Xero's lock date" in row["reason"]
    env.conn.release(pex_id, "remove")
    before = _deletes(env)
    run = run_sync(env.conn, today=env.today)
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert item["outcome"] == models.ITEM_SKIPPED and "cannot be removed" in item["reason"]
    assert _deletes(env) == before and _xero_record(env, pex_id)["Status"] == "AUTHORISED"


def test_the_xero_double_refuses_to_delete_in_a_locked_period(written):
    env, pex_id, xero_id = written
    env.xero.set_lock_date(env.tenant_id, env.today - timedelta(days=1))
    [result] = env.conn.xero().delete_bank_transactions([(f"PEX-{pex_id}", xero_id)], "k-locked")
    assert not result.ok and "lock date" in result.messages[0]
    assert _xero_record(env, pex_id)["Status"] == "AUTHORISED"


def test_the_demo_organisation_holds_a_voided_purchase(sandbox):
    frame = sandbox.conn.preview(today=sandbox.today).frame
    assert (frame["status"] == VOIDED).sum() >= 1


def test_from_the_dashboard_the_removal_is_the_one_the_preview_showed(written):
    env, pex_id, xero_id = written
    env.conn.preview(today=env.today)  # what the user saw (the saved plan)
    env.conn.release(pex_id, "remove")
    run = run_sync(env.conn, today=env.today, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert (item["outcome"], item["xero_id"]) == (models.REMOVED, xero_id)
    assert _xero_record(env, pex_id)["Status"] == "DELETED"


def test_from_the_dashboard_a_voided_row_the_preview_did_not_show_is_not_removed(written):
    env, pex_id, xero_id = written
    env.conn.release(pex_id, "remove")
    env.conn.store.db.execute("DELETE FROM plans")  # no preview shown since it was voided
    env.conn.store.db.conn.commit()
    env.conn.preview(today=env.today, save_plan=False)
    run = run_sync(env.conn, today=env.today, from_preview=True)
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert item["outcome"] == models.ITEM_SKIPPED and "preview again to remove it" in item["reason"]
    assert _xero_record(env, pex_id)["Status"] == "AUTHORISED"
