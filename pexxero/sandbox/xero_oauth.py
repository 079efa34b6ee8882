"""Xero's identity service, in memory: consent, authorization codes with PKCE, rotating refresh tokens, revocation.

One `Grant` is one consent: the organisations the user ticked, a scope, and the tokens issued from it. A `DemoUser`
is one Xero sign-in and the organisations it may consent to (the first user is the default; `login_hint` on the
authorize request signs in as another, as a second person's own Xero login would). Access tokens are JWT-shaped
(as Xero's are) but only their exact string is looked up; time comes from the injected clock.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional
from urllib.parse import urlencode

DEFAULT_SCOPE = (
    "openid profile email accounting.transactions accounting.contacts accounting.settings "
    "accounting.attachments accounting.reports.read offline_access"
)
CODE_SECONDS = 300  # Xero's authorization codes live five minutes


class OAuthError(Exception):
    """A token-endpoint failure: answered 400 with {"error": code}."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass
class DemoUser:
    name: str
    email: str
    tenant_ids: list[str]  # the organisations this user can see, in consent-page order


@dataclass
class Grant:
    grant_id: str
    client_id: str
    scope: str
    auth_event_id: str
    created: float
    user: Optional[DemoUser] = None
    connections: dict[str, str] = field(default_factory=dict)  # connection id -> tenant id
    refresh_token: Optional[str] = None  # the one live refresh token
    revoked: bool = False


@dataclass
class _AccessToken:
    grant_id: str
    expires_at: float


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    tenant_ids: list[str]
    expires_at: float
    user: Optional[DemoUser] = None
    used: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge for a verifier."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


