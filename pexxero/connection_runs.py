"""A connection's runs and history, and the small values it keeps across processes: what `Connection` reads of
its own runs (another connection's runs are not seen from here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from pexxero.store import Store


class ConnectionRuns:
    store: "Store"
    connection_id: int

    def tenant_id(self) -> str: ...  # noqa: E704 - provided by Connection

    def pinned_tenant(self, tenant_id=None): ...  # noqa: E704 - provided by Connection

    # ------------------------------------------------------------------------------------- history

    def history(self, limit: int = 200) -> list[dict]:
        return self.store.list_runs(self.connection_id, limit)

    def run_items(self, run_id: int) -> list[dict]:
        return self.store.items(run_id)

    def running(self) -> Optional[dict]:
        return self.store.running_run(self.connection_id)

    def run(self, run_id: int) -> Optional[dict]:
        """The run, if it is this connection's (another connection's runs are not seen from here)."""
        run = self.store.get_run(run_id)
        return run if run is not None and run["connection_id"] == self.connection_id else None

    def last_finished_run(self) -> Optional[dict]:
        """The last finished run into the organisation chosen now."""
        return self.store.last_finished_run(self.connection_id, tenant_id=self.tenant_id())

    def run_counts(self, run_id: int) -> dict[str, int]:
        """outcome -> how many of the run's items have it."""
        return self.store.item_counts(run_id)

    def undo_plan(self, run_id: int):
        """What undoing run `run_id` would remove from Xero and what it must keep, each with the reason (an
        `UndoPlan`); reads Xero, writes nothing."""
        from pexxero.sync.undo import plan_undo

        with self.pinned_tenant():
            return plan_undo(self, run_id)

    def undo(self, run_id: int) -> dict:
        """Remove from Xero what run `run_id` created and Xero lets go, as a run of its own; returns its row."""
        from pexxero.sync.undo_run import run_undo

        return run_undo(self, run_id)

    def run_tally(self, run_id: int) -> dict[tuple[str, str], int]:
        """(outcome, Preview status) -> how many of the run's items have both (`history.run_tally` words it)."""
        return self.store.item_tally(run_id)

    def run_receipts(self, run_id: int) -> list[dict]:
        return self.store.receipts(run_id)

    def cancel_run(self, run_id: int) -> None:
        """Ask the run to stop after the request in flight (it checks between requests)."""
        self.store.request_cancel(run_id)

    def remembered(self, name: str):
        """A small value this connection keeps across processes (None when unset)."""
        return self.store.meta(f"{name}:{self.connection_id}")

    def remember(self, name: str, value) -> None:
        self.store.set_meta(f"{name}:{self.connection_id}", value)
