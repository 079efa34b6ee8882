"""A clock tests move by hand: rate limits, token expiry and backoff are tested without waiting."""

from __future__ import annotations

import threading


class FakeClock:
    """Callable like `time.time` / `time.monotonic`; `sleep` advances it and records each wait in `slept`."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
