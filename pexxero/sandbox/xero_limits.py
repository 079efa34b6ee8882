"""Xero's per-organisation rate limits (by an injected clock), the fault switches, and the request log."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

APP_MINUTE_LIMIT = 10_000  # across all organisations, as Xero documents


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    tenant_id: Optional[str]
    idempotency_key: Optional[str]
    status: int = 0  # 0 while in flight
    fault: Optional[str] = None  # the fault kind applied, if any
    dropped: bool = False  # answered with a dropped connection (the client saw no status)
    at: float = 0.0  # when it arrived, on the double's clock


def seconds_to_utc_midnight(now: float) -> int:
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc) + timedelta(days=1)
    return max(1, math.ceil(midnight.timestamp() - now))


class RateLimits:
    """Minute (rolling 60 s), day (UTC calendar day) and concurrent limits per tenant; refused calls do not count."""

    def __init__(self, clock: Callable[[], float], *, minute_limit: int, concurrent_limit: int, day_limit: int):
        self.clock = clock
        self.minute_limit = minute_limit
        self.concurrent_limit = concurrent_limit
        self.day_limit = day_limit
        self.lock = threading.Lock()
        self._minute: dict[str, deque] = {}
        self._day: dict[str, tuple[int, int]] = {}  # tenant -> (UTC day ordinal, calls that day)
        self._app: deque = deque()
        self.in_flight: dict[str, int] = {}

    def _prune(self, calls: deque, now: float) -> None:
        while calls and calls[0] <= now - 60:
            calls.popleft()

    def _day_count(self, tenant: str, now: float) -> int:
        today = datetime.fromtimestamp(now, tz=timezone.utc).toordinal()
        day, count = self._day.get(tenant, (today, 0))
        return count if day == today else 0

    def admit(self, tenant: str) -> tuple[Optional[str], int]:
        """Count one call in; or (problem, Retry-After seconds) when a limit is reached."""
        with self.lock:
            now = self.clock()
            minute = self._minute.setdefault(tenant, deque())
            self._prune(minute, now)
            self._prune(self._app, now)
            if self._day_count(tenant, now) >= self.day_limit:
                return "day", seconds_to_utc_midnight(now)
            if len(minute) >= self.minute_limit:
                return "minute", max(1, math.ceil(minute[0] + 60 - now))
            if len(self._app) >= APP_MINUTE_LIMIT:
                return "appminute", max(1, math.ceil(self._app[0] + 60 - now))
            if self.in_flight.get(tenant, 0) >= self.concurrent_limit:
                return "concurrent", 1
            minute.append(now)
            self._app.append(now)
            today = datetime.fromtimestamp(now, tz=timezone.utc).toordinal()
            self._day[tenant] = (today, self._day_count(tenant, now) + 1)
            self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
            return None, 0

    def release(self, tenant: str) -> None:
        with self.lock:
            self.in_flight[tenant] = max(0, self.in_flight.get(tenant, 0) - 1)

    def headers(self, tenant: Optional[str]) -> dict[str, str]:
        with self.lock:
            now = self.clock()
            self._prune(self._app, now)
            out = {"X-AppMinLimit-Remaining": str(max(0, APP_MINUTE_LIMIT - len(self._app)))}
            if tenant:
                minute = self._minute.setdefault(tenant, deque())
                self._prune(minute, now)
                out["X-MinLimit-Remaining"] = str(max(0, self.minute_limit - len(minute)))
                out["X-DayLimit-Remaining"] = str(max(0, self.day_limit - self._day_count(tenant, now)))
            return out


FAULT_KINDS = ("429", "429_day", "500", "503", "html_503", "truncated_json", "commit_then_drop", "expire_tokens",
               "revoke", "timeout", "empty_200", "odd_shape", "missing_id")


@dataclass
class _Fault:
    kind: str
    path_contains: Optional[str]
    method: Optional[str]
    remaining: int


class FaultSwitches:
    """Faults queued for the next matching calls (to the API, /connections and the token endpoints)."""

    def __init__(self):
        self.timeout_seconds: float = 5.0
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []
        self._releasers: set[Callable[[], None]] = set()

    def queue(self, kind: str, *, path_contains: str | None = None, method: str | None = None,
              count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._queue.append(_Fault(kind, path_contains, method.upper() if method else None, count))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(f.kind, f.remaining) for f in self._queue]

    def take(self, method: str, path: str) -> Optional[str]:
        """The fault for this call, if one is queued for it (first match wins)."""
        with self._lock:
            for fault in self._queue:
                if fault.method and fault.method != method.upper():
                    continue
                if fault.path_contains and fault.path_contains.lower() not in path.lower():
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._queue.remove(fault)
                return fault.kind
            return None

    def release(self) -> None:
        """End every `timeout` hold now (the held requests then answer normally)."""
        with self._lock:
            releasers = list(self._releasers)
        for release in releasers:
            release()

    def _register(self, releaser: Callable[[], None]) -> None:
        with self._lock:
            self._releasers.add(releaser)

    def _unregister(self, releaser: Callable[[], None]) -> None:
        with self._lock:
            self._releasers.discard(releaser)
