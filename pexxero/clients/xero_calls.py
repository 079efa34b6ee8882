"""Xero's limits and failures: the errors the gateway raises, the client-side call limiter, and `CallRunner`,
which makes one API call inside both and retries what is worth retrying.

Xero allows 60 calls a minute, 5 at once and 5,000 a day per organisation. The limiter keeps us under the
first two before Xero has to say no; the runner still honours Xero's 429 answers, and stops at the third.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections import deque
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable, ContextManager, Iterator, Mapping, Optional, Protocol, Sequence

import urllib3
from xero_python.exceptions import ApiSSLException, HTTPStatusException

from pexxero.clients.http import Retries, exponential, retry_after
from pexxero.errors import SESSION_FAILED, SESSION_FAILED_HINT, SESSION_FAILED_MESSAGE, PexxeroError

# ------------------------------------------------------------------------------------------ the day's allowance

DAILY_CALLS = 5000  # calls a day per organisation on Xero's Core, Plus, Advanced and Enterprise tiers
STARTER_DAILY_CALLS = 1000  # on the Starter developer tier (since March 2026)
DAILY_CALLS_ENV = "PEXXERO_XERO_DAILY_CALLS"


def daily_allowance(env: Optional[Mapping[str, str]] = None) -> int:
    """The calls a day this app may make per organisation: `$PEXXERO_XERO_DAILY_CALLS` (a whole number, e.g.
    1000 on Xero's Starter tier), else DAILY_CALLS."""
    env = os.environ if env is None else env
    text = (env.get(DAILY_CALLS_ENV) or "").strip().replace(",", "")
    if not text:
        return DAILY_CALLS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise PexxeroError(f"{DAILY_CALLS_ENV} is {text!r}: it takes a whole number of calls a day",
                           f"set it to {DAILY_CALLS} (or {STARTER_DAILY_CALLS} on Xero's Starter tier) or unset it")
    return value


# ------------------------------------------------------------------------------------------ errors


class XeroError(PexxeroError):
    """Xero refused or failed a call. `message` is safe to show: it never holds a token or the secret."""

    def __init__(self, message: str, status: int | None = None, validation: Sequence[str] = ()):
        super().__init__(message)
        self.status = status
        self.validation = list(validation)


class XeroSessionFailed(XeroError):
    """The grant is gone (refresh refused, revoked): only a new consent helps."""

    MESSAGE = SESSION_FAILED
    hint = SESSION_FAILED_HINT

    def __init__(self, status: int | None = None):
        super().__init__(SESSION_FAILED_MESSAGE, status)


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
    seconds = retry_after(header(headers, "Retry-After"), now)
    return default if seconds is None else seconds


backoff_seconds = exponential(1.0, cap=30.0)  # 5xx and dropped connections: 1, 2, 4, 8 ... at most 30 s


def utc_at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


# ------------------------------------------------------------------------------------------ limiter


class Limiter(Protocol):
    """What the call runner needs of a limiter. `CallLimiter` (below) keeps its counts in this process; fleet
    mode's `pexxero.store.pg_limits.PgCallLimiter` keeps them in PostgreSQL, shared by every worker and dashboard."""

    def slot(self, key: str) -> ContextManager[None]:
        """Hold one of the organisation's concurrent slots and one place in its rolling minute for one call."""

    def hold(self, key: str, seconds: float, *, whole_app: bool = False) -> None:
        """Xero answered 429 with `Retry-After: seconds`: admit no call for `key` (or, for Xero's app-wide minute
        limit, for any organisation) until that time has passed."""


_shared: Optional[Limiter] = None  # the process's shared limiter (fleet mode), installed at start


def install_shared_limiter(limiter: Optional[Limiter]) -> None:
    """Every gateway built from now on in this process uses `limiter` (None: each its own `CallLimiter`)."""
    global _shared
    _shared = limiter


def shared_limiter() -> Optional[Limiter]:
    return _shared


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

    def hold(self, key: str, seconds: float, *, whole_app: bool = False) -> None:
        """Nothing to share in one process: the call that met the 429 waits out its Retry-After itself (tests
        hand the gateway a `sleep` that only records, so a wait here on the real clock would spin)."""

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


APP_KEY = "*app*"  # the key of Xero's app-wide limit (no tenant id looks like it)


# ------------------------------------------------------------------------------------------ one call

# how long one call may wait out Xero's minute limits (429 with Retry-After) before it counts as unavailable
MAX_RATE_WAIT = 15 * 60.0

# dropped connections (ProtocolError wrapping RemoteDisconnected), timeouts, refused connections, TLS failures
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ApiSSLException)


class Refused:
    """A 400 ValidationException body, handed back to a batch write instead of raised."""

    def __init__(self, status: int, body: dict):
        self.status = status
        self.body = body


