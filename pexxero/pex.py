"""The PEX API client: reads both ledgers, cardholders, settings, tags and receipts; writes dropdown options.

Everything PEX sends is parsed here, once, into the models of `pexxero.models`: money as exact `Decimal`s (JSON is
parsed with `parse_float=Decimal`, so 0.1 stays 0.1), times as naive US-Eastern datetimes, enums as strings.
Transient failures (429, 5xx, dropped connections, timeouts, cut-off bodies) are retried with exponential backoff
that honours Retry-After; only idempotent calls (GET, PUT) are retried. The token never appears in an error,
a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import logging
import re
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Optional, Sequence
from zoneinfo import ZoneInfo

import httpx

from pexxero.endpoints import Endpoints
from pexxero.models import (
    AttachmentFile, Cardholder, PexAttachment, PexTransaction, Split, TagDefinition, TagOption, TagValue,
)

log = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")
PEX_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_HISTORY_DAYS = 365  # PEX serves the last 12 months only
MAX_PAGES = 1000  # a guard against a server that never says "last page"

# Enum integers as PEX's .NET SDK numbers them (responses normally carry the strings)
TRANSACTION_TYPES = {-1: "Invalid", 1: "Transfer", 2: "Network", 3: "Load"}
TAG_TYPES = {0: "Text", 1: "YesNo", 2: "Dropdown", 3: "Decimal", 4: "PercentageTax", 5: "AbsoluteTax", 10: "Allocation"}
# inferred: the documented order of the values (no source gives their numbers)
APPROVAL_STATUSES = {0: "NotReviewed", 1: "Ignored", 2: "Approved", 3: "Rejected", 4: "NoReceipt"}
ATTACHMENT_TYPES = {0: "Image", 1: "Pdf"}
UPLOAD_STATUSES = {0: "NotLoaded", 1: "Loaded", 2: "Deleted", 3: "HasMalware", 4: "LoadFailed"}
_DECIMAL_MARK = re.compile(r'"\\u0000(-?[0-9.Ee+-]+)\\u0000"')  # see _json_body


# -------------------------------------------------------------------------------------------- errors

class PexError(Exception):
    """A PEX call failed. `message` is PEX's own {"Message"} text, or the HTTP reason phrase."""

    def __init__(self, status: int | None, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"PEX {status}: {message}" if status else f"PEX: {message}")


class PexAuthError(PexError):
    """The token was refused (401, or 403 "Token expired or does not exist" and the like): connect PEX again."""


class PexRateLimited(PexError):
    """429 "Usage Limits Exceeded" after the retries. `retry_after` is PEX's Retry-After in seconds, if it sent one."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class PexUnavailable(PexError):
    """PEX could not be reached or kept failing (5xx, dropped connections, timeouts, unreadable bodies)."""


_TOKEN_PROBLEMS = ("token", "password", "user is not active", "authorization has been denied")


# ------------------------------------------------------------------------------------------- parsing

def eastern_today() -> date:
    return datetime.now(EASTERN).date()


def pex_time(moment: datetime) -> str:
    """A naive US-Eastern datetime in PEX's query format."""
    return moment.strftime(PEX_TIME_FORMAT)


def parse_pex_time(value: Any) -> Optional[datetime]:
    """PEX's naive Eastern wall-clock time; a time with an offset is converted to Eastern first."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(EASTERN).replace(tzinfo=None)
    return moment


def to_decimal(value: Any) -> Decimal:
    """Exact money from a JSON number (already Decimal when parsed here), an int or a string."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        return Decimal(str(value).strip())  # str() first: a float's shortest repr, never its binary expansion
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _enum(value: Any, names: dict[int, str]) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return names.get(value, str(value))
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return names.get(int(text), text)
    return text


def _get(obj: dict, key: str, default: Any = None) -> Any:
    """A field by name, case-insensitively (PEX's serializer matches names that way)."""
    if key in obj:
        return obj[key]
    lower = key.lower()
    for name, value in obj.items():
        if name.lower() == lower:
            return value
    return default


