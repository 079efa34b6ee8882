"""The local copy of PEX, as a connection keeps it: PEX allows about ten reads of the card ledger an hour, so
Preview and Sync read the copy in the store and refresh it sparingly (the look-back window, at most every
REFRESH_INTERVAL, the whole range once a day or when asked)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Optional

from pexxero.clients.pex import eastern_today as today_eastern  # today on PEX's clock (US Eastern)
from pexxero.models import PexTransaction

if TYPE_CHECKING:
    from pexxero.ports import PexPort
    from pexxero.setup import Setup
    from pexxero.store import Store

LOOKBACK_DAYS = 60  # PEX transactions settle and get tagged days after they happen: refetch this much
REFRESH_INTERVAL = timedelta(minutes=10)  # PEX allows ~10 full-ledger reads an hour: never more than this


class LocalPexCopy:
    """What `Connection` does with the local copy; it provides `store`, `connection_id`, `pex()`, `setup()` and
    `date_range()`."""

    store: "Store"
    connection_id: int

    def pex(self) -> "PexPort": ...  # noqa: E704 - provided by Connection
    def setup(self) -> "Setup": ...  # noqa: E704
    def date_range(self, setup: "Setup", today: date) -> tuple[date, date]: ...  # noqa: E704

    def refresh_pex(self, *, today: Optional[date] = None, force: bool = False, full: bool = False) -> bool:
        """Bring the local copy of PEX up to date; True when PEX was called.

        Never refetches a whole year to answer a page view: after the first fill it rereads only the look-back
        window, and not more often than REFRESH_INTERVAL unless forced. Once a day (the first refresh of a day on
        PEX's clock) and when `full` is asked, it rereads the whole configured range instead, so a transaction
        that appears late, or a correction to an old one, is seen. A whole read costs the same calls as a
        look-back read (one window per ledger, paged), so it stays within PEX's hourly limits.
        """
        from pexxero.clients.pex import MAX_HISTORY_DAYS

        today = today or today_eastern()
        start, end = self.date_range(self.setup(), today)
        start = max(start, today - timedelta(days=MAX_HISTORY_DAYS))  # PEX serves the last 12 months only
        if start > end:
            return False  # the whole range is older than PEX keeps: the copy is all there is
        state = self.store.pex_refresh_state(self.connection_id)
        now = datetime.now(timezone.utc)
        whole = True
        if state is not None:
            covered = state["start"] <= start and state["end"] >= end
            daily_due = state["full_day"] != today.isoformat()
            recent = state["due_from"] is not None and now - state["due_from"] < REFRESH_INTERVAL
            if covered and not (force or full or daily_due) and recent:
                return False
            if state["start"] <= start and not (full or daily_due):
                whole = False
                start = max(start, min(state["end"], end) - timedelta(days=LOOKBACK_DAYS))
        pex = self.pex()
        rejected_before = len(getattr(pex, "rejected", []))
        cardholder = list(pex.cardholder_transactions(start, end, include_pendings=True, include_declines=True))
        business = list(pex.business_transactions(start, end))
        # rows PEX sent without a usable id cannot be listed or synced: keep them to say so on every preview
        self.store.set_meta(self._rejected_key(), list(getattr(pex, "rejected", []))[rejected_before:])
        # each ledger replaces its window: an authorisation PEX dropped (or settled under a new id) goes away;
        # the reads recorded with them are what the next refresh decides by
        self.store.save_pex_transactions(self.connection_id, self._with_cardholder_names(cardholder),
                                         fetched_at=now, window=(start, end), ledger="cardholder", whole=whole,
                                         pex_day=today)
        self.store.save_pex_transactions(self.connection_id, business, fetched_at=now, window=(start, end),
                                         ledger="business", whole=whole, pex_day=today)
        return True

    def earliest_pex_activity(self, today: date) -> Optional[date]:
        """The first day of PEX activity within the last year that the local copy knows (no PEX call)."""
        from pexxero.setup import MAX_DAYS_BACK

        return self.store.earliest_pex_date(self.connection_id, today - timedelta(days=MAX_DAYS_BACK))

    def pex_freshness(self) -> dict:
        """How fresh the local copy of PEX is: {"read_at": the last read, "full_at": the last whole-range read}
        (aware UTC datetimes, None when never)."""
        state = self.store.pex_refresh_state(self.connection_id) or {}
        return {"read_at": state.get("read_at"), "full_at": state.get("full_at")}

    def _rejected_key(self) -> str:
        return f"pex_rejected:{self.connection_id}"

    def rejected_pex_rows(self) -> list[str]:
        """PEX rows the last refresh could not identify (no usable TransactionId): not listed, not synced."""
        return list(self.store.meta(self._rejected_key()) or [])

    def _with_cardholder_names(self, transactions: list[PexTransaction]) -> list[PexTransaction]:
        from dataclasses import replace

        key = f"pex_cardholders:{self.connection_id}"
        names = {int(k): v for k, v in (self.store.meta(key) or {}).items()}
        needed = {t.acct_id for t in transactions if t.ledger == "cardholder"}
        if needed - names.keys():
            names.update({acct: holder.name for acct, holder in self.pex().cardholders().items()})
            self.store.set_meta(key, {str(k): v for k, v in names.items()})
        return [replace(t, cardholder=names.get(t.acct_id, t.cardholder)) for t in transactions]

    def pex_transactions(self, start: date, end: date) -> list[PexTransaction]:
        return self.store.pex_transactions(self.connection_id, start, end)
