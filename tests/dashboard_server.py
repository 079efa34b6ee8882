"""`streamlit run app.py` as a user starts it, for the browser tests: pointed at doubles running in the test's
process and at a database the test also reads, on a free port on 127.0.0.1, stopped afterwards."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_dashboard(doubles_env: dict, db: str) -> Iterator[str]:
    """The dashboard's URL once streamlit says it serves; the server gets the doubles' environment and `db` as
    PEXXERO_DB, and none of this process's other XERO_/PEX_/PEXXERO_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "PEX_", "PEXXERO_"))}
    env.update(doubles_env, PEXXERO_DB=db, PYTHONPATH=str(ROOT))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue = queue.Queue()
    log: list[str] = []

    def pump():
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:  # wait until streamlit says it serves (or died)
            line = lines.get(timeout=60)
            assert line is not None, "streamlit exited:\n" + "".join(log)
            if "URL:" in line:
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
