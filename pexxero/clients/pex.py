"""The PEX API client: reads both ledgers, cardholders, settings, tags and receipts; writes dropdown options.

What PEX sends is read into `pexxero.models` by `pexxero.clients.pex_rows`, which also holds the PEX errors
(re-exported here for the client's callers). Transient failures (429, 5xx, dropped connections, timeouts, cut-off
bodies) are retried with exponential backoff that honours Retry-After; only idempotent calls (GET, PUT) are
retried. The token never appears in an error, a log line or a repr.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Optional, Sequence

import httpx

from pexxero.clients.endpoints import Endpoints
from pexxero.clients.http import Retries, dumps_exact, exponential, retry_after
from pexxero.clients.pex_rows import (  # noqa: F401 - EASTERN and the errors: the client's callers take them from here
    ATTACHMENT_TYPES, EASTERN, UPLOAD_STATUSES, BadPexRow, PexAuthError, PexError, PexRateLimited, PexUnavailable,
    _enum, _get, _read_id, attachment_file, eastern_today, parse_attachment, parse_pex_time, parse_tag_definition,
    pex_time, read_rows,
)
from pexxero.models import AttachmentFile, Cardholder, PexAttachment, PexTransaction, TagDefinition, TagOption

log = logging.getLogger(__name__)

MAX_HISTORY_DAYS = 365  # PEX serves the last 12 months only
MAX_PAGES = 1000  # a guard against a server that never says "last page"

_TOKEN_PROBLEMS = ("token", "password", "user is not active", "authorization has been denied")


# -------------------------------------------------------------------------------------------- client

_NOT_FOUND = object()


class PexClient:
    """Synchronous PEX API client over httpx. Use as a context manager, or call `close()`."""

    MAX_WAIT = 60.0  # a Retry-After longer than this is returned to the caller (PexRateLimited), not slept through

    def __init__(self, token: str, base_url: str | None = None, timeout: float = 30.0, max_retries: int = 4,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None, *, today: Callable[[], date] = eastern_today) -> None:
        if not token:
            raise ValueError("a PEX API token is required")
        self._token = token
        self.base_url = (base_url or Endpoints.from_env().pex_api_url).rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self._today = today
        self.rejected: list[str] = []  # rows PEX sent that could not be identified (read_rows), for the caller
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"token {token}", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"PexClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PexClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------ transactions
    def cardholder_transactions(self, start: date, end: date, *, include_pendings: bool = True,
                                include_declines: bool = True) -> list[PexTransaction]:
        """Every card account's ledger: purchases, refunds, disputes, card funding, card fees."""
        query = {"IncludePendings": _bool(include_pendings), "IncludeDeclines": _bool(include_declines),
                 "IncludeVendorBillPay": "True"}
        rows = self._ledger("/Details/AllCardholderTransactions", query, start, end)
        return self._read(rows, "cardholder", end)

    def business_transactions(self, start: date, end: date) -> list[PexTransaction]:
        """The business account's ledger (funding, business fees, rebates). Needs an admin token."""
        query = {"IncludePendings": "False", "IncludeDeclines": "False"}  # as PEX documents for this ledger
        rows = self._ledger("/Details/TransactionDetails", query, start, end)
        return self._read(rows, "business", end)

    def _read(self, rows: list, ledger: str, end: date) -> list[PexTransaction]:
        """Parse a ledger; rows that cannot be identified are kept in `rejected` (and logged) for the caller."""
        parsed, rejected = read_rows(rows, ledger, datetime.combine(end, datetime.min.time()))
        for message in rejected:
            log.warning("PEX: %s", message)
        self.rejected += rejected
        return parsed

    def _ledger(self, path: str, query: dict, start: date, end: date) -> list[dict]:
        """All rows of a window, following PEX's paging: restart at LastTimeRetrieved, drop the repeated row.

        One window, not 14-day batches like PEX's Aplos connector: the listing endpoints allow 10 calls an hour
        (cardholders) and 1 a minute (business), so batching would spend the budget; paging covers the row cap.
        """
        self._check_window(start, end)
        cursor = pex_time(datetime.combine(start, datetime.min.time()))
        until = pex_time(datetime.combine(end, datetime.max.time()))  # 23:59:59 Eastern
        rows: dict[Any, Any] = {}
        for _ in range(MAX_PAGES):
            data = self._request("GET", path, params={**query, "StartDate": cursor, "EndDate": until})
            if not isinstance(data, dict):
                raise PexUnavailable(None, f"{path} answered without a TransactionList")
            page = _get(data, "TransactionList") or []
            if not isinstance(page, list):
                raise PexUnavailable(None, f"{path} answered a TransactionList that is not a list")
            for row in page:
                try:
                    key: Any = _read_id(_get(row, "TransactionId"), "?", "TransactionId")
                except (BadPexRow, AttributeError, TypeError):
                    key = ("unidentified", len(rows))  # kept for read_rows to report, never merged
                rows.setdefault(key, row)  # the boundary row comes twice
            pages = _get(data, "Pages") or {}
            if int(_get(pages, "NumberOfPages") or 0) <= 1:
                return list(rows.values())
            last = parse_pex_time(_get(pages, "LastTimeRetrieved"))
            if last is None or pex_time(last) <= cursor:
                raise PexError(None, f"{path}: paging made no progress past {cursor}")
            cursor = pex_time(last)
        raise PexError(None, f"{path}: more than {MAX_PAGES} pages")

    def _check_window(self, start: date, end: date) -> None:
        today = self._today()
        if start < today - timedelta(days=MAX_HISTORY_DAYS):
            raise ValueError(
                f"PEX serves only the last 12 months: the start date {start} is more than {MAX_HISTORY_DAYS} days "
                f"before today ({today}, US Eastern)"
            )
        if end < start:
            raise ValueError(f"the end date {end} is before the start date {start}")

    # ---------------------------------------------------------------------------- account data
    def cardholders(self) -> dict[int, Cardholder]:
        """Card accounts by AccountId, from AccountDetails (rate-limited by PEX: cache the answer)."""
        data = self._request("GET", "/Details/AccountDetails")
        return {
            int(_get(h, "AccountId")): Cardholder(int(_get(h, "AccountId")), str(_get(h, "FirstName") or ""),
                                                  str(_get(h, "LastName") or ""))
            for h in _get(data, "CHAccountList") or []
        }

    def business_name(self) -> str:
        """The business's name, from AccountDetails (the call that also proves the token is good)."""
        return str(_get(self._request("GET", "/Details/AccountDetails"), "BusinessName") or "")

    def business_settings(self) -> dict:
        """GET /Business/Settings as PEX sends it (FundingSource, TagsEnabled, ...)."""
        return self._request("GET", "/Business/Settings")

    # ---------------------------------------------------------------------------------- receipts
    def attachments(self, transaction_id: int) -> list[PexAttachment]:
        """The receipts on a transaction; none (PEX answers 404) is an empty list."""
        data = self._request("GET", f"/Transactions/{int(transaction_id)}/Attachments", allow_404=True)
        if data is _NOT_FOUND or not data:
            return []
        return [parse_attachment(a) for a in _get(data, "Attachments") or []]

    def download_attachment(self, transaction_id: int, attachment_id: str) -> AttachmentFile:
        """One receipt's bytes, named and typed by PEX's rules. PexError when it is missing or not Loaded."""
        data = self._request("GET", f"/Transactions/{int(transaction_id)}/Attachment/{attachment_id}",
                             params={"AttachmentLinkType": "Full"}, allow_404=True)
        if data is _NOT_FOUND:
            raise PexError(404, f"attachment {attachment_id} of transaction {transaction_id} not found")
        content = _get(data, "Content")
        if not content:
            status = _enum(_get(data, "UploadStatus"), UPLOAD_STATUSES) or "unknown"
            raise PexError(None, f"attachment {attachment_id} has no content (upload status {status})")
        return attachment_file(str(_get(data, "AttachmentId") or attachment_id),
                               _enum(_get(data, "Type"), ATTACHMENT_TYPES), str(content))

    # -------------------------------------------------------------------------------------- tags
    def tag_definitions(self) -> list[TagDefinition]:
        """Every tag definition. PEX answers 403 when tags are off for the business (a PexError, status 403)."""
        data = self._request("GET", "/Business/Configuration/Tags")
        return [parse_tag_definition(d) for d in data or []]

    def update_dropdown_tag(self, definition: TagDefinition, options: Sequence[TagOption]) -> TagDefinition:
        """Replace a dropdown's options: PUT the whole definition back with the new Options; returns PEX's copy.

        Checked first as PEX's SDK does: option names and values unique (case-insensitive), at least one enabled.
        """
        _check_options(options)
        body = dict(definition.raw) if definition.raw else {
            "Id": definition.id, "Type": "Dropdown", "Name": definition.name, "IsRequired": definition.is_required,
            "IsEnabled": definition.is_enabled, "ConcurrencyKey": definition.concurrency_key,
        }
        body["Options"] = [{"Name": o.name, "Value": o.value, "Order": o.order, "IsEnabled": o.is_enabled}
                           for o in options]
        data = self._request("PUT", f"/Business/Configuration/Tag/Dropdown/{definition.id}", body=body)
        return parse_tag_definition(data)

    # ------------------------------------------------------------------------------------- notes
    def add_note(self, transaction_id: int, text: str, *, pending: bool = False) -> Optional[int]:
        """Attach a note to a transaction; returns its NoteId. A POST: never retried (it would add it twice)."""
        data = self._request("POST", "/Note", body={"TransactionId": int(transaction_id), "NoteText": text,
                                                    "Pending": pending, "VisibleToCardholder": False,
                                                    "SystemGenerated": True})
        note_id = _get(data, "NoteId") if isinstance(data, dict) else None
        return int(note_id) if note_id is not None else None

    # ---------------------------------------------------------------------------------- transport
    def _request(self, method: str, path: str, *, params: dict | None = None, body: object = None,
                 allow_404: bool = False) -> Any:
        """One call with retries. GET and PUT are idempotent and retried; anything else is sent once."""
        retryable = method in ("GET", "PUT")
        content = dumps_exact(body).encode("utf-8") if body is not None else None
        retries = Retries(self.max_retries, exponential(self.backoff))
        while True:
            headers = {"X-CORRELATION-ID": str(uuid.uuid4())}
            if content is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            wait: Optional[float] = None
            try:
                response = self._http.request(method, path, params=params, content=content, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, dropped, timed out
                failure: PexError = PexUnavailable(None, f"could not reach PEX ({type(exc).__name__})")
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if not response.content:
                        return None
                    try:
                        return json.loads(response.content, parse_float=Decimal)
                    except ValueError:  # e.g. a body cut off mid-way
                        failure = PexUnavailable(status, "PEX sent a response that is not valid JSON")
                elif status == 404 and allow_404:
                    return _NOT_FOUND
                else:
                    text = self._scrub(_error_message(response))
                    wait = retry_after(response.headers.get("Retry-After"))
                    if status == 429:
                        failure = PexRateLimited(status, text, wait)
                    elif status >= 500 or status == 408:
                        failure = PexUnavailable(status, text)
                    elif status == 401 or (status == 403 and any(p in text.lower() for p in _TOKEN_PROBLEMS)):
                        raise PexAuthError(status, text)
                    else:
                        raise PexError(status, text)
            delay = retries.failed(wait)
            if not retryable or delay is None or delay > self.MAX_WAIT:
                raise failure
            log.warning("PEX %s %s failed (%s); retry %d of %d in %.1fs",
                        method, path, failure, retries.failures, self.max_retries, delay)
            self._sleep(delay)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _bool(value: bool) -> str:
    return "True" if value else "False"  # as PEX's SDK sends booleans


def _error_message(response: httpx.Response) -> str:
    """PEX's {"Message"} when the error body is JSON, else the reason phrase (never an HTML page)."""
    if "json" in response.headers.get("Content-Type", "").lower():
        try:
            data = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            data = None
        if isinstance(data, dict):
            text = _get(data, "Message")
            if text:
                return str(text)
    return response.reason_phrase or f"HTTP {response.status_code}"


def _check_options(options: Sequence[TagOption]) -> None:
    if not options:
        raise ValueError("a dropdown needs at least one option")
    for label, key in (("names", lambda o: o.name), ("values", lambda o: o.value)):
        seen: dict[str, str] = {}
        for option in options:
            folded = key(option).strip().casefold()
            if folded in seen:
                raise ValueError(f"dropdown option {label} must be unique: {seen[folded]!r} and {key(option)!r}")
            seen[folded] = key(option)
    if not any(o.is_enabled for o in options):
        raise ValueError("at least one dropdown option must be enabled")
