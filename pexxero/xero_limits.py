"""Xero's limits and failures: the errors the gateway raises and the client-side call limiter.

Xero allows 60 calls a minute, 5 at once and 5,000 a day per organisation. The limiter keeps us under the
first two before Xero has to say no; the gateway still honours Xero's 429 answers, and stops at the third.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Iterator, Sequence

# ------------------------------------------------------------------------------------------ errors


class XeroError(Exception):
    """Xero refused or failed a call. `message` is safe to show: it never holds a token or the secret."""

    def __init__(self, message: str, status: int | None = None, validation: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.status = status
        self.validation = list(validation)

    def __str__(self) -> str:
        return self.message


class XeroSessionFailed(XeroError):
    """The grant is gone (refresh refused, revoked): only a new consent helps."""

    MESSAGE = "Xero session failed: re-connect Xero"

    def __init__(self, status: int | None = None):
        super().__init__(self.MESSAGE, status)


class XeroDailyLimit(XeroError):
    """The organisation's daily call budget is spent: stop now (waiting hours is the caller's choice)."""

    def __init__(self, retry_after: float, resets_at: datetime):
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            f"Xero's daily API limit for this organisation is used up; it resets in about {minutes} min "
            f"({resets_at:%Y-%m-%d %H:%M} UTC)",
            429,
        )
        self.retry_after = retry_after
        self.resets_at = resets_at


class XeroUnavailable(XeroError):
    """Xero kept failing (5xx, dropped connections, timeouts, unreadable bodies) after every retry."""


# ------------------------------------------------------------------------------------------ headers

LIMIT_HEADERS = ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining")


def header(headers, name: str) -> str | None:
    """A response header, case-insensitively (urllib3 gives a case-insensitive dict, tests plain dicts)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def remaining_limits(headers) -> dict[str, int]:
    found = {}
    for name in LIMIT_HEADERS:
        value = header(headers, name)
        if value is not None and str(value).strip().lstrip("-").isdigit():
            found[name] = int(value)
    return found


def retry_after_seconds(headers, now: float, default: float) -> float:
    """`Retry-After` as seconds: Xero sends a number; an HTTP date is honoured too."""
    value = header(headers, "Retry-After")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return default


def backoff_seconds(failures: int) -> float:
    """Exponential backoff for 5xx and dropped connections: 1, 2, 4, 8 ... capped at 30 s."""
    return float(min(30, 2 ** max(0, failures - 1)))


def utc_at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


# ------------------------------------------------------------------------------------------ limiter


class CallLimiter:
    """At most `minute_limit` calls in any rolling window and `concurrent_limit` at once, per key (tenant).

    A log of recent call times rather than a plain token bucket: a full bucket of 60 plus its refill admits up
    to 119 calls inside one rolling minute, which Xero's rolling window answers with 429. `window` carries a
    small margin over 60 s because Xero stamps a call when it arrives, a moment after we stamp it.
    Thread-safe; time comes from `clock` and waiting goes through `sleep`, so tests drive it with a fake clock.
    """

    def __init__(
        self,
        minute_limit: int = 60,
        concurrent_limit: int = 5,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        window: float = 61.0,
    ):
        if minute_limit < 1 or concurrent_limit < 1:
            raise ValueError("limits must be at least 1")
        self.minute_limit = minute_limit
        self.concurrent_limit = concurrent_limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._stamps: dict[str, deque[float]] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold one of the key's concurrent slots and one place in its rolling minute for one call."""
        with self._lock:
            slots = self._slots.setdefault(key, threading.BoundedSemaphore(self.concurrent_limit))
        with slots:
            self._take_minute_place(key)
            yield

    def _take_minute_place(self, key: str) -> None:
        while True:
            with self._lock:
                now = self._clock()
                stamps = self._stamps.setdefault(key, deque())
                while stamps and stamps[0] <= now - self.window:
                    stamps.popleft()
                if len(stamps) < self.minute_limit:
                    stamps.append(now)
                    return
                wait = stamps[0] + self.window - now
            self._sleep(max(wait, 0.001))  # outside the lock: other keys and finished calls carry on
