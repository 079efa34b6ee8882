"""Whether the process behind a sync lock or a queued run is still there: on this machine a process that has
exited can be seen at once, without waiting for its heartbeat to go stale."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime
from typing import Optional


def lock_owner() -> str:
    """Who holds a lock: this machine, this process, and a token of its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def process_is_gone(pid: Optional[int]) -> bool:
    """Process `pid` of this machine has exited. A child of this process that exited is reaped here (until then it
    is a zombie, which still answers a signal check); a process we cannot check counts as alive."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:  # not our child: ask the kernel whether it exists
        pass
    except (OSError, AttributeError):  # no waitpid (Windows)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def holder_is_gone(owner: str) -> bool:
    """The lock's process ran on this machine and has exited (killed, crashed): no need to wait for its
    heartbeat to go stale. A process elsewhere, or one we cannot check, counts as alive."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def never_started(row: dict, now: float, stale_after: float, *, local: bool = True) -> bool:
    """A queued run whose process is gone. A row from before pids were recorded counts as gone once it has
    waited longer than a heartbeat may be late; so does every queued run of a store shared between hosts
    (`local=False`, PostgreSQL), whose pid may be another machine's."""
    if row.get("pid") and local:
        return process_is_gone(row["pid"])
    try:
        queued = datetime.fromisoformat(row["queued_at"]).timestamp()
    except (TypeError, ValueError):
        return True
    return now - queued > stale_after
