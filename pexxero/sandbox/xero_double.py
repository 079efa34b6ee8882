"""The Xero double: identity (OAuth2 + PKCE), /connections and the accounting endpoints the connector uses.

A Starlette app served on loopback. It speaks what Xero and the official xero-python SDK speak (`/Date(…)/`
dates, exact decimals, Xero's error bodies and headers), keeps each organisation's books in memory
(`xero_books`), and can misbehave on demand (`faults`) so the gateway's retries and exactly-once logic meet the
failures they exist for. Time (token expiry, rate limits, "today") comes from the injected clock.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import threading
import time
import uuid
from datetime import date
from decimal import Decimal
from typing import Callable, Optional
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pexxero.sandbox import demo
from pexxero.sandbox.server import serve_in_thread
from pexxero.sandbox.xero_books import Books
from pexxero.sandbox.xero_limits import FaultSwitches, RateLimits, RecordedRequest, seconds_to_utc_midnight
from pexxero.sandbox.xero_oauth import DEFAULT_SCOPE, DemoUser, OAuthError, OAuthState, consent_page, error_page
from pexxero.sandbox.xero_reports import Reports, demo_pex_cash_opening
from pexxero.sandbox.xero_resources import Resources
from pexxero.sandbox.xero_wire import dumps, ms_now, problem

API_PREFIX = "/api.xro/2.0"
PROVIDER_NAME = "PEX Connector"


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json; charset=utf-8", headers=headers)


class _App(Starlette):
    """Starlette that keeps the server's own send/receive in the scope, so a fault can hang up the socket
    (Starlette wraps `send` on the way in) and a held request can notice its client leaving."""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope["pexxero.raw_send"] = send
            scope["pexxero.raw_receive"] = receive
        await super().__call__(scope, receive, send)


class XeroDouble:
    def __init__(self, seed: int = 1, today: date | None = None, *, minute_limit: int = 60, concurrent_limit: int = 5,
                 day_limit: int = 5000, access_token_seconds: int = 1800, clock: Callable[[], float] = time.time,
                 seed_records: bool = True):
        self.seed = seed
        self.today = today
        self.clock = clock
        self.latency: float = 0.0
        self.faults = FaultSwitches()
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._handle = None
        self._lock = threading.RLock()  # guards the books and the idempotency store
        self._changed = threading.Condition(threading.Lock())
        self._idempotency: dict[tuple[str, str], tuple] = {}  # (tenant, key) -> (print, status, body, type)
        self.limits = RateLimits(clock, minute_limit=minute_limit, concurrent_limit=concurrent_limit,
                                 day_limit=day_limit)
        tenants = {demo.TENANT_ID: demo.TENANT_NAME, demo.SECOND_TENANT_ID: demo.SECOND_TENANT_NAME,
                   demo.THIRD_TENANT_ID: demo.THIRD_TENANT_NAME}
        # one sign-in sees the two organisations of the two demo businesses; the third is another person's
        users = [DemoUser(demo.XERO_USER, "bookkeeper@example.com", [demo.TENANT_ID, demo.SECOND_TENANT_ID]),
                 DemoUser(demo.SECOND_XERO_USER, demo.SECOND_XERO_USER_EMAIL, [demo.THIRD_TENANT_ID])]
        self.oauth = OAuthState(client_id=demo.XERO_CLIENT_ID, client_secret=demo.XERO_CLIENT_SECRET,
                                tenants=tenants, clock=clock, access_token_seconds=access_token_seconds,
                                user_name=demo.XERO_USER, users=users)
        organisation_ids = {demo.SECOND_TENANT_ID: "sandbox-2", demo.THIRD_TENANT_ID: "sandbox-3"}
        self.books: dict[str, Books] = {}
        for tenant_id, name in tenants.items():
            organisation = demo.organisation()  # every demo organisation has the chart the sandbox setup needs
            if tenant_id != demo.TENANT_ID:
                organisation.update({"OrganisationID": demo.xid("organisation", organisation_ids[tenant_id]),
                                     "Name": name, "LegalName": name})
            self.books[tenant_id] = Books(tenant_id=tenant_id, organisation=organisation, accounts=demo.accounts(),
                                          contacts=demo.contacts(), tracking=demo.tracking_categories(), clock=clock)
        seeder = getattr(demo, "xero_seed", None)
        if seed_records and seeder is not None:
            self.books[demo.TENANT_ID].load_seed(seeder(seed, today))  # same "today" as the PEX double: US Eastern
        self.resources = Resources(self)
        self.reports = Reports(self)  # Reports/BankSummary, with an opening balance per bank account
        if seed_records and seeder is not None:
            self.reports.set_opening_balance(demo.TENANT_ID, "091", lambda: demo_pex_cash_opening(seed, today))
        self.app = _App(routes=[
            Route("/identity/connect/authorize", self._authorize, methods=["GET", "POST"]),
            Route("/connect/token", self._token, methods=["POST"]),
            Route("/connect/revocation", self._revocation, methods=["POST"]),
            Route("/{name:str}", self._connections, methods=["GET"]),
            Route("/{name:str}/{connection_id:str}", self._connections, methods=["DELETE"]),
            Route(API_PREFIX + "/{rest:path}", self._accounting, methods=["GET", "PUT", "POST", "DELETE"]),
        ])

    # ------------------------------------------------------------------------------------------ running

    def start(self, port: int = 0) -> "XeroDouble":
        """Serve on 127.0.0.1 (a free port unless one is given) in a background thread."""
        self._handle = serve_in_thread(self.app, port=port)
        self.url = self._handle.url
        return self

    def stop(self) -> None:
        self.faults.release()
        if self._handle:
            self._handle.stop()
            self._handle = None

    def __enter__(self) -> "XeroDouble":
        return self if self._handle else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        return {
            "XERO_API_URL": self.url + API_PREFIX,
            "XERO_CONNECTIONS_URL": self.url,
            "XERO_IDENTITY_URL": self.url,
            "XERO_AUTHORIZE_URL": self.url + "/identity/connect/authorize",
            "XERO_CLIENT_ID": demo.XERO_CLIENT_ID,
            "XERO_CLIENT_SECRET": demo.XERO_CLIENT_SECRET,
        }

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block until `predicate()` holds (re-checked whenever a request starts, holds or ends)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------------------- for tests and setup

    def calls_by_endpoint(self, since: int = 0) -> dict[str, int]:
        """Accounting API requests since request number `since`, per "METHOD /Endpoint" (ids and file names
        left out: "PUT /BankTransactions/{id}/Attachments/{file}" counts as "PUT /BankTransactions/Attachments")."""
        counts: dict[str, int] = {}
        with self._lock:
            recorded = list(self.requests[since:])
        for r in recorded:
            if API_PREFIX not in r.path:
                continue
            parts = r.path.split(API_PREFIX, 1)[1].strip("/").split("/")
            name = "/" + parts[0] + ("/" + parts[2] if len(parts) > 2 else "")
            counts[f"{r.method} {name}"] = counts.get(f"{r.method} {name}", 0) + 1
        return dict(sorted(counts.items()))

    def grant(self, tenant_ids: list[str] | None = None, scope: str = DEFAULT_SCOPE, user: str | None = None) -> dict:
        """A token set as if the user had consented to these organisations (default: all the user sees). `user` is
        a demo user's e-mail: by default the bookkeeper, who sees the two businesses' organisations; with
        `demo.SECOND_XERO_USER_EMAIL`, the partner, who alone sees the third."""
        return self.oauth.grant(tenant_ids, scope, user)

    def _books(self, tenant_id: str) -> Books:
        return self.books[tenant_id]

    def bank_transactions(self, tenant_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._books(tenant_id).bank_transactions.values()))

    def bank_transfers(self, tenant_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._books(tenant_id).bank_transfers.values()))

    def contacts(self, tenant_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._books(tenant_id).contacts)

    def attachments(self, tenant_id: str, bank_transaction_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._books(tenant_id).attachments.get(bank_transaction_id.lower(), []))

    def set_lock_date(self, tenant_id: str, period_lock_date: date | None) -> None:
        with self._lock:
            self._books(tenant_id).period_lock_date = period_lock_date

    def set_end_of_year_lock_date(self, tenant_id: str, end_of_year_lock_date: date | None) -> None:
        with self._lock:
            self._books(tenant_id).end_of_year_lock_date = end_of_year_lock_date

    def set_reconciled(self, tenant_id: str, bank_transaction_id: str, reconciled: bool = True) -> None:
        with self._lock:
            self._books(tenant_id).bank_transactions[bank_transaction_id.lower()]["IsReconciled"] = reconciled

    def set_transfer_reconciled(self, tenant_id: str, bank_transfer_id: str, reconciled: bool = True) -> None:
        """Mark a transfer's PEX side matched to a bank statement line (Xero then refuses to delete it)."""
        with self._lock:
            self._books(tenant_id).bank_transfers[bank_transfer_id.lower()]["ToIsReconciled"] = reconciled

    def edit_bank_transaction(self, tenant_id: str, bank_transaction_id: str, **fields) -> None:
        """Change a record as a bookkeeper would in Xero (e.g. `Total`, `Date` as ISO text): test-only."""
        from pexxero.sandbox.xero_wire import ms_date, parse_date, parse_money

        with self._lock:
            record = self._books(tenant_id).bank_transactions[bank_transaction_id.lower()]
            if "Total" in fields:
                total = parse_money(fields.pop("Total"))
                record["LineItems"][0]["LineAmount"] = record["LineItems"][0]["UnitAmount"] = total
                record["SubTotal"] = record["Total"] = total
            if "Date" in fields:
                record["Date"] = ms_date(parse_date(fields.pop("Date")))
            record.update(fields)

    def archive_account(self, tenant_id: str, code: str) -> None:
        with self._lock:
            account = next(a for a in self._books(tenant_id).accounts if a["Code"] == code)
            account["Status"] = "ARCHIVED"

    def _option(self, tenant_id: str, category: str, option: str) -> tuple[dict, dict]:
        cat = next(c for c in self._books(tenant_id).tracking if c["Name"] == category)
        return cat, next(o for o in cat["Options"] if o["Name"] == option)

    def rename_tracking_option(self, tenant_id: str, category: str, option: str, new_name: str) -> None:
        """Rename an option; records that carry it show the new name (Xero tracks by id)."""
        with self._lock:
            _, opt = self._option(tenant_id, category, option)
            opt["Name"] = new_name
            for record in self._books(tenant_id).bank_transactions.values():
                for line in record["LineItems"]:
                    for tracking in line.get("Tracking", []):
                        if tracking["TrackingOptionID"] == opt["TrackingOptionID"]:
                            tracking["Option"] = new_name

    def remove_tracking_option(self, tenant_id: str, category: str, option: str) -> None:
        """Delete an option: it disappears from TrackingCategories and can no longer be written."""
        with self._lock:
            cat, opt = self._option(tenant_id, category, option)
            cat["Options"].remove(opt)

    def archive_tracking_option(self, tenant_id: str, category: str, option: str) -> None:
        with self._lock:
            self._option(tenant_id, category, option)[1]["Status"] = "ARCHIVED"

    # --------------------------------------------------------------------------------------- identity

    async def _authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            reason = self.oauth.check_authorize(params)
            if reason:
                return HTMLResponse(error_page(reason), status_code=400)
            user = self.oauth.user(params.get("login_hint"))
            tenants = {t: self.oauth.tenants[t] for t in user.tenant_ids}
            others = [u for u in self.oauth.users if u is not user]
            return HTMLResponse(consent_page(params, tenants, user.name, other_users=others))
        form = await request.form()
        params = {k: v for k, v in form.multi_items() if k not in ("tenant", "action")}
        reason = self.oauth.check_authorize(params)
        if reason:
            return HTMLResponse(error_page(reason), status_code=400)
        back = {"state": params["state"]} if params.get("state") else {}
        if form.get("action") != "allow":
            query = urlencode({"error": "access_denied", **back})
        else:
            code = self.oauth.issue_code(params, [v for k, v in form.multi_items() if k == "tenant"])
            query = urlencode({"code": code, "scope": params["scope"], **back})
        separator = "&" if "?" in params["redirect_uri"] else "?"
        return RedirectResponse(params["redirect_uri"] + separator + query, status_code=302)

    @staticmethod
    def _basic(request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return client_id, secret

    async def _token(self, request: Request) -> Response:
        return await self._guarded(request, self._token_now, api=False)

    def _token_now(self, request: Request, body: bytes, tenant: Optional[str]) -> Response:
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        try:
            token = self.oauth.token(form, self._basic(request))
        except OAuthError as error:
            return _json({"error": error.code}, 400)
        return _json(token, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def _revocation(self, request: Request) -> Response:
        return await self._guarded(request, self._revocation_now, api=False)

    def _revocation_now(self, request: Request, body: bytes, tenant: Optional[str]) -> Response:
        try:
            self.oauth.revoke(dict(parse_qsl(body.decode("utf-8", "replace"))), self._basic(request))
        except OAuthError as error:
            return _json({"error": error.code}, 400)
        return Response(b"", status_code=200)

    async def _connections(self, request: Request) -> Response:
        if request.path_params["name"].lower() != "connections":
            return Response("Not Found", status_code=404)
        return await self._guarded(request, self._connections_now, api=False, bearer=True)

    def _connections_now(self, request: Request, body: bytes, tenant: Optional[str]) -> Response:
        grant, _ = self.oauth.authenticate(request.headers.get("authorization"))
        if request.method == "DELETE":
            if not self.oauth.disconnect(grant, request.path_params["connection_id"]):
                return Response(b"", status_code=404)
            return Response(b"", status_code=204)
        event = request.query_params.get("authEventId")
        return _json([c for c in self.oauth.connections(grant) if not event or c["authEventId"] == event])

    # ------------------------------------------------------------------------------------- accounting

    async def _accounting(self, request: Request) -> Response:
        return await self._guarded(request, self._accounting_now, api=True, bearer=True)

    def _accounting_now(self, request: Request, body: bytes, tenant: Optional[str]) -> Response:
        with self._lock:
            books = self.books[tenant]
            return self.reports.handle(request, tenant, books) or self.resources.handle(request, body, books)

    def envelope(self, key: str, items: list, **extra) -> dict:
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME,
                "DateTimeUTC": ms_now(self.clock()), **extra, key: items}

    # ------------------------------------------------------------------------ the guard around each call

    async def _guarded(self, request: Request, handler, *, api: bool, bearer: bool = False) -> Response:
        """Faults, auth, tenant, rate limits, latency, idempotency, then the handler; every call is recorded."""
        body = await request.body()
        tenant = request.headers.get("xero-tenant-id") if api else None
        key = request.headers.get("idempotency-key")
        record = RecordedRequest(request.method, request.url.path, request.url.query, tenant, key, at=self.clock())
        with self._lock:
            self.requests.append(record)
        flight: list[str] = []  # the tenant, once the call is counted in flight
        try:
            return await self._guarded_inner(request, body, handler, record, api, bearer, flight)
        finally:
            for counted in flight:
                self.limits.release(counted)
            self._notify()

    async def _guarded_inner(self, request, body, handler, record, api, bearer, flight) -> Response:
        tenant = record.tenant_id
        fault = self.faults.take(request.method, request.url.path)
        record.fault = fault
        limit_headers = (lambda: self.limits.headers(tenant)) if api else (lambda: {})

        def finish(response: Response) -> Response:
            response.headers.update(limit_headers())
            response.headers["Xero-Correlation-Id"] = str(uuid.uuid4())
            record.status = response.status_code
            return response

        if fault in ("429", "429_day"):
            day = fault == "429_day"
            retry = seconds_to_utc_midnight(self.clock()) if day else 1
            return finish(Response("", status_code=429, headers={
                "Retry-After": str(retry), "X-Rate-Limit-Problem": "day" if day else "minute"}))
        if fault == "500":
            return finish(_json({"ErrorNumber": 500, "Type": "UnknownErrorException",
                                 "Message": "An error occurred in Xero. Check the API Status page "
                                            "http://status.developer.xero.com for current service status."}, 500))
        if fault == "503":
            return finish(_json({"Title": "Service Unavailable", "Status": 503,
                                 "Detail": "The Xero API is temporarily unavailable."}, 503))
        if fault == "html_503":
            return finish(HTMLResponse("<html><head><title>503 Service Temporarily Unavailable</title></head>"
                                       "<body><h1>Service Unavailable</h1><p>Xero is down for maintenance."
                                       "</p></body></html>", status_code=503))
        if fault == "expire_tokens":
            self.oauth.expire_all()
        if fault == "revoke":
            self.oauth.revoke_all()

        if bearer:
            grant, detail = self.oauth.authenticate(request.headers.get("authorization"))
            if grant is None:
                title = "Unauthorized"
                return finish(_json(problem(401, title, detail), 401,
                                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}))
            if api and (not tenant or tenant.lower() not in grant.connections.values()):
                return finish(_json(problem(403, "Forbidden", "AuthenticationUnsuccessful"), 403))
            if api:
                tenant = record.tenant_id = tenant.lower()
        if api:
            problem_kind, retry = self.limits.admit(tenant)
            if problem_kind:
                return finish(Response("", status_code=429, headers={
                    "Retry-After": str(retry), "X-Rate-Limit-Problem": problem_kind}))
            flight.append(tenant)
            self._notify()
        if fault == "timeout":  # held while counted in flight, as a slow call is
            await self._hold(request)
        if self.latency > 0 and api:
            await asyncio.sleep(self.latency)

        if fault == "truncated_json":
            return finish(self._truncated(request, body, handler, tenant))
        if fault == "empty_200":  # a 200 with no body; a write is not performed
            return finish(Response(b"", status_code=200, media_type="application/json"))
        if fault == "odd_shape":  # a 200 in a shape no endpoint has; a write is not performed
            return finish(_json({"Id": str(uuid.uuid4()), "Status": "OK", "Result": {"Items": []}}, 200))
        response = self._idempotent(request, body, handler, tenant, record.idempotency_key)
        if fault == "missing_id":  # performed, but the answer's elements lost their ids
            response = _without_ids(response)
        finish(response)
        if fault == "commit_then_drop":
            record.dropped = True
            await self._drop(request)
        return response

    def _idempotent(self, request, body: bytes, handler, tenant, key) -> Response:
        """Writes with an Idempotency-Key: the same key and request replay the stored answer, writing nothing."""
        if not key or request.method == "GET":
            return handler(request, body, tenant)
        fingerprint = hashlib.sha256(
            b"\n".join([request.method.encode(), request.url.path.lower().encode(), request.url.query.encode(), body])
        ).hexdigest()
        with self._lock:
            stored = self._idempotency.get((tenant or "", key))
            if stored:
                if stored[0] != fingerprint:
                    return _json({"ErrorNumber": 409, "Type": "IdempotencyConflictException",
                                  "Message": "The Idempotency-Key has already been used with a different request. "
                                             "Use a new Idempotency-Key for a different request."}, 409)
                return Response(stored[2], status_code=stored[1], media_type=stored[3],
                                headers={"Idempotent-Replayed": "true"})
            response = handler(request, body, tenant)
            if response.status_code < 500 and response.status_code != 429:
                self._idempotency[(tenant or "", key)] = (fingerprint, response.status_code, response.body,
                                                         response.media_type)
            return response

    def _truncated(self, request, body: bytes, handler, tenant) -> Response:
        """A 200 whose JSON is cut short; a write is not performed."""
        if request.method == "GET":
            full = handler(request, body, tenant).body
        else:
            full = dumps(self.envelope("Elements", [{"StatusAttributeString": "OK", "Id": str(uuid.uuid4())}])).encode()
        return Response(full[: max(1, len(full) // 2)], status_code=200, media_type="application/json; charset=utf-8")

    async def _hold(self, request: Request) -> None:
        """Hold for faults.timeout_seconds, or until the client hangs up, faults.release() or stop()."""
        loop = asyncio.get_running_loop()
        released = asyncio.Event()
        releaser = lambda: loop.call_soon_threadsafe(released.set)  # noqa: E731
        self.faults._register(releaser)
        self._notify()
        receive = request.scope["pexxero.raw_receive"]

        async def hung_up():
            while (await receive())["type"] != "http.disconnect":
                pass

        waits = [asyncio.ensure_future(asyncio.sleep(self.faults.timeout_seconds)),
                 asyncio.ensure_future(released.wait()), asyncio.ensure_future(hung_up())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.faults._unregister(releaser)
            for task in waits:
                task.cancel()

    async def _drop(self, request: Request) -> None:
        """Close the TCP connection with no response, after the write: the client sees the server hang up."""
        send = request.scope["pexxero.raw_send"]
        receive = request.scope["pexxero.raw_receive"]
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is None:
            raise RuntimeError("commit_then_drop needs uvicorn's h11 server (no transport on send)")
        transport.close()
        # wait until the server has noticed, so it does not answer on a closed socket (it ignores sends after)
        while (await receive())["type"] != "http.disconnect":
            pass


def _without_ids(response: Response) -> Response:
    """The same answer with every element's own *ID field removed (the ids of what it points at stay)."""
    data = json.loads(response.body, parse_float=Decimal)
    for value in data.values() if isinstance(data, dict) else ():
        for element in value if isinstance(value, list) else ():
            for key in [k for k in element if k.endswith("ID") and isinstance(element[k], str)]:
                del element[key]
    return Response(dumps(data).encode(), status_code=response.status_code, media_type=response.media_type)


__all__ = ["XeroDouble", "FaultSwitches", "RecordedRequest"]