def _tag_text(value: Any) -> str:
    """A tag value as text: dropdowns and text are strings already, YesNo is a boolean, Decimal a number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def _allocation(value: Any) -> Optional[dict]:
    """The split document of an Allocation tag value (a JSON string or an object), or None for an ordinary value."""
    doc = value
    if isinstance(value, str):
        if not value.lstrip().startswith("{"):
            return None
        try:
            doc = json.loads(value, parse_float=Decimal)
        except ValueError:
            return None
    if isinstance(doc, dict) and _get(doc, "Allocation") is not None:
        return doc
    return None


def parse_tags(raw: Any, transaction_id: Any = None) -> tuple[tuple[TagValue, ...], tuple[Split, ...]]:
    """`TransactionTags` -> (ordinary tags, allocation splits). Split amounts are unsigned, as PEX keeps them."""
    entries = (_get(raw, "Tags") or []) if isinstance(raw, dict) else []
    tags: list[TagValue] = []
    splits: list[Split] = []
    for entry in entries:
        value = _get(entry, "Value")
        doc = _allocation(value)
        if doc is None:
            tags.append(TagValue(str(_get(entry, "FieldId") or ""), str(_get(entry, "Name") or ""), _tag_text(value)))
            continue
        amount = _get(doc, "Amount")
        if amount in (None, ""):
            raise PexError(None, f"transaction {transaction_id}: a split has no Amount")
        split_tags = tuple(
            TagValue(str(_get(item, "TagId") or ""), "", _tag_text(_get(item, "Value")))  # names: from the definitions
            for item in _get(doc, "Allocation") or []
            if _get(item, "Value") is not None
        )
        splits.append(Split(amount=abs(to_decimal(amount)), tags=split_tags))
    return tuple(tags), tuple(splits)


def parse_transaction(row: dict, ledger: str) -> PexTransaction:
    """One row of AllCardholderTransactions ("cardholder") or TransactionDetails ("business")."""
    transaction_id = _get(row, "TransactionId")
    tags, splits = parse_tags(_get(row, "TransactionTags"), transaction_id)
    auth = _get(row, "AuthTransactionId")
    approval = _enum(_get(row, "MetadataApprovalStatus"), APPROVAL_STATUSES).replace(" ", "")  # "Not Reviewed"
    return PexTransaction(
        transaction_id=int(transaction_id),
        acct_id=int(_get(row, "AcctId") or 0),
        ledger=ledger,
        transaction_type=_enum(_get(row, "TransactionType"), TRANSACTION_TYPES),
        category=str(_get(row, "TransactionTypeCategory") or ""),
        amount=to_decimal(_get(row, "TransactionAmount")),
        transaction_time=parse_pex_time(_get(row, "TransactionTime")),
        settlement_time=parse_pex_time(_get(row, "SettlementTime")),
        description=str(_get(row, "Description") or ""),
        merchant_name=str(_get(row, "MerchantName") or ""),
        merchant_name_normalized=str(_get(row, "MerchantNameNormalized") or ""),
        is_pending=bool(_get(row, "IsPending")),
        is_decline=bool(_get(row, "IsDecline")),
        approval_status=approval or "NotReviewed",
        auth_transaction_id=int(auth) if auth not in (None, "", 0) else None,
        tags=tags,
        splits=splits,
        notes=tuple(str(_get(n, "NoteText") or "") for n in _get(row, "TransactionNotes") or []),
    )


def parse_tag_definition(raw: dict) -> TagDefinition:
    options = tuple(
        TagOption(
            name=str(_get(o, "Name") or ""),
            value=str(_get(o, "Value") or ""),
            order=int(_get(o, "Order") or 0),
            is_enabled=bool(_get(o, "IsEnabled", True)),
        )
        for o in _get(raw, "Options") or []
    )
    return TagDefinition(
        id=str(_get(raw, "Id") or ""),
        name=str(_get(raw, "Name") or ""),
        type=_enum(_get(raw, "Type"), TAG_TYPES),
        is_enabled=bool(_get(raw, "IsEnabled", True)),
        is_deleted=bool(_get(raw, "IsDeleted", False)),
        is_required=bool(_get(raw, "IsRequired", False)),
        options=options,
        concurrency_key=str(_get(raw, "ConcurrencyKey") or ""),
        raw=raw,
    )


def parse_attachment(raw: dict) -> PexAttachment:
    return PexAttachment(
        attachment_id=str(_get(raw, "AttachmentId") or ""),
        type=_enum(_get(raw, "Type"), ATTACHMENT_TYPES),
        upload_status=_enum(_get(raw, "UploadStatus"), UPLOAD_STATUSES),
        size=int(_get(raw, "Size") or 0),
    )


def attachment_file(attachment_id: str, kind: str, content_b64: str) -> AttachmentFile:
    """Name and type a receipt the way PEX's SDK does: Pdf -> .pdf; base64 "iVBOR" -> .png; else .jpg."""
    try:
        content = base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise PexError(None, f"attachment {attachment_id}: Content is not base64") from None
    if kind.lower() == "pdf":
        return AttachmentFile(f"{attachment_id}.pdf", "application/pdf", content)
    if content_b64[:5].lower() == "ivbor":
        return AttachmentFile(f"{attachment_id}.png", "image/png", content)
    return AttachmentFile(f"{attachment_id}.jpg", "image/jpeg", content)


