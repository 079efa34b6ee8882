"""What the benches share: a wrapper that adds the time spent in a function to a phase's total."""

from __future__ import annotations

import time
from typing import Callable


def phase_timer(spent: dict[str, float]) -> Callable:
    """`timed(phase, fn)` returns `fn` wrapped so that each call's wall time is added to `spent[phase]`."""

    def timed(phase: str, fn: Callable) -> Callable:
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - started

        return run

    return timed
