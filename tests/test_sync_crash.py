"""Exactly once across crashes: `python -m pexxero sync` runs as a child process against the doubles (which run in
this test process, with latency on Xero), is killed with SIGKILL at seeded random points, is rerun each time, and
in the end Xero holds exactly one record per eligible PEX transaction, none missing — and each receipt once.
The commit-then-drop loop runs on PostgreSQL too (the other two on SQLite only, to keep the suite short).

Kill points are chosen by state, never by time: the child is killed the moment the Xero double has received the
k-th request from it (so the kill lands while that request is in flight at Xero, which then commits it anyway).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading

import pytest


from pexxero.models import NEW
from sandbox_env import ON_BOTH_STORES, PROJECT_ROOT, open_sandbox


def _open(env) -> list[dict]:
    """Requests left in flight to the organisation the sandbox works on."""
    return env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)

pytestmark = pytest.mark.slow

LATENCY = 0.075


def _expected(env) -> set[str]:
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


def _spawn(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pexxero", "--db", str(env.db_path), "sync"],
                            env=env.child_env(), cwd=str(PROJECT_ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _run_and_kill(env, k: int) -> str:
    """Start a sync; SIGKILL it when Xero has received its k-th request (or let it end if it makes fewer)."""
    base = len(env.xero.requests)
    proc = _spawn(env)
    ended = threading.Event()

    def reap():  # wakes the wait below when the child ends by itself (the double notifies on requests only)
        proc.wait()
        ended.set()
        env.xero._notify()

    threading.Thread(target=reap, daemon=True).start()
    assert env.xero.wait_for(lambda: ended.is_set() or len(env.xero.requests) >= base + k, timeout=90)
    if not ended.is_set():
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    ended.wait(10)
    output = proc.stdout.read()
    proc.stdout.close()
    return "killed" if proc.returncode == -signal.SIGKILL else f"exit {proc.returncode}: {output[-300:]}"


def _finish(env) -> subprocess.CompletedProcess:
    result = env.cli("sync")
    assert result.returncode in (0, 2), result.stdout + result.stderr
    return result


def _assert_exactly_once(env, expected: set[str]) -> None:
    refs = env.references()
    missing = sorted(ref for ref in expected if refs[ref] == 0)
    twice = {ref: n for ref, n in refs.items() if n > 1}
    assert missing == [] and twice == {}
    assert _open(env) == []
    env.assert_exactly_once_here()  # and every PEX receipt of every written record once, none missing


def _crash_loop(env, rng: random.Random, kills: int, top: int) -> list[str]:
    outcomes, in_flight = [], 0
    while sum(1 for o in outcomes if o == "killed") < kills and len(outcomes) < kills + 4:
        outcomes.append(_run_and_kill(env, rng.randint(1, top)))
        in_flight += bool(_open(env))
    assert sum(1 for o in outcomes if o == "killed") >= kills, outcomes
    assert in_flight, "no kill left a write in flight: the seed does not exercise recovery"
    return outcomes


def test_killed_at_random_points_and_rerun_xero_ends_with_each_record_exactly_once(tmp_path):
    with open_sandbox(tmp_path, attachments=True) as env:
        expected = _expected(env)
        env.xero.latency = LATENCY
        # a run makes ~14 requests before its receipts: 8 reads for the plan and tags, contacts, then the writes;
        # recovery adds lookups; the receipts come after
        _crash_loop(env, random.Random(7), kills=6, top=14)
        _finish(env)
        _assert_exactly_once(env, expected)
        # and a further sync has nothing left to do
        writes = env.writes()
        assert "0 of 0 written" in _finish(env).stdout
        assert env.writes() == writes


@ON_BOTH_STORES  # the representative case on PostgreSQL: kills, answers dropped after Xero committed, receipts
def test_killed_and_rerun_with_commit_then_drop_faults_still_exactly_once(tmp_path, store_db):
    with open_sandbox(tmp_path, attachments=True, db=store_db) as env:
        expected = _expected(env)
        env.xero.latency = LATENCY
        faults = env.xero.faults
        faults.queue("commit_then_drop", method="PUT", path_contains="/BankTransactions", count=3)
        faults.queue("commit_then_drop", method="PUT", path_contains="/BankTransfers", count=2)
        faults.queue("commit_then_drop", method="PUT", path_contains="/Contacts")
        faults.queue("commit_then_drop", method="PUT", path_contains="/Attachments/", count=3)
        _crash_loop(env, random.Random(11), kills=5, top=16)
        _finish(env)
        _assert_exactly_once(env, expected)
        assert any(r.dropped for r in env.xero.requests)


def test_receipts_arrive_once_each_even_when_killed_in_the_attachment_phase(tmp_path):
    with open_sandbox(tmp_path, attachments=True) as env:
        expected = _expected(env)
        env.xero.latency = LATENCY / 3
        rng = random.Random(3)

        def attached() -> int:
            return sum(1 for r in env.xero.requests if r.method in ("PUT", "POST") and "/Attachments/" in r.path)

        kills = in_flight = 0
        for _ in range(8):
            target = attached() + rng.randint(1, 4)
            proc = _spawn(env)
            ended = threading.Event()

            def reap(p=proc, e=ended):
                p.wait()
                e.set()
                env.xero._notify()

            threading.Thread(target=reap, daemon=True).start()
            assert env.xero.wait_for(lambda: ended.is_set() or attached() >= target, timeout=90)
            if not ended.is_set():
                proc.send_signal(signal.SIGKILL)
                kills += 1
                proc.wait()
                in_flight += any(i["endpoint"] == "attachment"
                                 for i in _open(env))
            proc.wait()
            ended.wait(10)
            proc.stdout.close()
            if kills >= 4:
                break
        assert kills >= 4 and in_flight
        _finish(env)
        _assert_exactly_once(env, expected)

        # (_assert_exactly_once checked the receipts: every loaded PEX receipt of every written record, once)