def _json_body(value: object) -> bytes:
    """A request body; any Decimal goes out as an exact JSON number."""
    marked = json.dumps(value, default=lambda v: f"\x00{v}\x00" if isinstance(v, Decimal) else str(v))
    return _DECIMAL_MARK.sub(r"\1", marked).encode("utf-8")


def _retry_after(response: httpx.Response) -> Optional[float]:
    """Retry-After as seconds: a number, or an HTTP date."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


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
        return [parse_transaction(row, "cardholder") for row in rows]

    def business_transactions(self, start: date, end: date) -> list[PexTransaction]:
        """The business account's ledger (funding, business fees, rebates). Needs an admin token."""
        query = {"IncludePendings": "False", "IncludeDeclines": "False"}  # as PEX documents for this ledger
        rows = self._ledger("/Details/TransactionDetails", query, start, end)
        return [parse_transaction(row, "business") for row in rows]

    def _ledger(self, path: str, query: dict, start: date, end: date) -> list[dict]:
        """All rows of a window, following PEX's paging: restart at LastTimeRetrieved, drop the repeated row.

        One window, not 14-day batches like PEX's Aplos connector: the listing endpoints allow 10 calls an hour
        (cardholders) and 1 a minute (business), so batching would spend the budget; paging covers the row cap.
        """
        self._check_window(start, end)
        cursor = pex_time(datetime.combine(start, datetime.min.time()))
        until = pex_time(datetime.combine(end, datetime.max.time()))  # 23:59:59 Eastern
        rows: dict[int, dict] = {}
        for _ in range(MAX_PAGES):
            data = self._request("GET", path, params={**query, "StartDate": cursor, "EndDate": until})
            if not isinstance(data, dict):
                raise PexUnavailable(None, f"{path} answered without a TransactionList")
            for row in _get(data, "TransactionList") or []:
                rows.setdefault(int(_get(row, "TransactionId")), row)  # the boundary row comes twice
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
        content = _json_body(body) if body is not None else None
        attempt = 0
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
                    wait = _retry_after(response)
                    if status == 429:
                        failure = PexRateLimited(status, text, wait)
                    elif status >= 500 or status == 408:
                        failure = PexUnavailable(status, text)
                    elif status == 401 or (status == 403 and any(p in text.lower() for p in _TOKEN_PROBLEMS)):
                        raise PexAuthError(status, text)
                    else:
                        raise PexError(status, text)
            delay = wait if wait is not None else self.backoff * (2 ** attempt)
            if not retryable or attempt >= self.max_retries or delay > self.MAX_WAIT:
                raise failure
            log.warning("PEX %s %s failed (%s); retry %d of %d in %.1fs",
                        method, path, failure, attempt + 1, self.max_retries, delay)
            self._sleep(delay)
            attempt += 1

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
