"""Credentials encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

Where the key comes from, first match wins:
1. the `PEXXERO_KEY` environment variable (a Fernet key: 32 url-safe base64 bytes);
2. `.streamlit/secrets.toml` in the working directory, `[pexxero] encryption_key`
   (read with tomllib, so the engine never imports streamlit);
3. a key file next to the database, `<db>.key`, generated on first use with mode 0600 — never for a database
   that already holds credentials: those were encrypted with the missing key (`KeyFileMissing` says how to
   restore it or start over). A PostgreSQL database (a `postgresql://` URL) has no "next to": its key comes
   from 1. or 2. on every host that uses it, and `KeyNotSet` says so when neither gives one.

The database alone is therefore useless to whoever copies it, unless they also take the key. Changing the key
source (say, setting `PEXXERO_KEY` after the key file was used) makes the stored credentials unreadable:
`CredentialsUnreadable` says so plainly and asks for a re-connect, instead of surfacing Fernet's internals.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from cryptography.fernet import Fernet, InvalidToken

from pexxero.errors import PexxeroError

KEY_ENV = "PEXXERO_KEY"
SECRETS_FILE = Path(".streamlit") / "secrets.toml"
GENERATE_HINT = "generate one with: python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""


class SecretsError(PexxeroError):
    """Base for key problems; never carries key or secret material in its message."""


class InvalidKey(SecretsError):
    """The configured key is not a usable Fernet key."""


class CredentialsUnreadable(SecretsError):
    """Stored credentials exist but this key cannot decrypt them."""

    hint = "re-connect"

    def __init__(self, service: str = ""):
        what = f"the stored {service} credentials" if service else "the stored credentials"
        super().__init__(f"{what} cannot be read with this key")


class KeyFileMissing(SecretsError):
    """The key file is gone while the database holds credentials encrypted with it."""

    def __init__(self, key_path: Path, db_path: Path):
        self.key_path, self.db_path = key_path, db_path
        super().__init__(
            f"The key file {key_path} is missing, and {db_path} holds PEX and Xero credentials encrypted with it: "
            f"pexxero will not make a new key for them. Put the key file back (from a backup of that folder), or set "
            f"{KEY_ENV} to the same key. To start over instead, delete the stored credentials with "
            f"`python -m pexxero --db {db_path} connect forget` and connect PEX and Xero again (the setup and the "
            f"history stay), or move {db_path} away."
        )


class KeyNotSet(SecretsError):
    """A PostgreSQL database and no key in the environment or secrets.toml (no key file is made for a URL)."""

    def __init__(self, holds_secrets: bool):
        which = ("the key its PEX and Xero credentials were encrypted with" if holds_secrets
                 else f"a key ({GENERATE_HINT}), the same on every host that uses this database")
        super().__init__(
            f"A PostgreSQL database takes its encryption key from ${KEY_ENV} or {SECRETS_FILE} "
            f"([pexxero] encryption_key), never from a key file: set {which}."
        )


@dataclass(frozen=True)
class KeySource:
    key: bytes
    origin: str  # "env" | "secrets.toml" | "key file"; shown in the dashboard, never the key itself
    path: Optional[Path] = None


def key_file_for(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".key")


def find_key(db_path: str | Path, *, env: Mapping[str, str] | None = None,
             secrets_file: Path | None = None, holds_secrets: Callable[[], bool] = lambda: False) -> KeySource:
    """The key to use for the database at `db_path`, creating the key file when nothing else provides one.

    `holds_secrets` says whether the database already stores credentials: then a missing key file is an error
    (`KeyFileMissing`), never a reason to generate a new key."""
    env = os.environ if env is None else env
    from_env = (env.get(KEY_ENV) or "").strip()
    if from_env:
        return KeySource(_checked(from_env, f"${KEY_ENV}"), "env")
    secrets_file = SECRETS_FILE if secrets_file is None else secrets_file
    from_toml = _key_from_secrets_toml(secrets_file)
    if from_toml:
        return KeySource(_checked(from_toml, f"{secrets_file} [pexxero] encryption_key"), "secrets.toml", secrets_file)
    if _is_url(db_path):
        raise KeyNotSet(holds_secrets())
    path = key_file_for(db_path)
    return KeySource(_read_or_create_key_file(path, lambda: not holds_secrets(), Path(db_path)), "key file", path)


def _is_url(db_path: str | Path) -> bool:
    from pexxero.store.backend import is_postgres

    return is_postgres(db_path)


def _checked(key: str, where: str) -> bytes:
    try:
        Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidKey(f"{where} is not a valid encryption key: {GENERATE_HINT}") from None
    return key.encode("ascii")


class SecretsFileUnreadable(SecretsError):
    """`.streamlit/secrets.toml` exists but is not readable TOML."""


def read_secrets_file(path: Optional[Path] = None) -> dict:
    """`.streamlit/secrets.toml` as a dict ({} when there is none), read without streamlit: the engine, the command
    line and the dashboard all take the Xero app, the PEX token and the key from the same file."""
    path = SECRETS_FILE if path is None else path
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SecretsFileUnreadable(f"{path} cannot be read: {type(exc).__name__}") from None


def _key_from_secrets_toml(path: Path) -> str:
    try:
        data = read_secrets_file(path)
    except SecretsFileUnreadable as exc:
        # a broken secrets file must not silently fall through to a different key
        raise InvalidKey(str(exc)) from None
    section = data.get("pexxero")
    value = section.get("encryption_key", "") if isinstance(section, dict) else ""
    return value.strip() if isinstance(value, str) else ""


def _read_or_create_key_file(path: Path, may_create: Callable[[], bool] = lambda: True,
                             db_path: Optional[Path] = None) -> bytes:
    """Read `<db>.key`, or create it atomically when `may_create()`: two processes starting together end up
    with one key."""
    try:
        return _checked(path.read_text(encoding="ascii").strip(), str(path))
    except FileNotFoundError:
        pass
    if not may_create():
        raise KeyFileMissing(path, db_path if db_path is not None else path.with_suffix(""))
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only from the first byte
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # fails if another process won the race; then its key is the key
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    return _checked(path.read_text(encoding="ascii").strip(), str(path))


class Cipher:
    """Encrypts a credential dict bound to its connection and service, so rows cannot be swapped unnoticed."""

    def __init__(self, key: bytes):
        self._fernet = Fernet(key)

    def __repr__(self) -> str:  # never the key
        return "Cipher(<hidden>)"

    def encrypt(self, connection_id: int, service: str, value: dict) -> str:
        payload = {"connection_id": connection_id, "service": service, "value": value}
        return self._fernet.encrypt(json.dumps(payload, sort_keys=True).encode("utf-8")).decode("ascii")

    def decrypt(self, connection_id: int, service: str, token: str) -> dict:
        try:
            payload = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            raise CredentialsUnreadable(service) from None
        if payload.get("connection_id") != connection_id or payload.get("service") != service:
            raise CredentialsUnreadable(service)
        return payload["value"]
