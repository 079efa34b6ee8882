"""What the PEX client and the Xero gateway share on the wire: Retry-After, backoff, counting retries, exact JSON.

Each client keeps its own decision of what is worth retrying next to its classification of the answer (PEX: 429,
5xx and dropped connections on idempotent calls; Xero: the day limit, a token to refresh, a write resent with the
same Idempotency-Key); `Retries` only counts the failed attempts and says how long to wait before the next.
"""

from __future__ import annotations

import json
import time
from datetime import timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Optional

_string = json.encoder.encode_basestring_ascii  # a str as JSON, escaped as json.dumps escapes it


def retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """A `Retry-After` header as seconds from `now` (epoch seconds; default: the wall clock): a number of
    seconds, or an HTTP date. None when there is none or it cannot be read."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def exponential(base: float, cap: Optional[float] = None) -> Callable[[int], float]:
    """Backoff after the n-th failure (n from 1): base, 2 × base, 4 × base ..., at most `cap`."""

    def delay(failures: int) -> float:
        seconds = base * 2 ** max(0, failures - 1)
        return float(seconds if cap is None else min(cap, seconds))

    return delay


class Retries:
    """The failed attempts of one call: `failed(wait)` counts one and says how long to wait before the next —
    the server's Retry-After when it gave one, else the backoff — or None once `max_retries` retries are spent."""

    def __init__(self, max_retries: int, backoff: Callable[[int], float]):
        self.max_retries = max_retries
        self.backoff = backoff
        self.failures = 0

    def failed(self, wait: Optional[float] = None) -> Optional[float]:
        self.failures += 1
        if self.failures > self.max_retries:
            return None
        return wait if wait is not None else self.backoff(self.failures)

    def spend(self) -> None:
        """No retry is left: the next `failed` gives up."""
        self.failures = max(self.failures, self.max_retries)


def dumps_exact(value: Any, *, compact: bool = False, default: Optional[Callable[[Any], Any]] = str) -> str:
    """JSON text in which every Decimal is an exact number (0.1 stays 0.1, 12.50 stays 12.50), as PEX sends and
    takes money; anything else json cannot write goes through `default` (None: TypeError)."""
    comma, colon = (",", ":") if compact else (", ", ": ")

    def encode(item: Any) -> str:
        kind = type(item)
        if kind is str:
            return _string(item)
        if kind is int:
            return str(item)
        if isinstance(item, Decimal):
            if not item.is_finite():
                raise ValueError(f"{item} is not a JSON number")
            return str(item)
        if isinstance(item, dict):
            return "{" + comma.join(_string(str(k)) + colon + encode(v) for k, v in item.items()) + "}"
        if isinstance(item, (list, tuple)):
            return "[" + comma.join(encode(v) for v in item) + "]"
        return json.dumps(item, default=default)

    return encode(value)
