"""The fleet mode commands: `sync --queue`, `worker`, `jobs`, `nightly`. Thin, like commands.py: each calls
pexxero.fleet and prints."""

from __future__ import annotations

import argparse

from pexxero.commands import table


def sync_queued(args: argparse.Namespace) -> int:
    from pexxero.fleet.jobs import queue_sync, queue_syncs

    options = dict(retry_failed=args.retry_failed, full_refresh=args.full_refresh)
    if args.all_connections:
        queued = queue_syncs(args.db, **options)
    else:
        queued = [queue_sync(args.db, getattr(args, "connection", None), **options)]
    for q in queued:
        said = f"already {q.already}" if q.already else "queued"
        print(f"job {q.job_id}: {q.connection.name} ({said})")
    fresh = sum(1 for q in queued if not q.already)
    print(f"{fresh} queued, {len(queued) - fresh} already queued or running; follow them with `python -m pexxero "
          "jobs`")
    return 0


def worker(args: argparse.Namespace) -> int:
    import logging

    from pexxero.fleet.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "urllib3"):  # one line per request would drown the jobs' lines
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return run_worker(args.db, concurrency=args.concurrency, name=args.name)


def jobs(args: argparse.Namespace) -> int:
    from pexxero.fleet.jobs import list_jobs
    from pexxero.overview import JOB_COLUMNS, job_cells

    rows = list_jobs(args.db, status=args.status, limit=args.limit)
    if not rows:
        print("No sync jobs.")
        return 0
    print(table([job_cells(j) for j in rows], list(JOB_COLUMNS)))  # the Overview page's "Sync jobs" cells
    return 0


def nightly(args: argparse.Namespace) -> int:
    from pexxero.fleet.tasks import nightly_schedule, set_nightly_schedule

    if args.cron is None and args.timezone is None:
        cron, zone = nightly_schedule(args.db)
    else:
        cron, zone = set_nightly_schedule(args.db, args.cron, args.timezone)
    print(f"Nightly sync of every connection: {cron} ({zone}), queued by the workers' minute tick")
    return 0
