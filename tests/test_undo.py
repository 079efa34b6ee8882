"""Undo of a sync run: what run N created that is still in Xero is removed (Status DELETED), what Xero will not
let go (reconciled, dated on or before the lock date) or someone edited since is kept and named; the undo is a
run of its own in History; Preview shows the removed items as `new` again and the next sync writes each exactly
once more, under a new Idempotency-Key (the old one would make Xero replay the deleted record).

Real PEX client and Xero SDK over loopback against the doubles, real SQLite, the real runner."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from pexxero import history, models
from pexxero.models import NEW, SYNCED
from pexxero.sync import EXIT_CODES, run_sync


def _live(env) -> Counter:
    """Live (not deleted) records per PEX reference in the Xero double: bank transactions and transfers."""
    records = [t for t in env.xero.bank_transactions(env.tenant_id) if not t["Type"].endswith("-TRANSFER")]
    records += env.xero.bank_transfers(env.tenant_id)
    return Counter(r["Reference"] for r in records if str(r.get("Reference") or "").startswith("PEX-")
                   and r.get("Status") != "DELETED")


def _record(env, reference: str, *, transfers: bool = False) -> dict:
    pool = env.xero.bank_transfers(env.tenant_id) if transfers else env.xero.bank_transactions(env.tenant_id)
    found = [r for r in pool if r.get("Reference") == reference and not r.get("Type", "").endswith("-TRANSFER")]
    assert len(found) >= 1, reference
    return found[-1]


def _assert_receipts_once_on_live_records(env) -> None:
    """Each PEX receipt of each written record once on its live record (the deleted one keeps its own copy)."""
    held = Counter()
    for tx in env.xero.bank_transactions(env.tenant_id):
        if tx["Status"] != "DELETED":
            for att in env.xero.attachments(env.tenant_id, tx["BankTransactionID"]):
                held[(tx["Reference"], att["FileName"].rsplit(".", 1)[0])] += 1
    wanted = env.receipts_wanted()
    assert wanted and {k: n for k, n in held.items() if n > 1} == {}
    assert sorted(wanted - set(held)) == []
    assert env.writes_elsewhere() == []


def _created(env, run_id: int) -> dict[str, dict]:
    return {it["reference"]: it for it in env.conn.store.items(run_id) if it["outcome"] == models.CREATED}


@pytest.mark.slow
def test_sync_undo_sync_writes_each_item_exactly_once_more(sandbox):
    env = sandbox
    first = run_sync(env.conn, today=env.today)
    assert first["status"] == models.SUCCEEDED, first
    created = _created(env, first["id"])
    kinds = Counter(it["record_type"] for it in created.values())
    assert kinds["BankTransaction"] > 3 and kinds["BankTransfer"] >= 1, kinds  # both kinds are undone

    plan = env.conn.undo_plan(first["id"])
    assert plan.refusal == "" and plan.kept == [] and len(plan.removable) == len(created)
    writes = env.writes()
    assert env.writes() == writes  # the plan wrote nothing

    undo = env.conn.undo(first["id"])
    assert undo["status"] == models.SUCCEEDED and EXIT_CODES[undo["status"]] == 0, undo
    assert undo["mode"] == models.UNDO and undo["undoes"] == first["id"]
    assert undo["written"] == len(created) and f"{len(created)} removed from Xero" in undo["message"]
    for ref, it in created.items():
        record = _record(env, ref, transfers=it["record_type"] == "BankTransfer")
        assert (record.get("BankTransactionID") or record.get("BankTransferID")) == it["xero_id"]
        assert record["Status"] == "DELETED"
    assert all(_live(env)[ref] == 0 for ref in created)
    items = {it["reference"]: it for it in env.conn.store.items(undo["id"])}
    assert {it["outcome"] for it in items.values()} == {models.REMOVED}
    row = history.run_row(env.conn.run(undo["id"]))
    assert row["Mode"] == f"Undo of run {first['id']}" and row["Status"] == "Succeeded"

    frame = env.conn.preview(today=env.today).frame
    status = {f"PEX-{int(p)}": s for p, s in zip(frame["pex_id"], frame["status"])}
    assert {status[ref] for ref in created} == {NEW}

    again = run_sync(env.conn, today=env.today)
    assert again["status"] == models.SUCCEEDED, again
    assert set(_created(env, again["id"])) == set(created)
    live = _live(env)
    assert {ref: live[ref] for ref in created if live[ref] != 1} == {}
    for ref, it in created.items():  # the undone ones stay deleted; the new ones are other records
        old = [r for r in env.xero.bank_transactions(env.tenant_id) + env.xero.bank_transfers(env.tenant_id)
               if (r.get("BankTransactionID") or r.get("BankTransferID")) == it["xero_id"]]
        assert [r["Status"] for r in old] == ["DELETED"]
        assert _created(env, again["id"])[ref]["xero_id"] != it["xero_id"]
    frame = env.conn.preview(today=env.today).frame
    status = {f"PEX-{int(p)}": s for p, s in zip(frame["pex_id"], frame["status"])}
    assert {status[ref] for ref in created} == {SYNCED}
    _assert_receipts_once_on_live_records(env)

    # undoing the first run again finds nothing of it left in Xero
    plan = env.conn.undo_plan(first["id"])
    assert plan.removable == [] and {it.undone_by for it in plan.items} == {undo["id"]}


def _recent_only(env) -> None:
    """A setup range of the last week: a run of a few records, not the demo's ninety (a lean test)."""
    setup = env.conn.setup()
    env.setup(pex=replace(setup.pex, start_date=env.today - timedelta(days=6)))


