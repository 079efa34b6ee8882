"""Xero's limits shared through PostgreSQL: two limiters (as two workers on two hosts would hold) on one database
draw on one budget per organisation and one for the app, and a 429's Retry-After seen by one stops the other."""

from __future__ import annotations

import uuid

import pytest

from pexxero.clients.xero_calls import APP_KEY
from pexxero.store.pg_limits import PgCallLimiter, ensure_schema


class Waited(Exception):
    """The limiter asked to sleep: the test records how long and stops there instead of waiting."""


def limiter(url: str, waits: list[float], **limits) -> PgCallLimiter:
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise Waited

    return PgCallLimiter(url, sleep=sleep, **limits)


@pytest.fixture(scope="module")
def limits_url(pg_cluster) -> str:
    # a name of its own each time: parallel workers may split this module and set the fixture up again
    url = pg_cluster.create_database(f"fleet_limits_{uuid.uuid4().hex[:8]}")
    ensure_schema(url)
    ensure_schema(url)  # idempotent
    return url


def take(lim: PgCallLimiter, key: str) -> None:
    with lim.slot(key):
        pass


def test_the_minute_is_one_budget_per_organisation_across_limiters(limits_url):
    waits_a, waits_b = [], []
    a = limiter(limits_url, waits_a, minute_limit=3)
    b = limiter(limits_url, waits_b, minute_limit=3)
    try:
        take(a, "org-minute")
        take(b, "org-minute")
        take(a, "org-minute")
        with pytest.raises(Waited):
            take(b, "org-minute")  # the fourth call in the minute, whoever makes it, waits
        assert waits_b and 55 < waits_b[0] <= 61
        take(b, "org-other")  # another organisation has its own minute
        assert a.calls_in_window()["org-minute"] == 3
    finally:
        a.close()
        b.close()


def test_the_app_wide_minute_spans_every_organisation(limits_url):
    waits = []
    a = limiter(limits_url, waits, app_minute_limit=1_000_000)
    used = a.calls_in_window().get(APP_KEY, 0)
    a.close()
    tight = limiter(limits_url, waits, app_minute_limit=used + 2)
    try:
        take(tight, "org-app-1")
        take(tight, "org-app-2")
        with pytest.raises(Waited):
            take(tight, "org-app-3")  # a fresh organisation, but the app's minute is full
        assert waits and waits[0] > 0
    finally:
        tight.close()


def test_retry_after_seen_by_one_stops_the_others(limits_url):
    waits_a, waits_b = [], []
    a = limiter(limits_url, waits_a)
    b = limiter(limits_url, waits_b)
    try:
        a.hold("org-429", 30)
        with pytest.raises(Waited):
            take(b, "org-429")
        assert 25 < waits_b[0] <= 30
        take(b, "org-not-429")  # only that organisation waits
        a.hold("org-x", 12, whole_app=True)  # Xero's app-wide minute limit: every organisation waits
        with pytest.raises(Waited):
            take(b, "org-y")
        assert 8 < waits_b[-1] <= 12
    finally:
        a.close()
        b.close()
        with __import__("psycopg").connect(limits_url, autocommit=True) as conn:
            conn.execute("UPDATE pexxero_xero_limits SET held_until = 0")


def test_five_at_once_and_a_dead_holder_frees_its_slots(limits_url):
    waits = []
    a = limiter(limits_url, waits, concurrent_limit=2)
    b = limiter(limits_url, waits, concurrent_limit=2)
    try:
        first, second = a.slot("org-slots"), a.slot("org-slots")
        first.__enter__()
        second.__enter__()
        with pytest.raises(Waited):
            take(b, "org-slots")  # both slots are in flight in the other process
        a.close()  # its connections drop, as a killed worker's do: PostgreSQL frees the slots
        take(b, "org-slots")
    finally:
        b.close()