class CallRunner:
    """Runs one SDK call: limiter slot, fresh token, retries. Writes resend their own kwargs, so the same key.

    `tokens` is the gateway's TokenManager (access_token(), refresh(stale=), secrets()).
    """

    def __init__(self, tokens, limiter: Limiter, *, clock: Callable[[], float],
                 sleep: Callable[[float], None], max_retries: int, max_rate_wait: float = MAX_RATE_WAIT):
        self.tokens = tokens
        self.limiter = limiter
        self.clock = clock
        self.sleep = sleep
        self.max_retries = max_retries
        self.max_rate_wait = max_rate_wait
        self.calls = 0
        self.limits: dict[str, int] = {}  # the latest limit headers seen, from any answer
        self.limits_by_key: dict[str, dict[str, int]] = {}  # per organisation (the limiter's key)
        self._count_lock = threading.Lock()

    def remaining(self, key: str, name: str) -> Optional[int]:
        """The last value of limit header `name` seen in an answer for `key` (an organisation), or None."""
        with self._count_lock:
            return self.limits_by_key.get(key, {}).get(name)

    def run(self, method, args: tuple, kwargs: dict, slot_key: str, validation_body: bool = False):
        """The parsed JSON body of a 2xx answer (a `Refused` for a 400 ValidationException if asked)."""
        retries = Retries(self.max_retries, backoff_seconds)
        rate_waited = 0.0  # seconds spent waiting out Xero's minute limits for this call
        reauthorised = False
        while True:
            token = self.tokens.access_token()
            status, headers, body, broke = self._attempt(method, args, kwargs, slot_key)
            seen = remaining_limits(headers)
            if seen:
                with self._count_lock:
                    self.limits.update(seen)
                    self.limits_by_key.setdefault(slot_key, {}).update(seen)
            wait = None
            if broke is None and 200 <= status < 300:
                parsed = parse_json(body)
                if parsed is not UNREADABLE:
                    return parsed
                broke = "an unreadable answer"  # HTML or a body cut short: the resend repeats the same key
            if broke is None and status == 401:
                if reauthorised:
                    raise XeroSessionFailed(401)
                reauthorised = True
                self.tokens.refresh(stale=token)  # TokenExpired mid-call: refresh once and resend
                continue
            if broke is None and status == 429:
                retry_after = retry_after_seconds(headers, self.clock(), default=60.0)
                if (header(headers, "X-Rate-Limit-Problem") or "").lower() == "day":
                    raise XeroDailyLimit(retry_after, utc_at(self.clock() + retry_after))
                # a minute (or concurrent, or app-minute) limit passes by itself: wait it out, within a budget
                # of waiting rather than of attempts, so a storm of short Retry-Afters does not end the run
                if rate_waited + retry_after <= self.max_rate_wait:
                    rate_waited += retry_after
                    # through the limiter, so every call to this organisation (in every process sharing the
                    # limiter) waits too, not only this one
                    problem = (header(headers, "X-Rate-Limit-Problem") or "").lower()
                    self.limiter.hold(slot_key, retry_after, whole_app=problem == "appminute")
                    self.sleep(retry_after)
                    continue
                wait, broke = retry_after, "the rate limit"
                retries.spend()  # the budget is spent: this is the last attempt
            elif broke is None and status >= 500:
                wait = retry_after_seconds(headers, self.clock(), default=0) or None
                broke = f"HTTP {status}"
            elif broke is None:
                parsed = parse_json(body)
                parsed = parsed if isinstance(parsed, dict) else {}
                if validation_body and status == 400 and parsed.get("Elements"):
                    return Refused(status, parsed)
                raise self.refusal(status, parsed, body)
            delay = retries.failed(wait)
            if delay is None:
                raise XeroUnavailable(f"Xero is unavailable: {broke} after {retries.failures} attempts",
                                      status if broke.startswith(("HTTP", "the rate")) else None)
            self.sleep(delay)

    def _attempt(self, method, args, kwargs, slot_key):
        """Send once. Returns (status, headers, body bytes, transport failure or None)."""
        with self.limiter.slot(slot_key):
            with self._count_lock:
                self.calls += 1
            raw = None
            try:
                raw, status, headers = method(*args, _return_http_data_only=False, _preload_content=False,
                                              **kwargs)
                return status, headers, raw.data, None  # reading can still break (truncated body)
            except HTTPStatusException as error:
                resp = error.http_resp
                _release(getattr(resp, "urllib3_response", None))
                return resp.status, resp.getheaders(), resp.data, None
            except TRANSPORT_ERRORS as error:
                timed_out = isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError))
                return 0, {}, b"", "a timeout" if timed_out else "a dropped connection"
            finally:
                _release(raw)

    def refusal(self, status: int, parsed: dict, body: bytes = b"") -> XeroError:
        """A 4xx as XeroError: Xero's own message and validation messages, scrubbed of any secret."""
        validation = [m for element in parsed.get("Elements") or [] for m in validation_messages(element)]
        detail = (
            parsed.get("Detail") or parsed.get("Message") or parsed.get("Title")
            or _plain(body) or f"HTTP {status}"
        )
        message = self.scrub(f"Xero refused the request (HTTP {status}): {detail}"
                             + (f" — {'; '.join(validation)}" if validation else ""))
        return XeroError(message, status, [self.scrub(v) for v in validation])

    def scrub(self, text: str) -> str:
        for secret in self.tokens.secrets():
            text = text.replace(secret, "***")
        return text


UNREADABLE = object()


def parse_json(body: bytes):
    """JSON with exact decimals, or UNREADABLE (empty, HTML, cut short)."""
    if not body:
        return UNREADABLE
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return UNREADABLE


def validation_messages(element: dict) -> tuple[str, ...]:
    return tuple(v.get("Message", "") for v in element.get("ValidationErrors") or [] if v.get("Message"))


def _plain(body: bytes) -> str:
    """A short, single-line excerpt of a non-JSON error body (HTML pages are not worth showing)."""
    text = (body or b"").decode("utf-8", "replace").strip()
    if not text or text.startswith("<"):
        return ""
    return " ".join(text.split())[:200]


def _release(raw) -> None:
    if raw is not None and hasattr(raw, "release_conn"):
        try:
            raw.release_conn()
        except Exception:  # releasing a broken connection can fail; the pool copes
            pass
