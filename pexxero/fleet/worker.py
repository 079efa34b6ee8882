"""`python -m pexxero worker`: a procrastinate worker that runs the queued syncs of one workspace.

SIGTERM (or Ctrl-C) stops it cleanly: no new job starts; each running sync stops after its request in flight
(the engine's checkpoint between requests), ends Interrupted in words with every intent and outcome recorded,
and its job goes back in the queue for another worker (procrastinate's retry). A worker killed outright
(SIGKILL, a lost host) stops sending heartbeats; the minute's `retry_stalled` tick of any other worker queues its
jobs again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Optional

from pexxero.fleet.app import build_app, migrate, require_queue_url
from pexxero.fleet.limits import share_limits
from pexxero.fleet.tasks import HEARTBEAT_SECONDS, STALLED_AFTER
from pexxero.sync.base import STOPPING

log = logging.getLogger("pexxero.worker")


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_worker(db: str, *, concurrency: int = 1, name: Optional[str] = None,
               heartbeat: float = HEARTBEAT_SECONDS, wait: bool = True) -> int:
    """Run the worker until SIGTERM/SIGINT (or, with `wait=False`, until the queue is empty). Returns 0."""
    if concurrency < 1:
        from pexxero.errors import PexxeroError

        raise PexxeroError(f"--concurrency {concurrency}: it takes a whole number of syncs at once, 1 or more")
    url = require_queue_url(db)
    migrate(url)  # idempotent: a worker started before `db migrate` still finds its tables
    share_limits(url)
    name = name or default_name()
    app = build_app(url, workspace=db)
    log.info("worker %s: up to %d syncs at once", name, concurrency)
    asyncio.run(_serve(app, url=url, db=db, name=name, concurrency=concurrency, heartbeat=heartbeat, wait=wait))
    log.info("worker %s stopped", name)
    return 0


async def _serve(app, *, url: str, db: str, name: str, concurrency: int, heartbeat: float, wait: bool) -> None:
    loop = asyncio.get_running_loop()
    async with app.open_async():
        worker = asyncio.create_task(app.run_worker_async(
            name=name, concurrency=concurrency, wait=wait, install_signal_handlers=False,
            additional_context={"queue_url": url, "workspace": str(db)},
            update_heartbeat_interval=heartbeat, stalled_worker_timeout=STALLED_AFTER,
            fetch_job_polling_interval=2.0, delete_jobs="never"))

        def stop(signame: str) -> None:
            log.info("worker %s: %s received; running syncs stop after their request in flight", name, signame)
            STOPPING.set()  # the syncs' next checkpoint ends them Interrupted, recorded
            worker.cancel()  # procrastinate's graceful stop: no new job, wait for the running ones

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig.name)
        try:
            await worker
        except asyncio.CancelledError:
            pass
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
