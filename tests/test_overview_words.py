"""The Overview's words for a connection's last sync, what waits and its Xero session (pure, pinned clock)."""

from datetime import datetime, timezone

import pytest

from pexxero import overview

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("run, words", [
    (None, "Never synced"),
    ({"status": "running", "written": 12, "to_write": 86}, "Running: 12 of 86 written so far"),
    ({"status": "queued", "written": 0, "to_write": 0}, "Queued: 0 of 0 written so far"),
    ({"status": "succeeded", "ended_at": "2026-03-01T11:55:00+00:00", "written": 86, "to_write": 86},
     "Succeeded 5 minutes ago: 86 of 86 written"),
    ({"status": "partial", "ended_at": "2026-02-28T09:00:00+00:00", "written": 1200, "to_write": 1300},
     "Partial 27 hours ago: 1,200 of 1,300 written"),
    ({"status": "paused", "ended_at": "2026-02-20T12:00:00", "written": 3, "to_write": 9},
     "Paused 9 days ago: 3 of 9 written"),
])
def test_last_sync(run, words):
    assert overview.last_sync(run, NOW) == words


def test_waiting_names_every_count():
    assert (overview.waiting({"new": 1234, "possible_duplicate": 3, "changed": 1})
            == "new 1,234 · possible duplicates 3 · changed 1 · failed 0")


@pytest.mark.parametrize("age, left, words, attention", [
    (None, None, "No Xero sign-in", True),
    (0.0001, 59.9999, "Xero session refreshed today; 60 days to its 60-day expiry", False),
    (1.5, 58.5, "Xero session refreshed 1 day ago; 59 days to its 60-day expiry", False),
    (54.2, 5.8, "Xero session refreshed 54 days ago; 6 days to its 60-day expiry", True),
    (60.5, -0.5, "Xero sign-in expired: re-connect Xero", True),
])
def test_session_health(age, left, words, attention):
    assert overview.session(age, left) == (words, attention)


def test_sync_all_lines():
    assert overview.sync_all_line({"A": "started (run 3)", "B": "not started: no PEX token"}) == [
        "A: started (run 3)", "B: not started: no PEX token"]
