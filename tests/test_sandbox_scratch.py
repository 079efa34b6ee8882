"""The dashboard's sandbox database: one folder per user in the temp directory, reused by every start; each server
process's own database folder goes when the process exits, and one a killed process left goes at the next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pexxero.sandbox import scratch

ROOT = Path(__file__).resolve().parents[1]


def _folders(root: Path) -> list[Path]:
    return sorted(root.glob(scratch.PREFIX + "*"))


def test_every_start_reuses_the_users_one_folder(tmp_path):
    first, again = scratch.user_folder(tmp_path), scratch.user_folder(tmp_path)
    assert first == again and _folders(tmp_path) == [first]
    assert first.stat().st_mode & 0o777 == 0o700


def test_a_folder_a_killed_start_left_is_swept_and_a_running_ones_kept(tmp_path):
    folder = scratch.user_folder(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid is free
    dead = folder / f"run-{gone.pid}"
    alive = folder / f"run-{os.getppid()}"  # the process that started the tests is still there
    for run in (dead, alive):
        run.mkdir()
        (run / "pexxero.db").write_bytes(b"SQLite format 3\x00")
    db = scratch.sandbox_database(tmp_path)
    assert not dead.exists() and (alive / "pexxero.db").exists()
    assert db.parent == folder / f"run-{os.getpid()}" and db.parent.is_dir() and not db.exists()
    assert _folders(tmp_path) == [folder]


def test_a_link_planted_at_the_users_path_is_never_written_into(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    planted = tmp_path / f"{scratch.PREFIX}{os.getuid()}"
    planted.symlink_to(target)
    db = scratch.sandbox_database(tmp_path)
    assert list(target.iterdir()) == []
    assert planted not in db.parents and db.parent.parent.parent == tmp_path
    assert db.parent.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to give a folder away")
def test_another_users_folder_is_never_written_into(tmp_path):
    theirs = tmp_path / f"{scratch.PREFIX}{os.getuid()}"
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 4242, 4242)
    db = scratch.sandbox_database(tmp_path)
    assert theirs not in db.parents and list(theirs.iterdir()) == []


@pytest.mark.slow  # two child processes that import streamlit
def test_the_dashboard_leaves_nothing_behind_when_it_exits(tmp_path):
    """Two starts of the dashboard's sandbox mode in a row (as `streamlit run app.py` twice): each had its own
    database; afterwards only the user's one empty folder is left."""
    code = ("from pages.common import context\n"
            "path = context._sandbox_db()\n"
            "open(path, 'w').write('x')\n"
            "print(path)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("PEXXERO_DB", None)
    used = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        used.append(Path(done.stdout.strip().splitlines()[-1]))
    assert used[0] != used[1]
    (folder,) = _folders(tmp_path)
    assert all(p.parent.parent == folder for p in used)
    assert list(folder.iterdir()) == []
