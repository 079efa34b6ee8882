"""The sync runner: writes the plan into Xero exactly once, survives any stop, and says why for every item.

Per item:   planned --(intent committed with its Idempotency-Key)--> sending --(Xero answered)--> created | failed
A run that dies leaves intents in `sending`. The next run first asks Xero by reference what arrived and resends
what did not *with the same key and body*, so even a request still in flight at Xero cannot become two records.

A run works on one Xero organisation, the one chosen when it starts, to its end: its ledger, intents, receipts and
releases are that organisation's alone, a plan built for another organisation is refused in words, and requests an
interrupted run left in flight to another organisation wait until that organisation is connected again.

An undo (`plan_undo`, `run_undo`) removes what a run created by the same path, intent first, and a record written
again after an undo goes under a new Idempotency-Key (Xero would replay the deleted record's answer to the old one).

The same function serves the command line (foreground) and the dashboard (a detached child process, so that
leaving, refreshing or closing the page, or restarting the dashboard, never stops a sync).
"""

from pexxero.sync.background import Started, start_background, start_sync, start_sync_all
from pexxero.sync.base import (
    BATCH_SIZE,
    DATABASE_FAILED,
    EXIT_CODES,
    PIPELINE,
    SESSION_FAILED,
    Stop,
    _body,
    idempotency_key,
)
from pexxero.sync.runner import Runner, run_sync
from pexxero.sync.undo import UndoPlan, plan_undo
from pexxero.sync.undo_run import run_undo

__all__ = ["BATCH_SIZE", "DATABASE_FAILED", "EXIT_CODES", "PIPELINE", "SESSION_FAILED", "Runner", "Stop", "_body",
           "idempotency_key", "UndoPlan", "plan_undo", "run_sync", "run_undo", "start_background", "Started",
           "start_sync", "start_sync_all"]
