"""A voided bank transfer released for removal is deleted through Xero's API (`POST /BankTransfers`, Status
DELETED) by the removal path of a sync, once; one whose request was left in flight is looked up by id (deleted
transfers are listed only when asked) and not sent again.

The runner's removal step against the Xero double over loopback (real SDK, real SQLite), on a transfer the demo
organisation already holds."""

from __future__ import annotations

from pexxero import models
from pexxero.models import SyncItem
from pexxero.sync.runner import Runner


def _transfer_deletes(env) -> int:
    return sum(1 for r in env.xero.requests if r.method == "POST" and r.path.endswith("/BankTransfers"))


def _runner(env, conn=None) -> tuple[Runner, list[SyncItem]]:
    lock = env.xero.books[env.tenant_id].period_lock_date
    held = [t for t in env.xero.bank_transfers(env.tenant_id) if t["Reference"].startswith("PEX-")
            and t["DateString"][:10] > lock.isoformat()]  # after the lock date: Xero lets them go
    assert len(held) >= 2
    run_id = env.conn.store.queue_run(env.conn.connection_id)
    items = [SyncItem(pex_id=int(t["Reference"][4:]), kind="transfer", reference=t["Reference"],
                      record_type="BankTransfer", outcome=models.PLANNED, xero_id=t["BankTransferID"], action="remove")
             for t in held[:2]]
    env.conn.store.add_items(run_id, items)
    return Runner(conn or env.conn, run_id, tenant=env.tenant_id), items


def _status(env, xero_id: str) -> str:
    return next(t["Status"] for t in env.xero.bank_transfers(env.tenant_id) if t["BankTransferID"] == xero_id)


def test_a_released_voided_transfer_is_deleted_once_through_the_api(sandbox):
    env = sandbox
    runner, items = _runner(env)
    before = _transfer_deletes(env)
    runner.remove(items[:1])
    assert runner.removed == 1 and _transfer_deletes(env) == before + 1
    assert _status(env, items[0].xero_id) == "DELETED" and _status(env, items[1].xero_id) == "AUTHORISED"
    row = next(it for it in env.conn.store.items(runner.run_id) if it["pex_id"] == items[0].pex_id)
    assert row["outcome"] == models.REMOVED


def test_a_transfer_removal_left_in_flight_is_looked_up_and_not_sent_again(sandbox):
    from sandbox_env import make_connection

    env = sandbox
    # no retries: the one dropped answer ends the attempt (a retry would only wait out the backoff)
    runner, items = _runner(env, make_connection(env.db_path, env.env, {"minute_limit": 100_000, "max_retries": 0}))
    env.xero.faults.queue("commit_then_drop", method="POST", path_contains="/BankTransfers")
    try:  # Xero deletes it, the answer never comes: the request stays in flight
        runner.remove(items[1:])
    except Exception:  # noqa: BLE001 - the run would stop here; what matters is what the next one does
        pass
    env.xero.faults.clear()
    assert _status(env, items[1].xero_id) == "DELETED"
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)
    sent = _transfer_deletes(env)
    Runner(env.conn, env.conn.store.queue_run(env.conn.connection_id), tenant=env.tenant_id).recover()
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []
    assert _transfer_deletes(env) == sent  # found deleted by id: not sent again
    row = next(it for it in env.conn.store.items(runner.run_id) if it["pex_id"] == items[1].pex_id)
    assert row["outcome"] == models.REMOVED
