"""A local PEX API for the sandbox and the tests, answering the PEX v4 endpoints the product calls.

Serves the demo business from one seeded store: both transaction ledgers with PEX's 30,000-row paging, account
details, business settings, tag definitions and dropdown writes, receipts, and notes. Behaves like PEX where
PEX's behaviour matters to a client: case-insensitive paths, `token`/`Token` auth with `{"Message"}` errors,
the 12-month window rule, optional rate limits on an injectable clock, and a switchboard of faults.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Optional
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pexxero.clients.http import dumps_exact
from pexxero.sandbox import demo, pex_balances, receipts
from pexxero.sandbox.server import serve_in_thread

WINDOW_DAYS = 365  # PEX serves the last 12 months only
FAULT_KINDS = ("429", "500", "503", "504", "html_500", "drop", "truncated_json")

# (bucket name, path it applies to (None: every call), calls allowed, per seconds): PEX's published per-token
# limits, one overall and one per endpoint
RATE_LIMITS = (
    ("overall", None, 120, 60),
    ("TransactionDetails", "/v4/details/transactiondetails", 1, 60),
    ("AllCardholderTransactions", "/v4/details/allcardholdertransactions", 10, 3600),
    ("AccountDetails", "/v4/details/accountdetails", 10, 3600),
)


# ------------------------------------------------------------------------------------------ JSON out

def dumps(value: object) -> bytes:
    """JSON with Decimals written as exact numbers (PEX sends money as JSON numbers, never strings)."""
    return dumps_exact(value, compact=True, default=None).encode("utf-8")


class PexJSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: object) -> bytes:
        return dumps(content)


def message(status: int, text: str, headers: dict | None = None) -> PexJSON:
    return PexJSON({"Message": text}, status_code=status, headers=headers)


# -------------------------------------------------------------------------------------------- faults

@dataclass
class Fault:
    kind: str
    path_contains: Optional[str]
    count: int
    retry_after: Optional[int] = None
    status: Optional[int] = None


class Faults:
    """The switchboard: queued one-shot faults matched by path, and a full outage switch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[Fault] = []
        self.outage = False

    def queue(self, kind: str, path_contains: str | None = None, count: int = 1, *,
              retry_after: int | None = None, status: int | None = None) -> None:
        """Answer the next `count` calls whose path contains `path_contains` (case-insensitive) with `kind`.

        `retry_after` adds a Retry-After header to a "429"; `status` sets the status of "truncated_json" (200).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            where = path_contains.lower() if path_contains else None
            self._queued.append(Fault(kind, where, count, retry_after, status))

    def take(self, path: str) -> Optional[Fault]:
        with self._lock:
            for fault in self._queued:
                if fault.path_contains is None or fault.path_contains in path.lower():
                    fault.count -= 1
                    if fault.count <= 0:
                        self._queued.remove(fault)
                    return fault
        return None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.count for f in self._queued)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
        self.outage = False


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


def _query(request: Request, name: str) -> Optional[str]:
    """A query parameter by name, case-insensitively (ASP.NET binds them that way)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name.lower():
            return value
    return None


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


