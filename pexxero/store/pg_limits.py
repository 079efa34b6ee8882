"""Xero's limits shared through PostgreSQL: every worker, on every host, and every dashboard of a fleet draw on
one budget per organisation (60 calls in any rolling minute, 5 at once) and one for the whole app (10,000 calls
a minute), and a 429's `Retry-After` stops every process's calls to that organisation, not only the caller's.

How it is kept:
- the minute: a log of call times per key (`pexxero_xero_calls`), taken in one short transaction that first locks
  the organisation's row and the app's row in `pexxero_xero_limits` (`SELECT … FOR UPDATE`, always in the same
  order, so two callers never deadlock). A log rather than a token bucket for the same reason as the in-process
  limiter: a bucket admits up to twice its size inside one rolling minute, which Xero answers with 429.
- at once: a session-level advisory lock per (organisation, slot 0..4), held on the caller's own connection for
  the length of the call. A process that dies (SIGKILL) drops its connection, and PostgreSQL frees its slots.
- time is the database's clock (`clock_timestamp()`), so hosts whose clocks disagree still count one minute.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from pexxero.clients.xero_calls import APP_KEY

SCHEMA = """
CREATE TABLE IF NOT EXISTS pexxero_xero_limits (
    key text PRIMARY KEY,
    held_until double precision NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pexxero_xero_calls (
    key text NOT NULL,
    at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS pexxero_xero_calls_key_at ON pexxero_xero_calls (key, at);
"""

_NOW = "extract(epoch FROM clock_timestamp())::double precision"
_ENSURE_KEYS = "INSERT INTO pexxero_xero_limits (key) VALUES (%s), (%s) ON CONFLICT (key) DO NOTHING"
_LOCK_KEYS = (f"SELECT key, held_until, {_NOW} FROM pexxero_xero_limits WHERE key = ANY(%s) "
              "ORDER BY key FOR UPDATE")
_FORGET_OLD = "DELETE FROM pexxero_xero_calls WHERE key = ANY(%s) AND at <= %s"
_COUNT = "SELECT key, count(*), min(at) FROM pexxero_xero_calls WHERE key = ANY(%s) GROUP BY key"
_STAMP = "INSERT INTO pexxero_xero_calls (key, at) VALUES (%s, %s), (%s, %s)"
_HOLD = (f"INSERT INTO pexxero_xero_limits (key, held_until) VALUES (%s, {_NOW} + %s) ON CONFLICT (key) DO UPDATE "
         "SET held_until = greatest(pexxero_xero_limits.held_until, EXCLUDED.held_until)")
_TRY_SLOT = "SELECT pg_try_advisory_lock(hashtext(%s), %s)"
_FREE_SLOT = "SELECT pg_advisory_unlock(hashtext(%s), %s)"
_CALLS_SINCE = "SELECT key, count(*) FROM pexxero_xero_calls WHERE at > %s GROUP BY key"


def ensure_schema(url: str) -> None:
    """Create the limiter's tables when missing (idempotent; `db migrate` runs it too)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)


class PgCallLimiter:
    """The `Limiter` of `pexxero.clients.xero_calls`, kept in PostgreSQL at `url`. Thread-safe: each call holds
    a connection of its own from a small pool for its length (its concurrent slot is that connection's lock)."""

    def __init__(self, url: str, *, minute_limit: int = 60, concurrent_limit: int = 5,
                 app_minute_limit: int = 10_000, window: float = 61.0, sleep: Callable[[float], None] = time.sleep,
                 slot_poll: float = 0.02):
        if min(minute_limit, concurrent_limit, app_minute_limit) < 1:
            raise ValueError("limits must be at least 1")
        self.url = url
        self.minute_limit = minute_limit
        self.concurrent_limit = concurrent_limit
        self.app_minute_limit = app_minute_limit
        self.window = window
        self._sleep = sleep
        self._slot_poll = slot_poll
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: list = []

    # ------------------------------------------------------------------------------------ connections

    def _connection(self):
        try:
            conn = self._idle.get_nowait()
            if not conn.closed:
                return conn
        except queue.Empty:
            pass
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True)
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    # ------------------------------------------------------------------------------------ the Limiter

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        conn, slot = self._admitted(key)
        try:
            yield
        finally:
            try:
                conn.execute(_FREE_SLOT, [key, slot])
                self._idle.put(conn)
            except Exception:  # noqa: BLE001 - a broken connection's slots are already free
                conn.close()

    def _admitted(self, key: str):
        """(connection, slot) once the call may go. A connection the database dropped (a restart) is replaced
        once; closing it frees whatever it held."""
        import psycopg

        for attempt in range(2):
            conn = self._connection()
            try:
                slot = self._take_slot(conn, key)
                self._take_minute_place(conn, key)
                return conn, slot
            except psycopg.OperationalError:
                conn.close()
                if attempt:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def hold(self, key: str, seconds: float, *, whole_app: bool = False) -> None:
        conn = self._connection()
        try:
            conn.execute(_HOLD, [APP_KEY if whole_app else key, max(float(seconds), 0.0)])
        finally:
            self._idle.put(conn)

    def _take_slot(self, conn, key: str) -> int:
        wait = self._slot_poll
        while True:
            for slot in range(self.concurrent_limit):
                if conn.execute(_TRY_SLOT, [key, slot]).fetchone()[0]:
                    return slot
            self._sleep(wait)  # five calls of this organisation are in flight somewhere: one ends soon
            wait = min(wait * 2, 0.25)

    def _take_minute_place(self, conn, key: str) -> None:
        keys = [key, APP_KEY]
        limits = {key: self.minute_limit, APP_KEY: self.app_minute_limit}
        conn.execute(_ENSURE_KEYS, keys)
        while True:
            with conn.transaction():
                rows = conn.execute(_LOCK_KEYS, [keys]).fetchall()
                now = rows[0][2]
                wait = max(held_until for _, held_until, _ in rows) - now
                conn.execute(_FORGET_OLD, [keys, now - self.window])
                for name, count, oldest in conn.execute(_COUNT, [keys]).fetchall():
                    if count >= limits[name]:
                        wait = max(wait, oldest + self.window - now)
                if wait <= 0:
                    conn.execute(_STAMP, [key, now, APP_KEY, now])
                    return
            self._sleep(max(wait, 0.001))  # outside the transaction: the other callers carry on

    # ------------------------------------------------------------------------------------ reading

    def calls_in_window(self) -> dict[str, int]:
        """Calls per key (organisation, and APP_KEY for the whole app) in the current rolling window."""
        conn = self._connection()
        try:
            now = conn.execute(f"SELECT {_NOW}").fetchone()[0]
            return {k: n for k, n in conn.execute(_CALLS_SINCE, [now - self.window]).fetchall()}
        finally:
            self._idle.put(conn)
