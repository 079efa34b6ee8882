"""The procrastinate App of fleet mode, built from the PostgreSQL URL that holds the queue.

Where the queue is: the database itself when `--db` (or `$PEXXERO_DB`) is a `postgresql://` URL, else
`$PEXXERO_QUEUE_URL` (a workspace kept in SQLite on a shared disk, its queue in PostgreSQL). Without either,
pexxero runs embedded: a sync is a process of its own, as cron and the dashboard start it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Mapping, Optional

from pexxero.errors import PexxeroError

QUEUE_URL_ENV = "PEXXERO_QUEUE_URL"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class FleetNotConfigured(PexxeroError):
    hint = (f"keep the workspace in PostgreSQL (--db postgresql://…) or set ${QUEUE_URL_ENV}, then run "
            "`python -m pexxero db migrate`")


def is_postgres(location: str) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def queue_url(db: str, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The PostgreSQL URL of the queue for workspace `db`, or None (embedded mode)."""
    env = os.environ if env is None else env
    if is_postgres(db):
        return str(db)
    return (env.get(QUEUE_URL_ENV) or "").strip() or None


def require_queue_url(db: str, env: Optional[Mapping[str, str]] = None) -> str:
    url = queue_url(db, env)
    if url is None:
        raise FleetNotConfigured("fleet mode needs PostgreSQL for its queue")
    return url


def build_app(url: str, workspace: Optional[str] = None):
    """A procrastinate App on `url` with pexxero's tasks; with `workspace`, also its nightly tick (one periodic
    task per workspace, the same id on every host, so each minute's tick is deferred once for the whole fleet)."""
    import procrastinate

    from pexxero.fleet import tasks

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    tasks.register(app)
    if workspace is not None:
        key = tasks.workspace_key(str(workspace))
        periodic_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        job_db = "" if is_postgres(workspace) else str(workspace)  # never a URL with its password in the queue
        app.periodic(cron=tasks.TICK_CRON, periodic_id=periodic_id,
                     task_kwargs={"db": job_db})(app.tasks[tasks.NIGHTLY_TASK])
    return app


def migrate(url: str) -> None:
    """`db migrate`'s schemas (the store's and procrastinate's, under the store's migration lock), then fleet
    mode's own tables: the shared limits and who ran which job (idempotent; safe from two hosts at once)."""
    from pexxero.store import pg_jobs, pg_limits
    from pexxero.store.pg_migrate import migrate_all

    migrate_all(url)
    with pg_jobs.migration_lock(url):
        pg_jobs.ensure_schema(url)
        pg_limits.ensure_schema(url)