class PexDouble:
    """The PEX API of the demo business on 127.0.0.1. Use as a context manager or `start()` / `stop()`."""

    def __init__(self, seed: int = 1, today: date | None = None, *, token: str = demo.PEX_TOKEN,
                 rate_limits: bool = False, page_size: int = 30000, attachments_404_when_none: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if page_size < 2:
            raise ValueError("page_size must be at least 2: each page repeats the previous page's last row")
        self.today = today or demo.eastern_today()
        self.token = token
        self.rate_limits = rate_limits
        self.page_size = page_size
        self.attachments_404_when_none = attachments_404_when_none
        self.clock = clock
        self.tags_enabled = True
        self.funding_source = "Prepaid"
        self.transactions = demo.pex_transactions(seed, self.today)  # {"cardholder": [...], "business": [...]}
        self.attachments = demo.receipts_for(self.transactions, seed)  # TransactionId -> attachments incl. Content
        self.tag_definitions = demo.pex_tag_definitions()
        self.account_details = demo.account_details()
        self.balances = pex_balances.Balances()  # today's balances follow the ledgers, planted rows too
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict]] = []
        self.url = ""
        self._handle = None
        self._calls: dict[str, deque] = {name: deque() for name, *_ in RATE_LIMITS}
        self._limit_lock = threading.Lock()
        self._next_note_id = 900001
        self._key_version = 0
        self.app: Starlette = _PexApp(self, self._routes())

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
        denied = self._auth(scope)
        if denied is not None:
            await _send(send, denied)
            return True
        if self.rate_limits and not self._allow(lower):
            await _send(send, message(429, "Usage Limits Exceeded"))
            return True
        return False

    def _auth(self, scope) -> Optional[Response]:
        header = ""
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":
                header = value.decode("latin-1")
        scheme, _, token = header.strip().partition(" ")
        if not header or scheme.lower() not in ("token", "bearer"):
            return message(401, "Authorization has been denied for this request.")
        if token.strip() != self.token:
            return message(403, "Token expired or does not exist")
        return None

    def _allow(self, path: str) -> bool:
        now = self.clock()
        with self._limit_lock:
            buckets = [
                (name, limit, per) for name, prefix, limit, per in RATE_LIMITS
                if prefix is None or path == prefix or path.startswith(prefix + "/")
            ]
            for name, limit, per in buckets:
                calls = self._calls[name]
                while calls and calls[0] <= now - per:
                    calls.popleft()
                if len(calls) >= limit:
                    return False
            for name, _, _ in buckets:
                self._calls[name].append(now)
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
        return PexJSON({
            "AppId": 1001, "BusinessAccountId": demo.BUSINESS_ACCOUNT_ID, "BusinessAccountName": demo.BUSINESS_NAME,
            "CardholderAccountId": 0, "UserType": "Admin", "Username": "sandbox.admin", "Token": self.token,
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
        return self._answer(lambda: self._page(self._select(self.transactions["cardholder"], request), request))

    async def _all_cardholder_count(self, request: Request) -> Response:
        return self._answer(lambda: PexJSON(len(self._select(self.transactions["cardholder"], request))))

    async def _business_transactions(self, request: Request) -> Response:
        return self._answer(lambda: self._page(self._select(self.transactions["business"], request), request))

    async def _account_transactions(self, request: Request) -> Response:
        acct_id = request.path_params["acct_id"]
        if acct_id == demo.BUSINESS_ACCOUNT_ID:
            return await self._business_transactions(request)
        if acct_id not in self._cardholder_ids():
            return message(404, f"Account {acct_id} not found.")
        rows = self.transactions["cardholder"]
        return self._answer(lambda: self._page(self._select(rows, request, acct_id), request))

    def _answer(self, build: Callable[[], Response]) -> Response:
        try:
            return build()
        except _BadRequest as exc:
            return message(400, str(exc))

    # -------------------------------------------------------------------------------- accounts
    def _cardholder_ids(self) -> set[int]:
        return {c["AccountId"] for c in self.account_details["CHAccountList"]}

    async def _account_details(self, request: Request) -> Response:
        return PexJSON(self.balances.details(self.account_details, self.transactions))

    async def _one_account(self, request: Request) -> Response:
        acct_id = request.path_params["acct_id"]
        for holder in self.account_details["CHAccountList"]:
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
        return PexJSON({
            "BusinessAccountId": demo.BUSINESS_ACCOUNT_ID, "FundingSource": self.funding_source,
            "TagsEnabled": self.tags_enabled, "AllocationTagsEnabled": self.tags_enabled,
            "UseBusinessBalanceEnabled": True, "IsPrepaid": self.funding_source == "Prepaid",
        })

    async def _balance(self, request: Request) -> Response:
        return PexJSON({"BusinessAccountId": demo.BUSINESS_ACCOUNT_ID,
                        "BusinessAccountBalance": self.balances.details(self.account_details, self.transactions)[
                            "BusinessAccountBalance"]})

    # ------------------------------------------------------------------------------------ tags
    def _tags_off(self) -> Optional[Response]:
        return None if self.tags_enabled else message(403, "Tags are not enabled for this business.")

    def _find_tag(self, tag_id: str) -> Optional[dict]:
        return next((t for t in self.tag_definitions if t["Id"].lower() == tag_id.lower()), None)

    async def _tags(self, request: Request) -> Response:
        return self._tags_off() or PexJSON(self.tag_definitions)

    async def _tag(self, request: Request) -> Response:
        definition = self._find_tag(request.path_params["tag_id"])
        if definition is None:
            return message(404, "Tag not found.")
        return self._tags_off() or PexJSON(definition)

    async def _put_dropdown(self, request: Request) -> Response:
        off = self._tags_off()
        if off:
            return off
        stored = self._find_tag(request.path_params["tag_id"])
        if stored is None or stored["Type"] != "Dropdown":
            return message(404, "Dropdown tag not found.")
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return message(400, "The request body is not valid JSON.")
        problem = _dropdown_problem(body)
        if problem:
            return message(400, problem)
        self._key_version += 1
        stored["Options"] = [
            {"Name": o["Name"], "Value": o["Value"], "Order": int(o.get("Order") or 0),
             "IsEnabled": bool(o.get("IsEnabled", True))}
            for o in body["Options"]
        ]
        for name in ("Name", "Description", "Order", "IsRequired", "IsEnabled"):
            if name in body and body[name] is not None:
                stored[name] = body[name]
        stored["ConcurrencyKey"] = demo.pex_id("ck", stored["Id"], self._key_version)
        stored["UpdatedDateUtc"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return PexJSON(stored)

    # ----------------------------------------------------------------------------- attachments
    def _row(self, tx_id: int) -> Optional[dict]:
        for ledger in self.transactions.values():
            for row in ledger:
                if _field(row, "TransactionId") == tx_id:
                    return row
        return None

    def _attachment_json(self, request: Request, tx_id: int, attachment: dict) -> dict:
        out = {k: v for k, v in attachment.items() if k != "Content"}
        out["Link"] = {"related": f"{request.base_url}v4/Transactions/{tx_id}/Attachment/{attachment['AttachmentId']}"}
        return out

    async def _attachment_list(self, request: Request) -> Response:
        tx_id = request.path_params["tx_id"]
        row = self._row(tx_id)
        files = self.attachments.get(tx_id) or []
        if row is None or (not files and self.attachments_404_when_none):
            return message(404, "Not Found")
        return PexJSON({"Attachments": [self._attachment_json(request, tx_id, a) for a in files],
                        "ApprovalStatus": row.get("MetadataApprovalStatus")})

    async def _attachment(self, request: Request) -> Response:
        tx_id, wanted = request.path_params["tx_id"], request.path_params["attachment_id"]
        row = self._row(tx_id)
        files = self.attachments.get(tx_id) or []
        found = next((a for a in files if a["AttachmentId"].lower() == wanted.lower()), None)
        if row is None or found is None:
            return message(404, "Not Found")
        link_type = (_query(request, "AttachmentLinkType") or "LinkUrl").lower()
        out = self._attachment_json(request, tx_id, found)
        if found.get("Content") is None:  # not Loaded: nothing to hand out
            out["Content"] = None
        elif link_type == "full":
            out["Content"] = found["Content"]
        elif link_type in ("thumbnail", "preview"):
            out["Content"] = base64.b64encode(receipts.png_receipt(lines=2, width=12, height=16)).decode("ascii")
        else:
            out["Content"] = out["Link"]["related"] + "?AttachmentLinkType=Full"
        out["ApprovalStatus"] = row.get("MetadataApprovalStatus")
        return PexJSON(out)

    # ----------------------------------------------------------------------------------- notes
    async def _add_note(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            tx_id, text = int(body["TransactionId"]), str(body["NoteText"])
        except (ValueError, KeyError, TypeError):
            return message(400, "TransactionId and NoteText are required.")
        row = self._row(tx_id)
        if row is None:
            return message(404, "Transaction not found.")
        note_id, self._next_note_id = self._next_note_id, self._next_note_id + 1
        row.setdefault("TransactionNotes", []).append({
            "NoteId": note_id, "NoteText": text, "UserName": "sandbox.admin", "UserFirstName": "Sandbox",
            "UserLastName": "Admin", "NoteDate": datetime.now(demo.EASTERN).strftime(demo.PEX_TIME_FORMAT),
            "UpdatedDate": None, "SystemGenerated": bool(body.get("SystemGenerated", False)),
        })
        return PexJSON({"NoteId": note_id}, status_code=201)

    async def _edit_note(self, request: Request) -> Response:
        note_id = request.path_params["note_id"]
        for ledger in self.transactions.values():
            for row in ledger:
                for note in row.get("TransactionNotes") or []:
                    if note["NoteId"] == note_id:
                        if request.method == "DELETE":
                            row["TransactionNotes"].remove(note)
                        else:
                            body = json.loads(await request.body() or b"{}")
                            note["NoteText"] = str(body.get("NoteText", note["NoteText"]))
                            note["UpdatedDate"] = datetime.now(demo.EASTERN).strftime(demo.PEX_TIME_FORMAT)
                        return Response(status_code=200)
        return message(404, "Note not found.")


def _dropdown_problem(body: object) -> Optional[str]:
    """Why a dropdown PUT body is refused (400), or None. `Type` may be the SDK's integer or PEX's string."""
    if not isinstance(body, dict):
        return "The request body must be a tag definition."
    kind = body.get("Type", "Dropdown")
    if not (kind == 2 or (isinstance(kind, str) and kind.lower() in ("dropdown", "2"))):
        return f"Type must be Dropdown, not {kind!r}."
    options = body.get("Options")
    if not isinstance(options, list) or not options:
        return "Options are required."
    try:
        names = [str(o["Name"]).strip().lower() for o in options]
        values = [str(o["Value"]).strip().lower() for o in options]
        enabled = [bool(o.get("IsEnabled", True)) for o in options]
    except (KeyError, TypeError, AttributeError):
        return "Every option needs a Name and a Value."
    if len(set(names)) != len(names):
        return "Option names must be unique."
    if len(set(values)) != len(values):
        return "Option values must be unique."
    if not any(enabled):
        return "At least one option must be enabled."
    return None


async def _send(send, response: Response) -> None:
    """Send a whole Starlette response from the front door (outside routing)."""
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