class OAuthState:
    def __init__(self, *, client_id: str, client_secret: str, tenants: dict[str, str], clock: Callable[[], float],
                 access_token_seconds: int, user_name: str, users: Optional[list[DemoUser]] = None):
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenants = tenants  # tenant id -> organisation name (every user's), in consent-page order
        self.clock = clock
        self.access_token_seconds = access_token_seconds
        # without a list of users, one user sees every organisation
        self.users = users or [DemoUser(user_name, "bookkeeper@example.com", list(tenants))]
        self.lock = threading.RLock()
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, _AccessToken] = {}
        self.refresh: dict[str, str] = {}  # every refresh token ever issued -> grant id (spent ones included)
        self.codes: dict[str, _Code] = {}

    @property
    def user_name(self) -> str:
        return self.users[0].name

    def user(self, email: Optional[str] = None) -> Optional[DemoUser]:
        """The user signed in with this e-mail (the default user when none is given); None for an unknown one."""
        if not email:
            return self.users[0]
        return next((u for u in self.users if u.email.lower() == email.strip().lower()), None)

    # ------------------------------------------------------------------------------------------ issuing

    def _jwt(self, claims: dict) -> str:
        header = {"alg": "RS256", "kid": "sandbox", "typ": "JWT"}
        return ".".join(
            [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(secrets.token_bytes(32))]
        )

    def _issue(self, grant: Grant) -> dict:
        now = self.clock()
        expires_at = now + self.access_token_seconds
        user = grant.user or self.users[0]
        subject = "sandbox-user" if user is self.users[0] else f"sandbox-user-{self.users.index(user) + 1}"
        access = self._jwt({
            "nbf": int(now), "exp": int(expires_at), "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources", "client_id": grant.client_id,
            "sub": subject, "auth_time": int(grant.created), "xero_userid": subject,
            "authentication_event_id": grant.auth_event_id, "jti": uuid.uuid4().hex,
            "scope": grant.scope.split(),
        })
        self.access[access] = _AccessToken(grant.grant_id, expires_at)
        token = {
            "id_token": self._jwt({"name": user.name, "email": user.email,
                                   "sub": subject, "aud": grant.client_id, "exp": int(expires_at)}),
            "access_token": access,
            "expires_in": self.access_token_seconds,
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if "offline_access" in grant.scope.split():  # no refresh token without offline_access, as Xero does
            grant.refresh_token = secrets.token_urlsafe(32)
            self.refresh[grant.refresh_token] = grant.grant_id
            token["refresh_token"] = grant.refresh_token
        return token

    def grant(self, tenant_ids: list[str] | None = None, scope: str = DEFAULT_SCOPE,
              user: Optional[str] = None) -> dict:
        """Consent without the browser: a new grant on these organisations (default: all the user sees) and its
        first token set. `user` is a user's e-mail (default: the first user)."""
        with self.lock:
            who = self.user(user)
            if who is None:
                raise ValueError(f"unknown user: {user}")
            tenant_ids = list(who.tenant_ids) if tenant_ids is None else list(tenant_ids)
            unknown = [t for t in tenant_ids if t not in self.tenants]
            if unknown:
                raise ValueError(f"unknown tenant ids: {unknown}")
            hidden = [t for t in tenant_ids if t not in who.tenant_ids]
            if hidden:
                raise ValueError(f"{who.name} cannot see these organisations: {hidden}")
            now = self.clock()
            grant = Grant(uuid.uuid4().hex, self.client_id, scope, str(uuid.uuid4()), now, who)
            grant.connections = {str(uuid.uuid4()): t for t in tenant_ids}
            self.grants[grant.grant_id] = grant
            return self._issue(grant)

    # -------------------------------------------------------------------------------- authorize / code

    def check_authorize(self, params: dict) -> Optional[str]:
        """The reason an authorize request is refused (shown on an error page), or None."""
        if params.get("client_id") != self.client_id:
            return "unauthorized_client: Unknown client or client not enabled"
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if not params.get("redirect_uri"):
            return "invalid_request: redirect_uri is required"
        if not params.get("scope"):
            return "invalid_scope: scope is required"
        if not params.get("code_challenge"):
            return "invalid_request: code_challenge is required (PKCE)"
        if params.get("code_challenge_method") != "S256":
            return "invalid_request: code_challenge_method must be S256"
        if self.user(params.get("login_hint")) is None:
            return "invalid_request: no Xero user signs in as that login_hint"
        return None

    def issue_code(self, params: dict, tenant_ids: list[str]) -> str:
        """A code for the ticked organisations that the signed-in user can see (others in the form are dropped)."""
        with self.lock:
            user = self.user(params.get("login_hint"))
            code = secrets.token_urlsafe(24)
            self.codes[code] = _Code(
                client_id=params["client_id"], redirect_uri=params["redirect_uri"],
                challenge=params["code_challenge"], scope=params["scope"],
                tenant_ids=[t for t in tenant_ids if t in self.tenants and user and t in user.tenant_ids],
                expires_at=self.clock() + CODE_SECONDS, user=user,
            )
            return code

    def _client(self, form: dict, basic: tuple[str, str] | None) -> str:
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        if client_id != self.client_id or not secrets.compare_digest(secret or "", self.client_secret):
            raise OAuthError("invalid_client")
        return client_id

    def token(self, form: dict, basic: tuple[str, str] | None) -> dict:
        """POST /connect/token for `authorization_code` and `refresh_token`; raises OAuthError."""
        with self.lock:
            client_id = self._client(form, basic)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self._exchange_code(form, client_id)
            if grant_type == "refresh_token":
                return self._refresh(form, client_id)
            raise OAuthError("unsupported_grant_type")

    def _exchange_code(self, form: dict, client_id: str) -> dict:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used or code.client_id != client_id or code.expires_at <= self.clock():
            raise OAuthError("invalid_grant")
        code.used = True  # single use, even when the rest of the exchange fails
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("invalid_grant")
        verifier = form.get("code_verifier") or ""
        if not verifier or not secrets.compare_digest(s256(verifier), code.challenge):
            raise OAuthError("invalid_grant")
        grant = Grant(uuid.uuid4().hex, client_id, code.scope, str(uuid.uuid4()), self.clock(), code.user)
        grant.connections = {str(uuid.uuid4()): t for t in code.tenant_ids}
        self.grants[grant.grant_id] = grant
        return self._issue(grant)

    def _refresh(self, form: dict, client_id: str) -> dict:
        presented = form.get("refresh_token") or ""
        grant = self.grants.get(self.refresh.get(presented, ""))
        if grant is None or grant.revoked or grant.refresh_token != presented or grant.client_id != client_id:
            raise OAuthError("invalid_grant")  # unknown, spent (rotated away) or revoked
        return self._issue(grant)  # rotates: the presented token is no longer the grant's live one

    def revoke(self, form: dict, basic: tuple[str, str] | None) -> None:
        """POST /connect/revocation: the grant behind a refresh token loses all its tokens and connections."""
        with self.lock:
            self._client(form, basic)
            grant = self.grants.get(self.refresh.get(form.get("token") or "", ""))
            if grant is not None:
                self._revoke_grant(grant)

    def _revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True
        grant.refresh_token = None
        grant.connections.clear()

    # ------------------------------------------------------------------------------------ bearer checks

    def authenticate(self, authorization: str | None) -> tuple[Optional[Grant], str]:
        """The grant behind a `Bearer` header, or (None, Xero's 401 detail)."""
        with self.lock:
            if not authorization or not authorization.startswith("Bearer "):
                return None, "AuthenticationUnsuccessful"
            token = self.access.get(authorization[len("Bearer "):].strip())
            grant = self.grants.get(token.grant_id) if token else None
            if token is None or grant is None or grant.revoked:
                return None, "AuthenticationUnsuccessful"
            if token.expires_at <= self.clock():
                at = datetime.fromtimestamp(token.expires_at, tz=timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
                return None, f"TokenExpired: token expired at {at}"
            return grant, ""

    def connections(self, grant: Grant) -> list[dict]:
        stamp = datetime.fromtimestamp(grant.created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0")
        return [
            {
                "id": connection_id, "authEventId": grant.auth_event_id, "tenantId": tenant_id,
                "tenantType": "ORGANISATION", "tenantName": self.tenants[tenant_id],
                "createdDateUtc": stamp, "updatedDateUtc": stamp,
            }
            for connection_id, tenant_id in grant.connections.items()
        ]

    def disconnect(self, grant: Grant, connection_id: str) -> bool:
        with self.lock:
            return grant.connections.pop(connection_id, None) is not None

    # ------------------------------------------------------------------------------------------- faults

    def expire_all(self) -> None:
        with self.lock:
            now = self.clock()
            for token in self.access.values():
                token.expires_at = min(token.expires_at, now)

    def revoke_all(self) -> None:
        with self.lock:
            for grant in self.grants.values():
                self._revoke_grant(grant)


# ------------------------------------------------------------------------------------------- the pages

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:34rem;margin:3rem auto;color:#1e3245}}
h1{{font-size:1.3rem}}.org{{margin:.3rem 0}}button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.8rem}}
#allow{{background:#13b5ea;color:#fff;border:0;border-radius:3px}}#cancel{{background:none;border:0;color:#0078c8}}
</style></head><body>{body}</body></html>"""


def consent_page(params: dict, tenants: dict[str, str], user_name: str, app_name: str = "PEX Connector",
                 other_users: Optional[list[DemoUser]] = None) -> str:
    """The consent form for `user_name` and the organisations `tenants` they see; `other_users` get a "sign in as"
    link each (the same authorize request with their `login_hint`)."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k in ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                 "code_challenge_method", "login_hint")
    )
    switch = "".join(
        f'<p class="switch"><a href="/identity/connect/authorize?'
        f'{html.escape(urlencode({**params, "login_hint": u.email}))}">Not {html.escape(user_name)}? '
        f"Sign in as {html.escape(u.name)}</a></p>"
        for u in other_users or []
    )
    orgs = "".join(
        f'<div class="org"><label><input type="checkbox" name="tenant" value="{html.escape(tid)}" checked> '
        f"{html.escape(name)}</label></div>"
        for tid, name in tenants.items()
    )
    body = f"""<h1>{html.escape(app_name)} wants access to:</h1>
<form method="post" action="/identity/connect/authorize">{hidden}
<h2>Organisation data</h2>{orgs}
<p>View and manage your:</p><ul><li>Attachments</li><li>Business transactions</li><li>Contacts</li></ul>
<p>View your:</p><ul><li>Organisation settings</li></ul>
<h2>User account information</h2><p id="user">{html.escape(user_name)}</p>{switch}
<p>View your name, email, and user profile.</p>
<p>By allowing access, you agree to the transfer of your data between Xero and this application in accordance
with Xero's Terms of use and the application provider's terms of use and privacy policy.</p>
<p>You can disconnect at any time by going to Connected apps in your Xero settings.</p>
<button type="submit" id="allow" name="action" value="allow">Allow access</button>
<button type="submit" id="cancel" name="action" value="cancel">Cancel</button>
</form>"""
    return _PAGE.format(title="Xero | Authorise app", body=body)


def error_page(reason: str) -> str:
    body = f'<h1>Sorry, something went wrong</h1><p id="error">Error: {html.escape(reason)}</p>'
    return _PAGE.format(title="Xero | Error", body=body)
