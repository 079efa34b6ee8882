"""What the PEX double says on the wire, apart from its routes: JSON out, errors, the fault switchboard, and the
checks of a dropdown tag write.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from starlette.responses import Response

from pexxero.clients.http import dumps_exact

FAULT_KINDS = ("429", "500", "503", "504", "html_500", "drop", "truncated_json")


# ------------------------------------------------------------------------------------------ JSON out

def dumps(value: object) -> bytes:
    """JSON with Decimals written as exact numbers (PEX sends money as JSON numbers, never strings)."""
    return dumps_exact(value, compact=True, default=None).encode("utf-8")


class PexJSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: object) -> bytes:
        return dumps(content)


def message(status: int, text: str, headers: dict | None = None) -> PexJSON:
    return PexJSON({"Message": text}, status_code=status, headers=headers)


# -------------------------------------------------------------------------------------------- faults

@dataclass
class Fault:
    kind: str
    path_contains: Optional[str]
    count: int
    retry_after: Optional[int] = None
    status: Optional[int] = None


class Faults:
    """The switchboard: queued one-shot faults matched by path, and a full outage switch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[Fault] = []
        self.outage = False

    def queue(self, kind: str, path_contains: str | None = None, count: int = 1, *,
              retry_after: int | None = None, status: int | None = None) -> None:
        """Answer the next `count` calls whose path contains `path_contains` (case-insensitive) with `kind`.

        `retry_after` adds a Retry-After header to a "429"; `status` sets the status of "truncated_json" (200).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            where = path_contains.lower() if path_contains else None
            self._queued.append(Fault(kind, where, count, retry_after, status))

    def take(self, path: str) -> Optional[Fault]:
        with self._lock:
            for fault in self._queued:
                if fault.path_contains is None or fault.path_contains in path.lower():
                    fault.count -= 1
                    if fault.count <= 0:
                        self._queued.remove(fault)
                    return fault
        return None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.count for f in self._queued)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
        self.outage = False


def _dropdown_problem(body: object) -> Optional[str]:
    """Why a dropdown PUT body is refused (400), or None. `Type` may be the SDK's integer or PEX's string."""
    if not isinstance(body, dict):
        return "The request body must be a tag definition."
    kind = body.get("Type", "Dropdown")
    if not (kind == 2 or (isinstance(kind, str) and kind.lower() in ("dropdown", "2"))):
        return f"Type must be Dropdown, not {kind!r}."
    options = body.get("Options")
    if not isinstance(options, list) or not options:
        return "Options are required."
    try:
        names = [str(o["Name"]).strip().lower() for o in options]
        values = [str(o["Value"]).strip().lower() for o in options]
        enabled = [bool(o.get("IsEnabled", True)) for o in options]
    except (KeyError, TypeError, AttributeError):
        return "Every option needs a Name and a Value."
    if len(set(names)) != len(names):
        return "Option names must be unique."
    if len(set(values)) != len(values):
        return "Option values must be unique."
    if not any(enabled):
        return "At least one option must be enabled."
    return None


async def _send(send, response: Response) -> None:
    """Send a whole Starlette response from the front door (outside routing)."""
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
