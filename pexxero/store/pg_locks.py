"""The Xero token keeper's lock on PostgreSQL: a session advisory lock, so processes on different hosts (which
share no lock file) never spend the same refresh token.

Each thread holds the lock through a connection of its own, opened for it and closed when the thread lets go:
threads of one process are kept apart as processes are, and a holder that dies loses its session, which frees
the lock. Re-entrant in one thread, as the file lock is.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from pexxero.store.credentials import LockBusy
from pexxero.store.pg_backend import TOKEN_NAMESPACE, connect

_HELD = threading.local()  # (url, connection id) -> [its connection, depth], per thread


@contextlib.contextmanager
def token_lock(url: str, connection_id: int, *, blocking: bool = True) -> Iterator[None]:
    held = _HELD.__dict__.setdefault("locks", {})
    entry = held.get((url, connection_id))
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
            conn.execute("SELECT pg_advisory_lock(%s, %s)", (TOKEN_NAMESPACE, connection_id))
        elif not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (TOKEN_NAMESPACE, connection_id)).fetchone()[0]:
            raise LockBusy(f"the Xero token of connection {connection_id} is being refreshed by another process")
        held[(url, connection_id)] = [conn, 1]
        try:
            yield
        finally:
            del held[(url, connection_id)]
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (TOKEN_NAMESPACE, connection_id))
    finally:
        conn.close()  # ending the session frees the lock in any case
