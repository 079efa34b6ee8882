"""Xero OAuth2 tokens: where the token set lives, and refreshing it safely across threads and processes.

Xero access tokens last 30 minutes and every refresh returns a new refresh token that replaces the old one
at once; losing it means the user has to consent again. So a refresh happens under the keeper's lock, re-reads
the keeper first (another process may have refreshed already) and saves the new set before anything else.
The token calls go through the SDK's `TokenApi`, pointed at `XERO_IDENTITY_URL` per instance.
"""

from __future__ import annotations

import threading
from typing import Callable, ContextManager, Protocol

from xero_python.api_client.oauth2 import TokenApi
from xero_python.exceptions import HTTPStatusException

from pexxero.clients.endpoints import Endpoints
from pexxero.clients.http import Retries
from pexxero.clients.xero_calls import (
    TRANSPORT_ERRORS,
    XeroSessionFailed,
    XeroUnavailable,
    backoff_seconds,
    retry_after_seconds,
)

REFRESH_MARGIN = 60  # seconds before expiry at which the access token is refreshed
TOKEN_KEYS = ("access_token", "refresh_token", "expires_in", "expires_at", "token_type", "scope", "id_token")


class TokenKeeper(Protocol):
    """Where the token set lives. `lock()` is held around a refresh (the store makes it cross-process)."""

    def load(self) -> dict | None: ...

    def save(self, token: dict) -> None: ...

    def lock(self) -> ContextManager: ...


class MemoryTokenKeeper:
    """The in-process keeper: fine for one process (tests, the sandbox); the store keeps tokens in SQLite."""

    def __init__(self, token: dict | None = None):
        self._token = dict(token) if token else None
        self._lock = threading.RLock()

    def load(self) -> dict | None:
        return dict(self._token) if self._token else None

    def save(self, token: dict) -> None:
        self._token = dict(token)

    def lock(self) -> ContextManager:
        return self._lock

    def __repr__(self) -> str:  # never show the tokens themselves
        return f"MemoryTokenKeeper(connected={bool(self._token)})"


def stamp_expiry(token: dict, now: float) -> dict:
    """The token with an absolute `expires_at`, counted from `now` when Xero only gave `expires_in`."""
    token = {k: v for k, v in token.items() if k in TOKEN_KEYS}
    if token.get("expires_at") is None and token.get("expires_in") is not None:
        token["expires_at"] = now + float(token["expires_in"])
    return token


def scope_list(scope) -> list[str]:
    # SDK quirk: TokenApi.refresh_token does " ".join(scope), which spells a str scope out letter by letter
    if not scope:
        return []
    return scope.split() if isinstance(scope, str) else [str(s) for s in scope]


