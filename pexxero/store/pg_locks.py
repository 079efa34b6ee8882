"""The Xero token keeper's lock on PostgreSQL: a session advisory lock, so processes on different hosts (which
share no lock file) never spend the same refresh token.

Each thread holds the lock through a connection of its own, opened for it and closed when the thread lets go:
threads of one process are kept apart as processes are, and a holder that dies loses its session, which frees
the lock. Re-entrant in one thread, as the file lock is.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from typing import Iterator

from pexxero.store.credentials import LockBusy
from pexxero.store.pg_backend import TOKEN_NAMESPACE, connect

_HELD = threading.local()  # (url, key) -> [its connection, depth], per thread


def lock_key(name: str) -> int:
    """An advisory lock's second key for a name (a connection id, "grant-3"): a signed 32-bit number."""
    return int.from_bytes(zlib.crc32(name.encode("utf-8")).to_bytes(4, "big"), "big", signed=True)


@contextlib.contextmanager
def token_lock(url: str, name: str, *, blocking: bool = True) -> Iterator[None]:
    """Hold the token lock called `name` (what the file lock's file would be called after the database's)."""
    key = lock_key(name)
    held = _HELD.__dict__.setdefault("locks", {})
    entry = held.get((url, key))
    if entry is not None:  # this thread holds it already
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
        return
    conn = connect(url, lock_timeout=None)  # waits as long as the holder needs, as the file lock does
    try:
        if blocking:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", (TOKEN_NAMESPACE, key))
        elif not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (TOKEN_NAMESPACE, key)).fetchone()[0]:
            raise LockBusy(f"the Xero token lock {name} is held by another process or thread")
        held[(url, key)] = [conn, 1]
        try:
            yield
        finally:
            del held[(url, key)]
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (TOKEN_NAMESPACE, key))
    finally:
        conn.close()  # ending the session frees the lock in any case
