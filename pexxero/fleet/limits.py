"""The one limiter of a fleet process: Xero's limits counted in PostgreSQL, so a worker's sync, another worker's
and a dashboard's preview of the same organisation draw on one budget. Embedded mode keeps its in-process one."""

from __future__ import annotations

import threading
from typing import Optional

from pexxero.clients.xero_calls import Limiter, install_shared_limiter, shared_limiter
from pexxero.fleet.app import queue_url

_lock = threading.Lock()
_by_url: dict[str, Limiter] = {}


def limiter_for(db) -> Optional[Limiter]:
    """The limiter gateways of workspace `db` use: the process's installed one, else the PostgreSQL one of the
    fleet's queue (one per process), else None (each gateway its own, in-process)."""
    installed = shared_limiter()
    if installed is not None:
        return installed
    url = queue_url(str(db))
    if url is None:
        return None
    with _lock:
        if url not in _by_url:
            from pexxero.store.pg_limits import PgCallLimiter, ensure_schema

            ensure_schema(url)
            _by_url[url] = PgCallLimiter(url)
        return _by_url[url]


def share_limits(url: str) -> Limiter:
    """Install the PostgreSQL limiter of `url` for every gateway this process builds (a worker does at start),
    unless one is installed already (a test's or a bench's own)."""
    from pexxero.store.pg_limits import PgCallLimiter, ensure_schema

    ensure_schema(url)
    if shared_limiter() is not None:
        return shared_limiter()
    limiter = PgCallLimiter(url)
    install_shared_limiter(limiter)
    return limiter
