"""The day's budget: a sync that needs more Xero calls than the organisation has left today writes every record,
attaches receipts while the budget lasts, pauses before Xero's daily limit has to say no, and the next day's run
attaches the rest exactly once; the sentence that says so on the Preview page and in `preview` and `sync`; the
receipt phase's estimate of the time left; the command line's progress line on a terminal only."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest
from page_helpers import ESCAPED, app, fake_run, no_exception, set_up, texts
from sandbox_env import PROJECT_ROOT, open_sandbox

from pexxero import models, views
from pexxero.models import NEW
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.xero_double import XeroDouble
from pexxero.errors import PexxeroError
from pexxero.sync import budget, run_sync


def _new(env) -> set[str]:
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


def _used_at_xero(env) -> int:
    """Calls the Xero double counted today for the sandbox's organisation."""
    return env.xero.limits.day_limit - int(env.xero.limits.headers(env.tenant_id)["X-DayLimit-Remaining"])


def _new_xero_day(env) -> None:
    """Midnight UTC at the Xero double: its day counters start again."""
    with env.xero.limits.lock:
        env.xero.limits._day.clear()


def _day_limit_answers(env) -> list:
    return [r for r in env.xero.requests if r.status == 429]


def _all_written_once(env, expected: set[str]) -> None:
    refs = env.references()
    assert {ref: refs[ref] for ref in expected if refs[ref] != 1} == {}


# ------------------------------------------------------------------------------------------ the sync


def test_a_sync_beyond_the_days_calls_writes_every_record_then_pauses_and_the_next_day_finishes(tmp_path):
    pex = PexDouble()
    xero = XeroDouble(today=pex.today, minute_limit=100_000)
    with open_sandbox(tmp_path, pex=pex, xero=xero) as env:
        expected = _new(env)
        assert expected
        # the organisation has 50 calls left today: the records (about 30 calls) fit, the 31 receipts do not
        env.xero.limits.day_limit = _used_at_xero(env) + 50

        paused = run_sync(env.conn)
        # the reserve is kept for the next run's look-ups of what is in flight
        assert int(env.xero.limits.headers(env.tenant_id)["X-DayLimit-Remaining"]) >= budget.RESERVE
        assert paused["status"] == models.PAUSED, paused["message"]
        assert paused["resume_at"]
        assert "every record is written" in paused["message"] and "resets at" in paused["message"]
        assert "Run sync again" in paused["message"]
        _all_written_once(env, expected)
        assert 0 < paused["receipts_attached"] < len(env.receipts_wanted())
        assert _day_limit_answers(env) == []  # the pause came first: Xero never had to refuse a call
        assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []  # none in flight
        said = budget.run_sentence(env.conn, paused["id"])
        assert "left today: transactions first, receipts finish tomorrow" in said, said

        _new_xero_day(env)
        done = run_sync(env.connection())
        assert done["status"] == models.SUCCEEDED, done["message"]
        assert paused["receipts_attached"] + done["receipts_attached"] == len(env.receipts_wanted())
        _all_written_once(env, expected)
        env.assert_exactly_once_here()
        assert _day_limit_answers(env) == []


def test_the_apps_daily_allowance_pauses_the_command_line_sync_with_exit_code_3(sandbox, monkeypatch):
    env = sandbox
    expected = _new(env)
    used = budget.note_calls(env.conn)["used"]
    monkeypatch.setenv(budget.DAILY_CALLS_ENV, str(used + 50))  # as on Xero's Starter tier, only smaller

    shown = env.cli("preview")
    assert shown.returncode == 0, shown.stderr
    assert "A sync of this preview needs" in shown.stdout and "left today" in shown.stdout

    result = env.cli("sync")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "This sync needs" in result.stdout and "left today: transactions first, receipts finish tomorrow" in \
        result.stdout
    assert "Paused" in result.stdout and "resets at" in result.stdout
    assert _day_limit_answers(env) == []
    _all_written_once(env, expected)

    monkeypatch.setenv(budget.DAILY_CALLS_ENV, "5000")
    result = env.cli("sync")
    assert result.returncode == 0, result.stdout + result.stderr
    _all_written_once(env, expected)
    env.assert_exactly_once_here()


def test_an_upload_a_dead_run_left_in_flight_is_looked_up_before_the_budget_pause(tmp_path):
    """Exactly once first: the receipt whose answer never came is looked up on its record by the next run, even
    when that run then pauses for the day."""
    pex = PexDouble()
    xero = XeroDouble(today=pex.today, minute_limit=100_000)
    waits: list[float] = []  # the gateway's backoff is recorded, not slept
    with open_sandbox(tmp_path, pex=pex, xero=xero,
                      gateway_options={"minute_limit": 100_000, "sleep": waits.append}) as env:
        # every answer to the first upload is lost after Xero committed it: the run gives up on it, in flight
        env.xero.faults.queue("commit_then_drop", method="PUT", path_contains="/Attachments/", count=60)
        first = run_sync(env.conn)
        assert first["status"] == models.PARTIAL, first["message"]
        open_uploads = [i for i in env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id)
                        if i["endpoint"] == "attachment"]
        assert len(open_uploads) == 1
        env.xero.faults.clear()
        env.xero.limits.day_limit = _used_at_xero(env) + 25  # the look-up and a few receipts, then the pause
        second = run_sync(env.connection())
        assert second["status"] == models.PAUSED, second["message"]
        assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []
        assert {k: n for k, n in env.receipts_held().items() if n > 1} == {}
        assert _day_limit_answers(env) == []
        _new_xero_day(env)
        env.xero.limits.day_limit = 5000
        third = run_sync(env.connection())
        assert third["status"] == models.SUCCEEDED, third["message"]
        env.assert_exactly_once_here()


