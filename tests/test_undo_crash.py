"""An undo is exactly once across crashes: `python -m pexxero undo --run N --yes` runs as a child process, is
killed with SIGKILL while the Xero double holds its first deletion request (which Xero commits once the child
has hung up), and is rerun: the rerun settles what the dead one left in flight, removes the rest, each record
once, and names what the dead attempt removed. Kill points are chosen by state, never by time."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from pexxero import models
from pexxero.sync import run_sync
from sandbox_env import PROJECT_ROOT, open_sandbox

pytestmark = pytest.mark.slow


def _deletions(env, since: int = 0) -> list:
    return [r for r in env.xero.requests[since:] if r.method == "POST"
            and r.path.lower().endswith(("/banktransactions", "/banktransfers"))]


def _undo_killed_in_flight(env, run_id: int) -> int:
    """Start the undo; hold its first deletion request at Xero, SIGKILL the child while it waits for the answer,
    and let Xero commit the request once the child has hung up. Returns the child's exit code."""
    base = len(env.xero.requests)
    env.hold_next("POST", "/BankTransactions")
    proc = subprocess.Popen([sys.executable, "-m", "pexxero", "--db", str(env.db_path), "undo", "--run", str(run_id),
                             "--yes"], env=env.child_env(), cwd=str(PROJECT_ROOT), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        env.wait_held(timeout=90)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        env.release()
    # Xero finishes the request the dead child sent (it commits what arrived)
    assert env.xero.wait_for(lambda: all(r.status for r in _deletions(env, base)), timeout=30)
    return proc.returncode


def test_killed_mid_undo_then_rerun_removes_each_record_once(tmp_path):
    with open_sandbox(tmp_path, attachments=False) as env:
        first = run_sync(env.conn, today=env.today)
        assert first["status"] == models.SUCCEEDED, first
        created = {it["pex_id"]: it for it in env.conn.store.items(first["id"]) if it["outcome"] == models.CREATED}
        banked = sum(1 for it in created.values() if it["record_type"] == "BankTransaction")
        transfers = len(created) - banked
        batches = -(-banked // 50) + -(-transfers // 50)
        assert batches >= 3, (banked, transfers)  # two bank transaction requests and one of transfers at least
        base = len(env.xero.requests)

        assert _undo_killed_in_flight(env, first["id"]) == -signal.SIGKILL
        assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)  # left in flight

        rerun = env.cli("undo", "--run", str(first["id"]), "--yes")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "removed already by undo run" in rerun.stdout
        assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []

        # every record the run created is deleted in Xero, and was asked for once: one key per batch, ever
        records = {r.get("BankTransactionID") or r.get("BankTransferID"): r["Status"]
                   for r in env.xero.bank_transactions(env.tenant_id) + env.xero.bank_transfers(env.tenant_id)}
        assert {records[it["xero_id"]] for it in created.values()} == {"DELETED"}
        keys = {r.idempotency_key for r in _deletions(env, base)}
        assert len(keys) == batches
        # each record is removed by exactly one of the two undo runs, the other names it
        undos = [r for r in env.conn.history() if r["mode"] == models.UNDO]
        assert len(undos) == 2 and undos[1]["status"] == models.INTERRUPTED
        removed_by = {pex_id: [u["id"] for u in undos for it in env.conn.store.items(u["id"])
                               if it["pex_id"] == pex_id and it["outcome"] == models.REMOVED] for pex_id in created}
        assert {pex_id: len(by) for pex_id, by in removed_by.items() if len(by) != 1} == {}

        # and a third undo has nothing left to do, sending nothing
        before = len(_deletions(env))
        again = env.cli("undo", "--run", str(first["id"]), "--yes")
        assert again.returncode == 0 and len(_deletions(env)) == before
