"""The `sync` command's progress line: on standard error when it is a terminal, redrawn in place about twice a
second from the run's row (the same words as the Sync page's bar); nothing at all when it is not (cron, a pipe,
a log file)."""

from __future__ import annotations

import threading
from typing import Optional, TextIO

from pexxero import views

POLL_SECONDS = 0.5


def line(run: dict, counts: dict[str, int]) -> str:
    """One line for a run: percent done, the step and counts, the receipt phase's estimate."""
    state = views.run_progress(run, counts)
    said = state["text"]
    status = run["status"].title()
    if not state["active"] and not said.startswith(status):
        said = f"{status} — {said}"  # no badge beside a terminal line: the status is said in it
    text = f"{int(state['fraction'] * 100):3d}% {said}"
    if state["receipt_phase"]:
        text = f"{text} · {state['receipt_text']}"
    return " ".join(text.split())


class ProgressLine:
    """Follows the connection's running sync from a database connection of its own."""

    def __init__(self, store, connection_id: int, stream: TextIO):
        self.store, self.connection_id, self.stream = store, connection_id, stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._own = None

    def __enter__(self) -> "ProgressLine":
        if self.enabled:
            self._own = self.store.second_connection()
            self._thread = threading.Thread(target=self._follow, daemon=True, name="sync-progress-line")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _draw(self, text: str, end: str = "") -> None:
        try:
            self.stream.write("\r" + text + "\x1b[K" + end)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the sync goes on
            self.enabled = False

    def _follow(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                run = self._own.running_run(self.connection_id)
                if run is not None:
                    self._draw(line(run, self._own.item_counts(run["id"])))
            except Exception:  # noqa: BLE001 - a busy database skips one redraw
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own is not None:
            self._own.close()
            self._own = None

    def finish(self, run: dict, counts: dict[str, int]) -> None:
        """The run's last state, and the line ended (the summary follows on standard output)."""
        self.stop()
        if self.enabled:
            self._draw(line(run, counts), end="\n")
