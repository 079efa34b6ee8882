"""Credentials encrypted at rest (Fernet, see secrets.py), and the keeper of the Xero token set.

The keeper's lock is a cross-process file lock (`filelock`) next to a SQLite file, and a PostgreSQL session
advisory lock on a connection of its own for a PostgreSQL store (hosts share no files); either is released if
its holder dies (by the operating system, or by the server when the session ends): two processes (a background
sync and the dashboard, on one host or two) never spend the same refresh token.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator, Optional

from filelock import FileLock, Timeout

from pexxero.secrets import Cipher, KeySource, find_key
from pexxero.store.db import Tables
from pexxero.errors import PexxeroError

if TYPE_CHECKING:
    from pexxero.store import Store

SERVICES = ("pex", "xero")


class LockBusy(PexxeroError):
    pass


class CredentialTables(Tables):
    _key: Optional[KeySource] = None
    _cipher: Optional[Cipher] = None

    def key_source(self) -> KeySource:
        """Where the encryption key comes from (env, secrets.toml or the key file); found on first use."""
        if self._key is None:
            self._key = find_key(self.path, holds_secrets=self.holds_credentials)
        return self._key

    def holds_credentials(self) -> bool:
        """Whether any credentials are stored (encrypted with some key): then no new key may be generated."""
        return bool(self._rows("SELECT 1 FROM credentials LIMIT 1"))

    def forget_credentials(self, connection_id: int) -> int:
        """Delete every stored credential of the connection without reading them (for a lost key); returns how
        many were deleted."""
        with self.transaction() as db:
            return db.execute("DELETE FROM credentials WHERE connection_id = ?", (connection_id,)).rowcount

    def _crypt(self) -> Cipher:
        if self._cipher is None:
            self._cipher = Cipher(self.key_source().key)
        return self._cipher

    def save_credentials(self, connection_id: int, service: str, value: dict) -> None:
        _check_service(service)
        ciphertext = self._crypt().encrypt(connection_id, service, value)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO credentials (connection_id, service, ciphertext, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (connection_id, service) DO UPDATE SET "
                "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                (connection_id, service, ciphertext, datetime.now(timezone.utc).isoformat()),
            )

    def load_credentials(self, connection_id: int, service: str) -> dict | None:
        """The stored value, or None. Raises `secrets.CredentialsUnreadable` when the key does not fit."""
        _check_service(service)
        rows = self._rows(
            "SELECT ciphertext FROM credentials WHERE connection_id = ? AND service = ?", (connection_id, service)
        )
        if not rows:
            return None
        return self._crypt().decrypt(connection_id, service, rows[0]["ciphertext"])

    def delete_credentials(self, connection_id: int, service: str) -> None:
        _check_service(service)
        with self.transaction() as db:
            db.execute("DELETE FROM credentials WHERE connection_id = ? AND service = ?", (connection_id, service))

    def token_keeper(self, connection_id: int) -> "StoreTokenKeeper":
        return StoreTokenKeeper(self, connection_id)  # type: ignore[arg-type]


class StoreTokenKeeper:
    """The Xero token set for one connection: what the Xero gateway loads, saves and refreshes under.

    The gateway refreshes like this, so two processes never spend the same refresh token:

        with keeper.lock():
            token = keeper.load()          # re-read: another process may have rotated it already
            if still_expired(token):
                keeper.save(refresh(token)) # committed at once, before anything else can fail
    """

    service = "xero"

    def __init__(self, store: "Store", connection_id: int):
        self.store = store
        self.connection_id = connection_id

    @contextlib.contextmanager
    def _own(self) -> Iterator["Store"]:
        """A short-lived connection of the keeper's own. The gateway refreshes on whichever thread makes the call
        (a sync sends from worker threads) while another thread may hold a transaction open on the store's
        connection; sharing that connection would fold the token's save into someone else's transaction."""
        own = type(self.store).open(self.store.path, key=self.store.key_source())
        try:
            yield own
        finally:
            own.close()

    def load(self) -> dict | None:
        with self._own() as own:
            return own.load_credentials(self.connection_id, self.service)

    def save(self, token: dict) -> None:
        with self._own() as own:
            own.save_credentials(self.connection_id, self.service, token)

    @contextlib.contextmanager
    def lock(self, *, blocking: bool = True) -> Iterator[None]:
        """Exclusive across processes and threads, re-entrant in one thread. `blocking=False` raises
        `LockBusy` at once instead of waiting."""
        if self.store.on_postgres:
            from pexxero.store.pg_locks import token_lock

            with token_lock(self.store.path, str(self.connection_id), blocking=blocking):
                yield
            return
        lock = _file_lock(str(self.store.path.with_name(f"{self.store.path.name}.{self.connection_id}.lock").resolve()))
        try:
            lock.acquire(blocking=blocking)
        except Timeout:
            raise LockBusy(f"{lock.lock_file} is held by another process or thread") from None
        try:
            yield
        finally:
            lock.release()


_FILE_LOCKS: dict[str, FileLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: str) -> FileLock:
    """One FileLock per lock file per process. It is thread-local: each thread holds the file through its own
    descriptor, so the operating system keeps threads of one process apart as it keeps processes apart, and a
    thread that already holds it takes it again at once."""
    with _FILE_LOCKS_GUARD:
        if path not in _FILE_LOCKS:
            _FILE_LOCKS[path] = FileLock(path, mode=0o600, thread_local=True)
        return _FILE_LOCKS[path]


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: expected one of {', '.join(SERVICES)}")
