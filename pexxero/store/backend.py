"""Which database a `--db` target names, and how to name it without its password.

A target is a SQLite file path, or a PostgreSQL URL (`postgresql://USER[:PASS]@HOST[:PORT]/DBNAME`, also
`postgres://`). Everything that shows a target to a user (errors, logs, the command line) goes through
`safe_target`, so a password in the URL is never printed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: object) -> bool:
    """The target is a PostgreSQL URL (not a file path)."""
    return isinstance(target, str) and target.lower().startswith(URL_SCHEMES)


def safe_target(target: str | Path) -> str:
    """The target as it may be shown: a URL without its password (and without query options, which may hold
    one too); a path as it is."""
    if not is_postgres(target):
        return str(target)
    parts = urlsplit(str(target))
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def password_of(target: str) -> str:
    """The URL's password ("" when it has none): what `scrubbed` removes from a driver's message."""
    try:
        return urlsplit(target).password or ""
    except ValueError:
        return ""


def scrubbed(message: str, target: str) -> str:
    """A driver's message with the target's password (and the full URL) taken out."""
    message = message.replace(target, safe_target(target))
    secret = password_of(target)
    return message.replace(secret, "***") if secret else message