# ------------------------------------------------------------------------------------------ the words


def test_the_sentence_when_it_fits_and_when_it_does_not():
    need = budget.Needs(reads=9, writes=31, receipts=200)
    assert budget.sentence(need, 4760) == "needs 240 calls; 4,760 left today"
    big = budget.Needs(reads=9, writes=31, receipts=1280)
    assert budget.sentence(big, 980) == "needs 1,320 calls; 980 left today: transactions first, receipts finish tomorrow"
    assert "not all of it fits today" in budget.sentence(big, 20)


def test_needs_counts_batches_of_50_and_a_call_per_receipt():
    records = [("create", "BankTransaction", f"M{n % 3}", True) for n in range(120)]
    records += [("create", "BankTransfer", "", False)] * 3 + [("update", "BankTransaction", "M0", False)] * 2
    records += [("remove", "BankTransaction", "", False)] * 51
    need = budget.needs(records, with_reads=False)
    assert need.writes == 3 + 1 + 2 + 2 + 1 + 1  # 120 in 3 batches, transfers, 2 updates, 51 removals, contacts
    assert need.receipts == 120
    assert budget.needs(records, receipts=7, with_reads=False).receipts == 7


def test_the_allowance_comes_from_the_environment():
    assert budget.daily_allowance({}) == 5000
    assert budget.daily_allowance({budget.DAILY_CALLS_ENV: "1000"}) == 1000
    assert budget.daily_allowance({budget.DAILY_CALLS_ENV: "1,000"}) == 1000
    with pytest.raises(PexxeroError, match="PEXXERO_XERO_DAILY_CALLS is 'lots'"):  # said, not guessed
        budget.daily_allowance({budget.DAILY_CALLS_ENV: "lots"})


def test_the_receipt_phase_shows_its_progress_and_the_time_left():
    run = {"status": models.RUNNING, "to_write": 40, "step": "attaching receipts: 10 of 130",
           "receipts_to_send": 130, "receipts_attached": 10, "receipts_failed": 0}
    state = views.run_progress(run, {models.CREATED: 40})
    assert state["receipt_phase"]
    assert state["receipt_text"] == "Receipts: 10 of 130 done; 120 receipts left, about 2 min at 60 a minute"
    assert 0 < state["receipt_fraction"] < 0.1
    writing = views.run_progress({**run, "step": "writing to Xero: 10 of 40"}, {models.CREATED: 10})
    assert not writing["receipt_phase"] and writing["receipt_text"] == ""
    assert budget.receipt_eta(30) == "30 receipts left, under a minute at 60 a minute"
    assert budget.receipt_eta(300, other_per_minute=10) == "300 receipts left, about 6 min at 50 a minute"


def test_the_preview_page_says_what_the_sync_needs_and_what_is_left_today(page_env, doubles):
    set_up(page_env, doubles)
    at = app("preview").run()
    no_exception(at)
    shown = texts(at)
    assert "A sync of this preview needs" in shown and "left today" in shown, shown


def test_the_sync_page_shows_the_receipt_phase_with_its_own_bar_and_time_left(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()  # the plan the page syncs, and what it needs today
    run_id = fake_run(conn, models.RUNNING, [(1, models.CREATED), (2, models.CREATED)], to_write=2,
                      step="attaching receipts: 10 of 130")
    conn.store.update_run(run_id, receipts_to_send=130, receipts_attached=10)
    at = app("sync").run()
    no_exception(at)
    bars = [ESCAPED.sub(r"\1", e.proto.text) for e in at if type(e).__name__ == "Progress"]
    assert bars[1:] == ["Receipts: 10 of 130 done; 120 receipts left, about 2 min at 60 a minute"], bars
    assert "This sync needs" in texts(at) and "left today" in texts(at)


# ------------------------------------------------------------------------------------------ the progress line


def _sync_with_stderr(env, stderr_fd: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pexxero", "--db", str(env.db_path), "sync"],
                            env=env.child_env(), cwd=str(PROJECT_ROOT), stdout=subprocess.PIPE,
                            stderr=stderr_fd, text=True)


def test_the_command_line_draws_a_progress_line_on_a_terminal(sandbox):
    master, slave = pty.openpty()
    try:
        child = _sync_with_stderr(sandbox, slave)
        os.close(slave)
        drawn = b""
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal's other side closed: the child is done
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = child.communicate(timeout=60)
    finally:
        os.close(master)
    assert child.returncode == 0, out
    text = drawn.decode("utf-8", "replace")
    assert "\r" in text and "%" in text, text
    assert "Succeeded" in text  # the last state, then the line is ended
    assert "Run " in out  # the summary stays on standard output


def test_the_command_line_is_quiet_on_standard_error_when_it_is_not_a_terminal(sandbox):
    child = _sync_with_stderr(sandbox, subprocess.PIPE)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, out + err
    assert "\r" not in err and "%" not in err, err
    assert "This sync needs" in out
