"""Every error a user can see derives from `PexxeroError`, and `explain` is the one place that turns an error into
words, for the command line, the pages and History alike.

A `PexxeroError` carries `message` (what happened, in the user's words) and `hint` (what to do; may be empty);
`str()` is the sentence, "message: hint". `explain` words the next step for where it is read — a command to type
on the command line, a page to open on the dashboard — and never shows the text of an unexpected exception, which
could hold a token: only its type.
"""

from __future__ import annotations

from typing import Optional

CLI, PAGE = "cli", "page"  # where an explanation is read

# the commands that fix a missing or refused connection: tokens go in on standard input, never on the command line
CONNECT_PEX = "python -m pexxero connect pex --token -"
CONNECT_XERO = "python -m pexxero connect xero --refresh-token -"
IMPORT_SETUP = "python -m pexxero config import FILE.toml"
RECONNECT_XERO_CLI = f"{CONNECT_XERO} (a new refresh token on standard input)"

SESSION_FAILED_MESSAGE, SESSION_FAILED_HINT = "Xero session failed", "re-connect Xero"
SESSION_FAILED = f"{SESSION_FAILED_MESSAGE}: {SESSION_FAILED_HINT}"  # also a failed run's message


class PexxeroError(Exception):
    """The root of every error a user can see. `message` and `hint` are written to be shown: never a secret."""

    hint: str = ""

    def __init__(self, message: str = "", hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class NotConnected(PexxeroError):
    """A step needs a connection or setup that is not there yet; the message says which."""


def is_session_failure(run_message: Optional[str]) -> bool:
    """Whether a run ended because Xero no longer accepts the connection (the CLI and the Sync page then offer
    re-connecting)."""
    return SESSION_FAILED in (run_message or "")


def pex_stopped(exc) -> str:
    """A PEX failure that ended a run, in words (the token never appears in a PexError's text)."""
    from pexxero.clients.pex import PexAuthError

    if isinstance(exc, PexAuthError):
        return f"PEX refused the token ({exc.message}): connect PEX again (python -m pexxero connect pex)"
    return (f"PEX did not answer ({exc.message}); nothing more was written to Xero. Run sync again when PEX is "
            "back: it continues where it stopped")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _not_connected_command(message: str) -> str:
    if "PEX" in message:
        return f" ({CONNECT_PEX}, the token on standard input)"
    if "Xero" in message:
        return f" ({CONNECT_XERO}, the refresh token on standard input)"
    if "set up" in message:
        return f" ({IMPORT_SETUP})"
    return ""


def explain(exc: BaseException, where: str = PAGE) -> str:
    """An error in words a bookkeeper understands, saying what to do next where it is read (`CLI` or `PAGE`).

    Never a traceback, never a token: only the messages of pexxero's own errors (written to be shown) and fixed
    sentences; an unexpected exception is named by its type alone.
    """
    from pexxero.store import AlreadyRunning
    from pexxero.clients.pex import PexAuthError, PexError, PexRateLimited, PexUnavailable
    from pexxero.clients.xero_calls import XeroDailyLimit, XeroError, XeroSessionFailed, XeroUnavailable
    from pexxero.secrets import SecretsError
    from pexxero.setup import SetupError
    from pexxero.store import StoreError
    from pexxero.store.db import database_error_words

    cli = where == CLI
    database = database_error_words(exc)
    if cli and database:
        return database
    if isinstance(exc, NotConnected):
        return exc.message + _not_connected_command(exc.message) if cli else _capitalised(str(exc)) + "."
    if isinstance(exc, SecretsError):  # the key's source and what to do, never the key
        return str(exc) if cli else _capitalised(str(exc))
    if isinstance(exc, StoreError):  # a damaged database, a --db path that cannot be created
        return str(exc)
    if isinstance(exc, XeroSessionFailed):
        if cli:
            return f"{SESSION_FAILED} ({CONNECT_XERO}, a new refresh token on standard input)"
        return "Xero Session Failure: Xero no longer accepts this connection. Re-connect Xero on the Connect page."
    if isinstance(exc, XeroError):
        if cli:
            return f"Xero: {exc.message}"
        if isinstance(exc, XeroDailyLimit):
            return exc.message
        if isinstance(exc, XeroUnavailable):
            return f"Xero did not answer ({exc.message}). Nothing was changed; try again in a few minutes."
        return f"Xero refused the request: {exc.message}"
    if isinstance(exc, PexError):
        if cli:
            return f"PEX: {exc.message}"
        if isinstance(exc, PexAuthError):
            return "PEX refused the API token. Enter a current token on the Connect page."
        if isinstance(exc, PexRateLimited):
            return "PEX asks us to slow down (usage limit reached). Wait a few minutes, then try again."
        if isinstance(exc, PexUnavailable):
            return f"PEX did not answer ({exc.message}). Try again in a few minutes."
        return f"PEX refused the request: {exc.message}"
    if isinstance(exc, AlreadyRunning):
        return str(exc) if cli else "A sync is already running for this connection; follow it on the Sync page."
    if isinstance(exc, SetupError):
        return str(exc) if cli else "The setup has problems: " + "; ".join(str(e) for e in exc.errors)
    if isinstance(exc, PexxeroError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:  # a file the user named (e.g. --csv) cannot be written or read
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}. Nothing was written to Xero."
    return f"Something went wrong ({type(exc).__name__}). Nothing was written to Xero; try again."
