"""Fleet mode: syncs run as procrastinate jobs on PostgreSQL by `pexxero worker` processes on any number of hosts,
with Xero's limits shared through the same database.

    app.py     the procrastinate App built from the queue's URL; the queue's schema
    tasks.py   the sync job (its lock and queueing lock), the nightly tick, the retry of stalled jobs
    jobs.py    deferring syncs and listing jobs: what the CLI and the pages call
    worker.py  `pexxero worker`: the worker, its stop on SIGTERM, the shared limiter
"""

from pexxero.fleet.app import FleetNotConfigured, is_postgres, queue_url
from pexxero.fleet.jobs import JobRow, fleet_mode, list_jobs, queue_sync, queue_syncs

__all__ = ["FleetNotConfigured", "JobRow", "fleet_mode", "is_postgres", "list_jobs", "queue_sync", "queue_syncs",
           "queue_url"]