class TokenManager:
    """Gives a fresh access token on demand, refreshing ahead of expiry or after a 401, under the keeper's lock."""

    def __init__(
        self,
        api_client,
        client_id: str,
        client_secret: str,
        keeper: TokenKeeper,
        endpoints: Endpoints,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_retries: int,
    ):
        self._api_client = api_client
        self._client_id = client_id
        self._client_secret = client_secret
        self._keeper = keeper
        self._endpoints = endpoints
        self._clock = clock
        self._sleep = sleep
        self._max_retries = max_retries
        self._local = threading.Lock()  # one refresh at a time in this process, whatever the keeper's lock is
        self._token: dict | None = None
        self.refreshes = 0  # token endpoint calls made, for tests and the bench

    # ------------------------------------------------------------------------------ reading

    def secrets(self) -> list[str]:
        """Strings that must never appear in error text."""
        values = [self._client_secret]
        for token in (self._token, self._peek()):
            if token:
                values += [str(token.get("access_token") or ""), str(token.get("refresh_token") or "")]
        return [v for v in values if v and len(v) >= 4]

    def _peek(self) -> dict | None:
        try:
            return self._keeper.load()
        except Exception:  # only used to scrub error text; a broken keeper surfaces elsewhere
            return None

    def _usable(self, token: dict | None) -> bool:
        if not token or not token.get("access_token") or token.get("expires_at") is None:
            return False
        return self._clock() < float(token["expires_at"]) - REFRESH_MARGIN

    def access_token(self) -> str:
        """A valid access token, refreshed first when it is within REFRESH_MARGIN of expiry."""
        token = self._token
        if token is None:
            token = self._load_stamped()
        if not self._usable(token):
            token = self.refresh(stale=(token or {}).get("access_token"))
        return token["access_token"]

    def _load_stamped(self) -> dict | None:
        token = self._keeper.load()
        if token and token.get("expires_at") is None and token.get("access_token") and token.get("expires_in"):
            # a fresh grant saved as Xero sent it: count its lifetime from first sight and keep that
            with self._keeper.lock():
                token = stamp_expiry(token, self._clock())
                self._keeper.save(token)
        self._token = token
        return token

    def sdk_token(self) -> dict:
        """The token dict the SDK's OAuth2Token reads before each call.

        `expires_at` is withheld on purpose: the SDK would otherwise decide expiry itself with `time.time()`
        and refresh through its class-level identity URL; we refresh ahead of every call ourselves.
        """
        token = self._token or {}
        return {
            "access_token": token.get("access_token"),
            "refresh_token": token.get("refresh_token"),
            "scope": scope_list(token.get("scope")),
            "expires_in": token.get("expires_in"),
            "expires_at": None,
            "token_type": token.get("token_type") or "Bearer",
            "id_token": token.get("id_token"),
        }

    # ------------------------------------------------------------------------------ refresh

    def refresh(self, stale: str | None = None, *, force: bool = False) -> dict:
        """Refresh and persist the token set.

        Unless `force`, a usable token set saved meanwhile (its access token is not `stale`, the one that just
        failed or expired) is adopted instead: another thread or process refreshed already.
        """
        with self._local, self._keeper.lock():
            current = self._keeper.load()
            if not current or not current.get("refresh_token"):
                raise XeroSessionFailed()
            if not force and current.get("access_token") != stale:
                current = stamp_expiry(current, self._clock())
                if self._usable(current):
                    self._token = current
                    return current
            issued_at = self._clock()
            fresh = self._call_token_endpoint(current)
            token = stamp_expiry({**fresh, "refresh_token": fresh.get("refresh_token") or current["refresh_token"]},
                                 issued_at)
            if not token.get("scope"):
                token["scope"] = current.get("scope")
            self._keeper.save(token)  # the old refresh token is spent: persist the new one before anything else
            self._token = token
            return token

    def _token_api(self) -> TokenApi:
        api = TokenApi(self._api_client, self._client_id, self._client_secret)
        # the SDK keeps these URLs as class attributes; instance attributes shadow them for this client only
        api.refresh_token_url = self._endpoints.xero_token_url
        api.revoke_token_url = self._endpoints.xero_revocation_url
        api.client_credentials_token_url = self._endpoints.xero_token_url
        return api

    def _call_token_endpoint(self, current: dict) -> dict:
        api = self._token_api()
        retries = Retries(self._max_retries, backoff_seconds)
        while True:
            self.refreshes += 1
            try:
                token = api.refresh_token(current["refresh_token"], scope_list(current.get("scope")))
                if isinstance(token, dict) and token.get("access_token"):
                    return token
                wait = None  # 200 without a token (truncated or garbled): try again
            except HTTPStatusException as error:
                status = error.http_resp.status if error.http_resp is not None else None
                if status is not None and 400 <= status < 500 and status != 429:
                    raise XeroSessionFailed(status) from None  # invalid_grant, invalid_client: the grant is gone
                wait = retry_after_seconds(error.headers, self._clock(), default=0) or None
            except ValueError:  # a body that is not JSON (HTML error page, truncated)
                wait = None
            except Exception as error:
                # SDK quirk: a 2xx other than 200 raises a bare Exception; treat it like a garbled answer
                if not (_is_transport_error(error) or type(error) is Exception):
                    raise
                wait = None
            delay = retries.failed(wait)
            if delay is None:
                raise XeroUnavailable("Xero's sign-in service did not answer; try again later") from None
            self._sleep(delay)

    def revoke(self) -> None:
        """Revoke the refresh token at Xero (removes this app's connections) and forget the token set."""
        with self._local, self._keeper.lock():
            current = self._keeper.load()
            if current and current.get("refresh_token"):
                api = self._token_api()
                retries = Retries(self._max_retries, backoff_seconds)
                while True:
                    try:
                        api.revoke_token(current["refresh_token"])
                        break
                    except HTTPStatusException as error:
                        status = error.http_resp.status if error.http_resp is not None else None
                        if status is not None and 400 <= status < 500 and status != 429:
                            break  # already invalid at Xero: nothing left to revoke
                    except Exception as error:  # a bare Exception is the SDK's answer to a 2xx other than 200
                        if not (_is_transport_error(error) or type(error) is Exception):
                            raise
                    delay = retries.failed()
                    if delay is None:
                        raise XeroUnavailable("Xero's sign-in service did not answer; try disconnecting again")
                    self._sleep(delay)
            self._keeper.save({})  # empty: disconnected
            self._token = None


def _is_transport_error(error: BaseException) -> bool:
    return isinstance(error, TRANSPORT_ERRORS)