def _cli(env, monkeypatch, capsys, *args: str):
    """`python -m pexxero --db DB ARGS...`, in this process (a child process costs seconds on a busy machine)."""
    from pexxero import cli

    for name, value in env.env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["--db", str(env.db_path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_reconciled_locked_and_edited_records_are_kept_and_named(sandbox, monkeypatch, capsys):
    env = sandbox
    _recent_only(env)
    ids = [env.add_pex_purchase(f"-1{n}.25", f"Undo Merchant {n}", days_back=4) for n in range(4)]
    first = run_sync(env.conn, today=env.today)
    assert first["status"] == models.SUCCEEDED, first
    xero_id = {pex_id: _record(env, f"PEX-{pex_id}")["BankTransactionID"] for pex_id in ids}
    reconciled, locked, changed, free = ids
    env.xero.set_reconciled(env.tenant_id, xero_id[reconciled])
    env.xero.edit_bank_transaction(env.tenant_id, xero_id[changed], Total="99.00")
    lock_day = env.today - timedelta(days=4)  # the four are dated 4 days back
    # only `locked` lies on or before the lock date: moved back a day in Xero, and that day locked
    env.xero.edit_bank_transaction(env.tenant_id, xero_id[locked], Date=(lock_day - timedelta(days=1)).isoformat())
    env.xero.set_lock_date(env.tenant_id, lock_day - timedelta(days=1))
    env.conn.reset_clients()  # the organisation (its lock date) is read afresh

    plan = env.conn.undo_plan(first["id"])
    by_id = {it.pex_id: it for it in plan.items}
    assert by_id[reconciled].action == "keep" and "reconciled in Xero" in by_id[reconciled].reason
    assert by_id[locked].action == "keep" and "on or before Xero's lock date" in by_id[locked].reason
    assert by_id[changed].action == "keep" and "edited in Xero since pexxero wrote it (amount: Xero 99.00" \
        in by_id[changed].reason
    assert by_id[free].action == "remove"

    before = env.writes()
    code, out, err = _cli(env, monkeypatch, capsys, "undo", "--run", str(first["id"]))  # says what, writes nothing
    assert code == 0, err
    assert "Nothing was removed" in out and f"PEX-{reconciled}" in out
    assert env.writes() == before

    code, out, err = _cli(env, monkeypatch, capsys, "undo", "--run", str(first["id"]), "--yes")
    assert code == 2, out + err
    kept = [line for line in out.splitlines() if "kept in Xero" in line]
    for pex_id in (reconciled, locked, changed):
        assert any(line.startswith(str(pex_id)) for line in kept), out
        assert _record(env, f"PEX-{pex_id}")["Status"] == "AUTHORISED"
    assert "reconciled in Xero" in out and "lock date" in out and "edited in Xero" in out
    assert _record(env, f"PEX-{free}")["Status"] == "DELETED"
    undo = env.conn.history(1)[0]
    assert undo["mode"] == models.UNDO and undo["status"] == models.PARTIAL
    outcomes = {it["pex_id"]: it["outcome"] for it in env.conn.store.items(undo["id"])}
    assert {pex_id: outcomes[pex_id] for pex_id in ids} == {
        reconciled: models.KEPT, locked: models.KEPT, changed: models.KEPT, free: models.REMOVED}
    code, out, _ = _cli(env, monkeypatch, capsys, "history", "--run", str(undo["id"]))
    assert code == 0 and "kept in Xero" in out and "removed from Xero" in out
    assert f"Undo of run {first['id']}" in _cli(env, monkeypatch, capsys, "history")[1]


def test_a_refused_run_says_why(sandbox, monkeypatch, capsys):
    env = sandbox
    _recent_only(env)
    assert env.conn.undo_plan(999).refusal == "There is no run 999."
    first = run_sync(env.conn, today=env.today)
    undo = env.conn.undo(first["id"])
    plan = env.conn.undo_plan(undo["id"])
    assert plan.refusal.startswith(f"Run {undo['id']} is an undo itself")
    code, out, err = _cli(env, monkeypatch, capsys, "undo", "--run", str(undo["id"]), "--yes")
    assert code == 1 and "is an undo itself" in err


def test_a_recreation_left_in_flight_is_sent_again_not_taken_for_the_deleted_record(sandbox):
    """After an undo, the re-creating sync dies with its request unanswered: the next run looks the reference up,
    finds only the deleted record (not this request's), and resends under the new generation's key: one live
    record each, written once."""
    from sandbox_env import make_connection

    env = sandbox
    _recent_only(env)
    first = run_sync(env.conn, today=env.today)
    old = {ref: it["xero_id"] for ref, it in _created(env, first["id"]).items() if it["record_type"] == "BankTransaction"}
    assert old
    assert env.conn.undo(first["id"])["status"] == models.SUCCEEDED
    keys = {r.idempotency_key for r in env.xero.requests if r.method == "PUT" and r.path.endswith("/BankTransactions")}

    no_retries = make_connection(env.db_path, env.env, {"minute_limit": 100_000, "max_retries": 0})
    env.xero.faults.queue("503", method="PUT", path_contains="/BankTransactions")
    dead = run_sync(no_retries, today=env.today)
    assert dead["status"] == models.FAILED, dead
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)
    sent = [r for r in env.xero.requests if r.method == "PUT" and r.path.endswith("/BankTransactions")]
    assert sent[-1].idempotency_key not in keys  # a new generation, a new key

    again = run_sync(env.conn, today=env.today)
    assert again["status"] == models.SUCCEEDED, again
    live = _live(env)
    assert {ref: live[ref] for ref in old if live[ref] != 1} == {}
    items = {it["reference"]: it for it in env.conn.store.items(dead["id"])}
    assert {ref for ref in old if items[ref]["outcome"] == models.CREATED and items[ref]["xero_id"] != old[ref]} \
        == set(old)
