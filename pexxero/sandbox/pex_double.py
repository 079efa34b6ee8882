"""A local PEX API for the sandbox and the tests, answering the PEX v4 endpoints the product calls.

Serves the demo businesses, each from its own seeded store picked by the call's token (pex_business.py): the
first under `demo.PEX_TOKEN` (or the token given), the second under `demo.SECOND_PEX_TOKEN`. Per business: both
transaction ledgers with PEX's 30,000-row paging, account details, business settings, tag definitions and
dropdown writes, receipts and notes (pex_routes.py), rate limits per token. Behaves like PEX where PEX's
behaviour matters to a client: case-insensitive paths, `token`/`Token` auth with `{"Message"}` errors, the
12-month window rule, optional rate limits on an injectable clock, and a switchboard of faults (pex_wire.py).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import date, datetime, timedelta
from typing import Callable, Optional
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pexxero.sandbox import demo
from pexxero.sandbox.pex_business import PexBusiness, first_business, second_business
from pexxero.sandbox.pex_routes import BusinessRoutes, _business, _query
from pexxero.sandbox.pex_wire import Fault, Faults, PexJSON, _send, message
from pexxero.sandbox.server import serve_in_thread

WINDOW_DAYS = 365  # PEX serves the last 12 months only

# (bucket name, path it applies to (None: every call), calls allowed, per seconds): PEX's published per-token
# limits, one overall and one per endpoint
RATE_LIMITS = (
    ("overall", None, 120, 60),
    ("TransactionDetails", "/v4/details/transactiondetails", 1, 60),
    ("AllCardholderTransactions", "/v4/details/allcardholdertransactions", 10, 3600),
    ("AccountDetails", "/v4/details/accountdetails", 10, 3600),
)


# ---------------------------------------------------------------------------------------- the double

def _parse_time(text: str) -> datetime:
    """`yyyy-MM-ddTHH:mm:ss` (fractions tolerated), naive US Eastern."""
    return datetime.fromisoformat(text.strip()).replace(tzinfo=None)


def _row_time(row) -> datetime | None:
    """A stored row's TransactionTime, or None when a test planted one that does not parse."""
    try:
        return _parse_time(row["TransactionTime"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _field(row, name: str):
    """A row's field; None for a planted row that is not even an object."""
    return row.get(name) if isinstance(row, dict) else None


def _id_key(value) -> tuple:
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


class _BadRequest(Exception):
    pass


def _flag(request: Request, name: str) -> bool:
    raw = _query(request, name)
    if raw is None or raw == "":
        return False  # PEX's default for IncludePendings / IncludeDeclines
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _BadRequest(f"The value '{raw}' is not valid for {name}.")


class _PexApp(Starlette):
    """Starlette with PEX's front door: faults, case-insensitive paths, auth and rate limits before routing.

    Lives in the app itself (not in a wrapper) so that `double.app` served by any ASGI server behaves the same.
    """

    def __init__(self, double: "PexDouble", routes: list[Route]) -> None:
        super().__init__(routes=routes)
        self.double = double

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            if await self.double._front_door(scope, receive, send):
                return
            scope = dict(scope, path=scope["path"].lower())  # route on lower case; ids are digits or lower hex
        await super().__call__(scope, receive, send)


class PexDouble(BusinessRoutes):
    """The PEX API of the demo businesses on 127.0.0.1. Use as a context manager or `start()` / `stop()`.

    `transactions`, `attachments`, `tag_definitions`, `account_details`, `tags_enabled` and `funding_source` are the
    first business's (what most tests edit); `business(token)` is either business, the second built on first use.
    """

    def __init__(self, seed: int = 1, today: date | None = None, *, token: str = demo.PEX_TOKEN,
                 rate_limits: bool = False, page_size: int = 30000, attachments_404_when_none: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if page_size < 2:
            raise ValueError("page_size must be at least 2: each page repeats the previous page's last row")
        self.today = today or demo.eastern_today()
        self.first = first_business(seed, self.today, token)
        self._later = {demo.SECOND_PEX_TOKEN: lambda: second_business(seed, self.today)}  # built when first asked
        self._others: dict[str, PexBusiness] = {}
        self._business_lock = threading.Lock()
        self.rate_limits = rate_limits
        self.page_size = page_size
        self.attachments_404_when_none = attachments_404_when_none
        self.clock = clock
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict]] = []
        self.url = ""
        self._handle = None
        self._limit_lock = threading.Lock()
        self._next_note_id = 900001
        self._key_version = 0
        self.app: Starlette = _PexApp(self, self._routes())

    # ------------------------------------------------------------------------------- businesses
    def business(self, token: str) -> Optional[PexBusiness]:
        """The business behind an API token, or None for a token PEX would refuse."""
        if token == self.first.token:
            return self.first
        with self._business_lock:
            if token not in self._others and token in self._later:
                self._others[token] = self._later[token]()
            return self._others.get(token)

    @property
    def second(self) -> PexBusiness:
        return self.business(demo.SECOND_PEX_TOKEN)

    token = property(lambda self: self.first.token, lambda self, value: setattr(self.first, "token", value))
    transactions = property(lambda self: self.first.transactions,
                            lambda self, value: setattr(self.first, "transactions", value))
    attachments = property(lambda self: self.first.attachments,
                           lambda self, value: setattr(self.first, "attachments", value))
    tag_definitions = property(lambda self: self.first.tag_definitions,
                               lambda self, value: setattr(self.first, "tag_definitions", value))
    account_details = property(lambda self: self.first.account_details,
                               lambda self, value: setattr(self.first, "account_details", value))
    tags_enabled = property(lambda self: self.first.tags_enabled,
                            lambda self, value: setattr(self.first, "tags_enabled", value))
    funding_source = property(lambda self: self.first.funding_source,
                              lambda self, value: setattr(self.first, "funding_source", value))
    balances = property(lambda self: self.first.balances)

    # --------------------------------------------------------------------------------- lifecycle
    def start(self, port: int = 0) -> "PexDouble":
        self._handle = serve_in_thread(self.app, port=port)
        self.url = self._handle.url
        return self

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.stop()
            self._handle = None

    def __enter__(self) -> "PexDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        return {"PEX_API_URL": self.url + "/v4"}

    def __repr__(self) -> str:
        return f"PexDouble(url={self.url!r})"

    # ---------------------------------------------------------------------------- the front door
    async def _front_door(self, scope, receive, send) -> bool:
        """Record the call, then answer it here if a fault, auth or a rate limit says so. True when answered."""
        path = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        self.requests.append((scope["method"], path, query))
        if self.faults.outage:
            await _send(send, message(503, "The service is unavailable."))
            return True
        fault = self.faults.take(path)
        if fault is not None:
            await self._inject(fault, scope, receive, send)
            return True
        lower = path.lower().rstrip("/")
        if lower == "/v4/ping":
            return False  # no auth
        business = self._auth(scope)
        if isinstance(business, Response):
            await _send(send, business)
            return True
        scope["pexxero.business"] = business  # the routes answer for this business alone
        business.requests.append((scope["method"], path, query))
        if self.rate_limits and not self._allow(lower, business):
            await _send(send, message(429, "Usage Limits Exceeded"))
            return True
        return False

    def _auth(self, scope) -> PexBusiness | Response:
        header = ""
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":
                header = value.decode("latin-1")
        scheme, _, token = header.strip().partition(" ")
        if not header or scheme.lower() not in ("token", "bearer"):
            return message(401, "Authorization has been denied for this request.")
        business = self.business(token.strip())
        if business is None:
            return message(403, "Token expired or does not exist")
        return business

    def _allow(self, path: str, business: PexBusiness) -> bool:
        """PEX's limits count per token, so each business has its own buckets."""
        now = self.clock()
        with self._limit_lock:
            buckets = [
                (name, limit, per) for name, prefix, limit, per in RATE_LIMITS
                if prefix is None or path == prefix or path.startswith(prefix + "/")
            ]
            for name, limit, per in buckets:
                calls = business.bucket(name)
                while calls and calls[0] <= now - per:
                    calls.popleft()
                if len(calls) >= limit:
                    return False
            for name, _, _ in buckets:
                business.bucket(name).append(now)
            return True

    async def _inject(self, fault: Fault, scope, receive, send) -> None:
        if fault.kind == "drop":
            # close the socket with no response at all: reach the server's transport through its send()
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is None:
                raise ConnectionAbortedError("drop fault: this ASGI server does not expose its transport")
            transport.close()
            while (await receive())["type"] != "http.disconnect":
                pass  # wait until the server has seen the close, so it sends no error page either
            return
        if fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            await _send(send, message(429, "Usage Limits Exceeded", headers))
        elif fault.kind == "html_500":
            page = "<!DOCTYPE html><html><head><title>Runtime Error</title></head><body><h1>Server Error in '/' " \
                   "Application.</h1></body></html>"
            await _send(send, Response(page, status_code=500, media_type="text/html"))
        elif fault.kind == "truncated_json":
            body = b'{"TransactionList":[{"TransactionId":4000001,"TransactionAmount":-12.'
            await _send(send, Response(body, status_code=fault.status or 200, media_type="application/json"))
        else:
            texts = {"500": "An error has occurred.", "503": "The service is unavailable.", "504": "Gateway Timeout"}
            await _send(send, message(int(fault.kind), texts[fault.kind]))

    # ------------------------------------------------------------------------------------ routes
    def _routes(self) -> list[Route]:
        get = ["GET"]
        return [
            Route("/v4/ping", self._ping, methods=get),
            Route("/v4/details/version", self._version, methods=get),
            Route("/v4/token/current", self._token_current, methods=get),
            Route("/v4/details/allcardholdertransactions", self._all_cardholder_transactions, methods=get),
            Route("/v4/details/allcardholdertransactioncount", self._all_cardholder_count, methods=get),
            Route("/v4/details/transactiondetails", self._business_transactions, methods=get),
            Route("/v4/details/transactiondetails/{acct_id:int}", self._account_transactions, methods=get),
            Route("/v4/details/accountdetails", self._account_details, methods=get),
            Route("/v4/details/accountdetails/{acct_id:int}", self._one_account, methods=get),
            Route("/v4/business/settings", self._settings, methods=get),
            Route("/v4/business/balance", self._balance, methods=get),
            Route("/v4/business/configuration/tags", self._tags, methods=get),
            Route("/v4/business/configuration/tag/{tag_id}", self._tag, methods=get),
            Route("/v4/business/configuration/tag/dropdown/{tag_id}", self._tag, methods=get),
            Route("/v4/business/configuration/tag/dropdown/{tag_id}", self._put_dropdown, methods=["PUT"]),
            Route("/v4/transactions/{tx_id:int}/attachments", self._attachment_list, methods=get),
            Route("/v4/transactions/{tx_id:int}/attachment/{attachment_id}", self._attachment, methods=get),
            Route("/v4/note", self._add_note, methods=["POST"]),
            Route("/v4/note/{note_id:int}", self._edit_note, methods=["PUT", "DELETE"]),
        ]

    async def _ping(self, request: Request) -> Response:
        return Response(status_code=200)

    async def _version(self, request: Request) -> Response:
        return PexJSON("4.0.0-sandbox")

    async def _token_current(self, request: Request) -> Response:
        business = _business(request)
        return PexJSON({
            "AppId": 1001, "BusinessAccountId": business.account_id, "BusinessAccountName": business.name,
            "CardholderAccountId": 0, "UserType": "Admin", "Username": "sandbox.admin", "Token": business.token,
            "TokenExpiration": (datetime.combine(self.today, datetime.min.time()) + timedelta(days=150)).isoformat(),
        })

    # ---------------------------------------------------------------------------- transactions
    def _window(self, request: Request) -> tuple[datetime, datetime]:
        start_text, end_text = _query(request, "StartDate"), _query(request, "EndDate")
        if not start_text or not end_text:
            raise _BadRequest("StartDate and EndDate are required.")
        try:
            start, end = _parse_time(start_text), _parse_time(end_text)
        except ValueError:
            raise _BadRequest("StartDate and EndDate must be dates, formatted yyyy-MM-ddTHH:mm:ss.") from None
        if start > end:
            raise _BadRequest("StartDate must be before EndDate.")
        if start.date() < self.today - timedelta(days=WINDOW_DAYS):
            raise _BadRequest("StartDate must be within the last 12 months.")
        return start, end

    def _select(self, rows: list[dict], request: Request, acct_id: int | None = None) -> list[dict]:
        start, end = self._window(request)
        pendings, declines = _flag(request, "IncludePendings"), _flag(request, "IncludeDeclines")
        def when(row) -> datetime:
            # a row a test planted with an unreadable time is served in every window, as PEX would send it
            return _row_time(row) or start

        chosen = [
            row for row in rows
            if start <= when(row) <= end  # the window filters on TransactionTime
            and (pendings or _field(row, "IsPending") is not True)
            and (declines or _field(row, "IsDecline") is not True)
            and (acct_id is None or _field(row, "AcctId") == acct_id)
        ]
        chosen.sort(key=lambda r: (when(r), *_id_key(_field(r, "TransactionId"))))
        return chosen

    def _page(self, rows: list[dict], request: Request) -> Response:
        """At most `page_size` rows; the next call restarts at LastTimeRetrieved and repeats that row."""
        page = rows[: self.page_size]
        last = page[-1]["TransactionTime"] if page else _query(request, "EndDate")
        return PexJSON({
            "TransactionList": [self._with_notes(r) for r in page],
            "Pages": {"PageSize": self.page_size, "TotalRecords": len(rows),
                      "NumberOfPages": math.ceil(len(rows) / self.page_size), "LastTimeRetrieved": last},
        })

    def _with_notes(self, row: dict) -> dict:
        if not isinstance(row, dict) or not isinstance(row.get("TransactionNotes") or [], list):
            return row  # a malformed row a test planted goes out as it is
        return dict(row, TransactionNotes=list(row.get("TransactionNotes") or []))

    async def _all_cardholder_transactions(self, request: Request) -> Response:
        rows = _business(request).transactions["cardholder"]
        return self._answer(lambda: self._page(self._select(rows, request), request))

    async def _all_cardholder_count(self, request: Request) -> Response:
        rows = _business(request).transactions["cardholder"]
        return self._answer(lambda: PexJSON(len(self._select(rows, request))))

    async def _business_transactions(self, request: Request) -> Response:
        rows = _business(request).transactions["business"]
        return self._answer(lambda: self._page(self._select(rows, request), request))

    async def _account_transactions(self, request: Request) -> Response:
        acct_id, business = request.path_params["acct_id"], _business(request)
        if acct_id == business.account_id:
            return await self._business_transactions(request)
        if acct_id not in business.cardholder_ids():
            return message(404, f"Account {acct_id} not found.")
        rows = business.transactions["cardholder"]
        return self._answer(lambda: self._page(self._select(rows, request, acct_id), request))

    def _answer(self, build: Callable[[], Response]) -> Response:
        try:
            return build()
        except _BadRequest as exc:
            return message(400, str(exc))

    # -------------------------------------------------------------------------------- accounts
    async def _account_details(self, request: Request) -> Response:
        business = _business(request)
        return PexJSON(business.balances.details(business.account_details, business.transactions))

    async def _one_account(self, request: Request) -> Response:
        acct_id = request.path_params["acct_id"]
        for holder in _business(request).account_details["CHAccountList"]:
            if holder["AccountId"] == acct_id:
                return PexJSON({
                    "AccountId": acct_id, "AccountStatus": holder["AccountStatus"],
                    "LedgerBalance": holder["LedgerBalance"], "AvailableBalance": holder["AvailableBalance"],
                    "ProfileAddress": {"ContactName": f"{holder['FirstName']} {holder['LastName']}",
                                       "AddressLine1": "100 Peachtree St", "AddressLine2": "", "City": "Atlanta",
                                       "State": "GA", "PostalCode": "30303", "Country": "USA"},
                    "Phone": "4045550100", "ShippingAddress": None, "Email": holder["Email"],
                    "IsVirtual": holder["IsVirtual"], "CustomId": holder["CustomId"], "UserGroups": [],
                    "CardList": [{"CardId": acct_id * 10, "IssuedDate": holder["CardIssueDate"],
                                  "ExpirationDate": holder["CardExpiryDate"],
                                  "Last4CardNumber": holder["CardNumber4Digits"], "CardStatus": holder["CardStatus"]}],
                })
        return message(404, f"Account {acct_id} not found.")

    async def _settings(self, request: Request) -> Response:
        business = _business(request)
        return PexJSON({
            "BusinessAccountId": business.account_id, "FundingSource": business.funding_source,
            "TagsEnabled": business.tags_enabled, "AllocationTagsEnabled": business.tags_enabled,
            "UseBusinessBalanceEnabled": True, "IsPrepaid": business.funding_source == "Prepaid",
        })

    async def _balance(self, request: Request) -> Response:
        business = _business(request)
        return PexJSON({"BusinessAccountId": business.account_id,
                        "BusinessAccountBalance": business.balances.details(
                            business.account_details, business.transactions)["BusinessAccountBalance"]})
