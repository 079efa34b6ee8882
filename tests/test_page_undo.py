"""UNDO THIS RUN on the History page (AppTest): the list of what would be removed and kept, nothing removed
before YES, REMOVE THEM, then the undo run in the table and the records deleted in the Xero double."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from page_helpers import app, button, no_exception, set_up, texts

from pexxero import models
from pexxero.clients.pex import eastern_today
from pexxero.sync import run_sync


def test_undo_button_shows_the_list_then_removes_after_confirmation(page_env, doubles):
    conn = set_up(page_env, doubles)
    today = eastern_today()
    setup = conn.setup()
    conn.save_setup(replace(setup, pex=replace(setup.pex, start_date=today - timedelta(days=6))))  # a few records
    first = run_sync(conn, today=today)
    assert first["status"] == models.SUCCEEDED and first["written"] >= 1, first
    created = {it["xero_id"] for it in conn.store.items(first["id"]) if it["outcome"] == models.CREATED}
    writes = len([r for r in doubles.xero.requests if r.method in ("PUT", "POST")])

    at = app("history").run()
    no_exception(at)
    button(at, "UNDO THIS RUN").click().run()
    no_exception(at)
    assert f"Run {first['id']} created {len(created)} record" in texts(at)
    plan = at.dataframe[1].value
    assert set(plan["Xero id"]) == created and set(plan["Undo"]) == {"will be removed"}
    assert len([r for r in doubles.xero.requests if r.method in ("PUT", "POST")]) == writes  # nothing yet

    button(at, "YES, REMOVE THEM").click().run()
    no_exception(at)
    assert "Succeeded" in texts(at) and f"undo of run {first['id']}" in texts(at)
    table = at.dataframe[0].value
    assert table.iloc[0]["Mode"] == f"Undo of run {first['id']}" and table.iloc[0]["Status"] == "Succeeded"
    deleted = {t["BankTransactionID"] for t in doubles.xero.bank_transactions(conn.tenant_id())
               if t["Status"] == "DELETED"} | {t["BankTransferID"] for t in doubles.xero.bank_transfers(conn.tenant_id())
                                                if t.get("Status") == "DELETED"}
    assert created <= deleted
