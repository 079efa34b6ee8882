"""Where the dashboard's sandbox mode keeps its database: one folder per user in the temp directory, reused by
every start, instead of a new /tmp/pexxero-sandbox-XXXX for each start that nothing ever removed.

Inside it each server process has a folder of its own (`run-<pid>`), so two dashboards at once never share a
database and every start begins with an empty sandbox. It is removed when the process exits; one left by a
process that was killed is removed by the next start. A folder at the per-user path that is not this user's own
(another user's, or a link planted there) is never written into: a private folder of its own is made instead.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Optional

from pexxero.store.processes import process_is_gone

PREFIX = "pexxero-sandbox-"
RUN_PREFIX = "run-"


def _user() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    import getpass

    return re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser()) or "user"


def _ours(folder: Path) -> bool:
    """A real folder (not a link) owned by this user; it is made private if it was not."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        return False
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return True


def user_folder(root: Optional[Path] = None) -> Path:
    """The user's sandbox folder under `root` (default: the temp directory), made on first use."""
    root = Path(root or tempfile.gettempdir())
    folder = root / f"{PREFIX}{_user()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    if _ours(folder):
        return folder
    private = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))  # the shared path is not safe to use
    atexit.register(shutil.rmtree, private, True)
    return private


def sweep(folder: Path) -> list[Path]:
    """Remove the run folders whose process is gone; the ones removed."""
    removed = []
    for run in folder.glob(RUN_PREFIX + "*"):
        suffix = run.name[len(RUN_PREFIX):]
        if not suffix.isdigit() or int(suffix) == os.getpid() or not process_is_gone(int(suffix)):
            continue
        shutil.rmtree(run, ignore_errors=True)
        removed.append(run)
    return removed


def sandbox_database(root: Optional[Path] = None) -> Path:
    """A fresh database path for this process's sandbox, in its own run folder that goes when the process exits."""
    folder = user_folder(root)
    sweep(folder)
    run = folder / f"{RUN_PREFIX}{os.getpid()}"
    shutil.rmtree(run, ignore_errors=True)  # a dead process with the same pid left it: start from nothing
    run.mkdir(mode=0o700)
    atexit.register(shutil.rmtree, run, True)
    return run / "pexxero.db"
