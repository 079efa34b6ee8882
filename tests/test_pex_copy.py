"""The local copy of PEX: after the first fill it rereads a 60-day look-back, and once a day (and on request) the
whole configured range, so a purchase that appears late or a correction to an old one is not missed.

Real PEX client over loopback against the PEX double, real SQLite; `today` is pinned to the double's day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


from pexxero import views
from pexxero.local_pex import LOOKBACK_DAYS


def _ledger_reads(env) -> int:
    return sum(1 for r in env.pex.requests if "allcardholdertransactions" in r[1].lower())


def _ids(frame) -> set[int]:
    return set(frame["pex_id"].astype(int))


def _old_purchase(env, days_back: int) -> dict:
    """A settled purchase in the PEX double dated more than `days_back` days ago."""
    rows = [r for r in env.pex.transactions["cardholder"] if r["TransactionType"] == "Network"
            and not r["IsPending"] and not r["IsDecline"]
            and datetime.fromisoformat(r["TransactionTime"]).date() < env.today - timedelta(days=days_back)
            and datetime.fromisoformat(r["TransactionTime"]).date() > env.today - timedelta(days=85)]
    assert rows, "the demo business has purchases older than the look-back in range"
    return rows[0]


def test_a_late_purchase_70_days_back_is_seen_after_the_daily_whole_read(sandbox):
    env = sandbox
    env.conn.preview(today=env.today)  # the first fill
    late = env.add_pex_purchase("-70.70", "Late Lumber", days_back=70)
    assert 70 > LOOKBACK_DAYS

    env.expire_pex_cache()
    before = env.conn.preview(today=env.today)  # same day: the look-back window only
    assert late not in _ids(before.frame)

    tomorrow = env.today + timedelta(days=1)
    reads = _ledger_reads(env)
    after = env.conn.preview(today=tomorrow)  # the first preview of the next day on PEX's clock
    assert late in _ids(after.frame)
    assert _ledger_reads(env) == reads + 1  # one read of the whole range, not one per window
    again = env.conn.preview(today=tomorrow)  # served from the copy: no second whole read that day
    assert _ledger_reads(env) == reads + 1 and late in _ids(again.frame)


def test_full_refresh_rereads_the_whole_range_now(sandbox):
    env = sandbox
    env.conn.preview(today=env.today)
    late = env.add_pex_purchase("-70.71", "Late Lumber", days_back=70)
    env.expire_pex_cache()
    assert late not in _ids(env.conn.preview(today=env.today).frame)
    assert late in _ids(env.conn.preview(today=env.today, full_refresh=True).frame)


def test_a_correction_to_an_old_purchase_is_seen_after_a_whole_read(sandbox):
    env = sandbox
    env.conn.preview(today=env.today)
    row = _old_purchase(env, LOOKBACK_DAYS + 5)
    row["MerchantName"] = row["MerchantNameNormalized"] = "Corrected Merchant"

    def merchant(frame) -> str:
        return frame.loc[frame["pex_id"] == row["TransactionId"], "merchant"].iloc[0]

    env.expire_pex_cache()
    assert merchant(env.conn.preview(today=env.today).frame) != "Corrected Merchant"
    assert merchant(env.conn.preview(today=env.today, full_refresh=True).frame) == "Corrected Merchant"

    fresh = env.connection()  # a fresh database reads the whole range and agrees
    fresh.store.forget_pex_reads(fresh.connection_id)
    assert merchant(fresh.preview(today=env.today, save_plan=False).frame) == "Corrected Merchant"
    fresh.close()


def test_the_sync_does_the_daily_whole_read_too(sandbox):
    from pexxero.sync import run_sync

    env = sandbox
    env.conn.preview(today=env.today)
    late = env.add_pex_purchase("-70.72", "Late Lumber", days_back=70)
    env.expire_pex_cache()
    run = run_sync(env.conn, today=env.today)
    assert env.references()[f"PEX-{late}"] == 0, run
    run_sync(env.conn, today=env.today + timedelta(days=1))
    assert env.references()[f"PEX-{late}"] == 1


def test_freshness_says_when_the_copy_and_the_whole_range_were_read(sandbox):
    env = sandbox
    assert env.conn.pex_freshness() == {"read_at": None, "full_at": None}
    assert views.pex_copy_text(env.conn.pex_freshness()) == "PEX copy not read yet"
    env.conn.preview(today=env.today)
    first = env.conn.pex_freshness()
    assert first["read_at"] == first["full_at"] is not None
    env.expire_pex_cache()
    env.conn.preview(today=env.today)
    later = env.conn.pex_freshness()
    assert later["full_at"] == first["full_at"] and later["read_at"] > first["full_at"]


def test_freshness_text():
    from zoneinfo import ZoneInfo

    eastern = ZoneInfo("America/New_York")
    now = datetime(2026, 12, 1, 10, 50, tzinfo=eastern)
    read = datetime(2026, 12, 1, 10, 42, tzinfo=eastern).astimezone(timezone.utc)
    full = datetime(2026, 12, 1, 2, 15, tzinfo=eastern).astimezone(timezone.utc)
    text = views.pex_copy_text({"read_at": read, "full_at": full}, now=now)
    assert text == "PEX copy read 10:42 (whole range: today 02:15), US Eastern time"
    older = datetime(2026, 11, 29, 23, 5, tzinfo=eastern)
    text = views.pex_copy_text({"read_at": read, "full_at": older}, now=now)
    assert text == "PEX copy read 10:42 (whole range: 2026-11-29 23:05), US Eastern time"
    assert views.pex_copy_text({"read_at": read, "full_at": None}, now=now) == \
        "PEX copy read 10:42 (whole range: not read yet), US Eastern time"


def _late_purchase_missed_by_the_copy(env, amount: str) -> int:
    """A purchase 70 days back that PEX shows only after the local copy was read: a plain re-read (the last 60
    days) does not see it."""
    env.conn.preview(today=env.today)
    late = env.add_pex_purchase(amount, "Late Lumber", days_back=70)
    env.expire_pex_cache()
    env.conn.preview(today=env.today)
    return late


def test_cli_preview_full_refresh_rereads_the_whole_range_and_prints_the_freshness(sandbox):
    env = sandbox
    late = _late_purchase_missed_by_the_copy(env, "-70.73")
    start, end = env.today - timedelta(days=90), env.today
    assert late not in {t.transaction_id for t in env.conn.pex_transactions(start, end)}

    done = env.cli("preview", "--full-refresh")
    assert done.returncode == 0, done.stderr
    assert "PEX copy read " in done.stdout and "(whole range: today " in done.stdout
    assert late in {t.transaction_id for t in env.conn.pex_transactions(start, end)}


def test_cli_sync_full_refresh_writes_the_late_purchase(sandbox):
    env = sandbox
    late = _late_purchase_missed_by_the_copy(env, "-70.74")
    done = env.cli("sync", "--full-refresh")
    assert done.returncode == 0, done.stdout + done.stderr
    assert env.references()[f"PEX-{late}"] == 1


def test_the_background_sync_process_passes_full_refresh_on(sandbox):
    from page_helpers import wait_for_run

    from pexxero.sync import start_background

    env = sandbox
    env.conn.preview(today=env.today)
    late = env.add_pex_purchase("-70.75", "Late Lumber", days_back=70)
    env.expire_pex_cache()
    env.conn.preview(today=env.today)
    run_id = start_background(env.db_path, from_preview=False, full_refresh=True, env=env.child_env(),
                              log_path=env.db_path.with_suffix(".log"))
    run = wait_for_run(str(env.db_path), run_id, timeout=120)
    assert run["status"] == "succeeded", run
    assert env.references()[f"PEX-{late}"] == 1
