"""What PEX sends, read into the models of `pexxero.models`, and the errors of talking to PEX.

Everything PEX sends is parsed here, once: money as exact `Decimal`s (JSON is parsed with `parse_float=Decimal`,
so 0.1 stays 0.1), times as naive US-Eastern datetimes, enums as strings. A row that cannot be read is named
(transaction and field) instead of stopping the others. The HTTP client is `pexxero.clients.pex`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Sequence
from zoneinfo import ZoneInfo

from pexxero.errors import PexxeroError
from pexxero.models import (
    AttachmentFile, PexAttachment, PexTransaction, Split, TagDefinition, TagOption, TagValue,
)

EASTERN = ZoneInfo("America/New_York")
PEX_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Enum integers as PEX's .NET SDK numbers them (responses normally carry the strings)
TRANSACTION_TYPES = {-1: "Invalid", 1: "Transfer", 2: "Network", 3: "Load"}
TAG_TYPES = {0: "Text", 1: "YesNo", 2: "Dropdown", 3: "Decimal", 4: "PercentageTax", 5: "AbsoluteTax", 10: "Allocation"}
# inferred: the documented order of the values (no source gives their numbers)
APPROVAL_STATUSES = {0: "NotReviewed", 1: "Ignored", 2: "Approved", 3: "Rejected", 4: "NoReceipt"}
ATTACHMENT_TYPES = {0: "Image", 1: "Pdf"}
UPLOAD_STATUSES = {0: "NotLoaded", 1: "Loaded", 2: "Deleted", 3: "HasMalware", 4: "LoadFailed"}


# -------------------------------------------------------------------------------------------- errors

class PexError(PexxeroError):
    """A PEX call failed. `message` is PEX's own {"Message"} text, or the HTTP reason phrase."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return f"PEX {self.status}: {self.message}" if self.status else f"PEX: {self.message}"


class PexAuthError(PexError):
    """The token was refused (401, or 403 "Token expired or does not exist" and the like): connect PEX again."""


class PexRateLimited(PexError):
    """429 "Usage Limits Exceeded" after the retries. `retry_after` is PEX's Retry-After in seconds, if it sent one."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class PexUnavailable(PexError):
    """PEX could not be reached or kept failing (5xx, dropped connections, timeouts, unreadable bodies)."""


class BadPexRow(PexError):
    """One row PEX sent that cannot be read as it stands; the message names the transaction and the field."""

    def __init__(self, transaction_id: Any, field: str, problem: str) -> None:
        self.transaction_id = transaction_id
        self.field = field
        super().__init__(None, f"transaction {transaction_id}: {field} {problem}")


# ------------------------------------------------------------------------------------------- parsing

def eastern_today() -> date:
    """Today on PEX's clock: PEX keeps its books in US Eastern time (the 365-day limit counts from this day)."""
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
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, (bool, dict, list)) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value).strip())  # str() first: a float's shortest repr, never its binary expansion
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


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
    """The split document of an Allocation tag value (a JSON string or an object), or None for an ordinary value.

    Text like "{not json" is an ordinary text tag; but text that starts like an object, names an Allocation and
    does not parse is a split PEX sent broken: ValueError, so the transaction is held back instead of being
    booked whole with the broken text as a tag value.
    """
    doc = value
    if isinstance(value, str):
        if not value.lstrip().startswith("{"):
            return None
        try:
            doc = json.loads(value, parse_float=Decimal)
        except ValueError:
            if "allocation" in value.casefold():
                raise ValueError("holds a split whose JSON cannot be read") from None
            return None
    if isinstance(doc, dict) and _get(doc, "Allocation") is not None:
        return doc
    return None


def parse_tags(raw: Any, transaction_id: Any = None) -> tuple[tuple[TagValue, ...], tuple[Split, ...]]:
    """`TransactionTags` -> (ordinary tags, allocation splits). Split amounts are unsigned, as PEX keeps them.

    Raises BadPexRow (field "TransactionTags") for a shape that cannot be tags or a split that cannot be read.
    """
    if raw is None or raw == "":
        return (), ()
    if not isinstance(raw, dict):
        raise BadPexRow(transaction_id, "TransactionTags", f"is {_kind(raw)}, not an object with Tags")
    entries = _get(raw, "Tags") or []
    if not isinstance(entries, list):
        raise BadPexRow(transaction_id, "TransactionTags", f"has Tags that are {_kind(entries)}, not a list")
    tags: list[TagValue] = []
    splits: list[Split] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise BadPexRow(transaction_id, "TransactionTags", f"tag {number} is {_kind(entry)}, not an object")
        label = str(_get(entry, "Name") or _get(entry, "FieldId") or number)
        value = _get(entry, "Value")
        try:
            doc = _allocation(value)
        except ValueError as exc:
            raise BadPexRow(transaction_id, f"tag {label}", str(exc)) from None
        if doc is None:
            tags.append(TagValue(str(_get(entry, "FieldId") or ""), str(_get(entry, "Name") or ""), _tag_text(value)))
            continue
        amount = _get(doc, "Amount")
        if amount in (None, ""):
            raise BadPexRow(transaction_id, f"tag {label}", "holds a split without an Amount")
        try:
            split_amount = abs(to_decimal(amount))
        except ValueError:
            raise BadPexRow(transaction_id, f"tag {label}", f"holds a split whose Amount {amount!r} is not a number") \
                from None
        items = _get(doc, "Allocation")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise BadPexRow(transaction_id, f"tag {label}", "holds a split whose Allocation is not a list of tags")
        split_tags = tuple(
            TagValue(str(_get(item, "TagId") or ""), "", _tag_text(_get(item, "Value")))  # names: from the definitions
            for item in items
            if _get(item, "Value") is not None
        )
        splits.append(Split(amount=split_amount, tags=split_tags))
    return tuple(tags), tuple(splits)


def _kind(value: Any) -> str:
    """How an unexpected JSON value is named in a message."""
    if value is None:
        return "null"
    return {bool: "a true/false", int: "a number", float: "a number", Decimal: "a number", str: "text",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


# Each reader takes (value, transaction_id, field) and raises BadPexRow naming the field when PEX sent
# something that is not what the field holds. Missing optional fields read as their empty value.

def _read_id(value: Any, transaction_id: Any, name: str) -> int:
    if isinstance(value, bool) or value in (None, ""):
        raise BadPexRow(transaction_id, name, "is missing" if value in (None, "") else f"is {_kind(value)}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if isinstance(value, (str, Decimal)) and text.lstrip("-").isdigit():
        return int(text)
    raise BadPexRow(transaction_id, name, f"{value!r} is not a whole number")


def _read_optional_id(value: Any, transaction_id: Any, name: str) -> Optional[int]:
    if value in (None, "", 0):
        return None
    return _read_id(value, transaction_id, name)


def _read_text(value: Any, transaction_id: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise BadPexRow(transaction_id, name, f"is {_kind(value)}, not text")


def _read_flag(value: Any, transaction_id: Any, name: str) -> bool:
    """true/false as PEX sends it; "false" as text must not read as true, so only known spellings pass."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise BadPexRow(transaction_id, name, f"{value!r} is not true or false")


def _read_amount(value: Any, transaction_id: Any, name: str) -> Decimal:
    if value is None or value == "":
        raise BadPexRow(transaction_id, name, "is missing")
    try:
        return to_decimal(value)
    except ValueError:
        raise BadPexRow(transaction_id, name, f"{value!r} is not an amount") from None


def _read_time(value: Any, transaction_id: Any, name: str) -> Optional[datetime]:
    if value is not None and not isinstance(value, str):
        raise BadPexRow(transaction_id, name, f"is {_kind(value)}, not a date and time")
    try:
        return parse_pex_time(value)
    except ValueError:
        raise BadPexRow(transaction_id, name, f"{value!r} is not a date and time (yyyy-MM-ddTHH:mm:ss)") from None


def parse_transaction(row: dict, ledger: str) -> PexTransaction:
    """One row of AllCardholderTransactions ("cardholder") or TransactionDetails ("business").

    Strict: raises BadPexRow naming the transaction and the field when any field is not what PEX documents.
    `read_rows` turns such rows into blocked placeholders instead, so one bad row does not stop the rest.
    """
    if not isinstance(row, dict):
        raise BadPexRow("?", "row", f"is {_kind(row)}, not an object")
    transaction_id = _read_id(_get(row, "TransactionId"), "without an id", "TransactionId")

    def read(reader, key):
        return reader(_get(row, key), transaction_id, key)

    tags, splits = parse_tags(_get(row, "TransactionTags"), transaction_id)
    notes = _get(row, "TransactionNotes") or []
    if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
        raise BadPexRow(transaction_id, "TransactionNotes", "is not a list of notes")
    transaction_time = read(_read_time, "TransactionTime")
    if transaction_time is None:
        raise BadPexRow(transaction_id, "TransactionTime", "is missing")
    approval = _enum(read(_read_text, "MetadataApprovalStatus") or None, APPROVAL_STATUSES).replace(" ", "")
    return PexTransaction(
        transaction_id=transaction_id,
        acct_id=read(_read_optional_id, "AcctId") or 0,
        ledger=ledger,
        transaction_type=_enum(read(_read_text, "TransactionType") or None, TRANSACTION_TYPES),
        category=read(_read_text, "TransactionTypeCategory"),
        amount=read(_read_amount, "TransactionAmount"),
        transaction_time=transaction_time,
        settlement_time=read(_read_time, "SettlementTime"),
        description=read(_read_text, "Description"),
        merchant_name=read(_read_text, "MerchantName"),
        merchant_name_normalized=read(_read_text, "MerchantNameNormalized"),
        is_pending=read(_read_flag, "IsPending"),
        is_decline=read(_read_flag, "IsDecline"),
        approval_status=approval or "NotReviewed",
        auth_transaction_id=read(_read_optional_id, "AuthTransactionId"),
        tags=tags,
        splits=splits,
        notes=tuple(_read_text(_get(n, "NoteText"), transaction_id, "NoteText") for n in notes),
    )


def read_rows(rows: Sequence[Any], ledger: str, fallback_time: datetime) -> tuple[list[PexTransaction], list[str]]:
    """Parse a page of rows without letting one bad row stop the others.

    A row with a usable TransactionId but a bad field becomes a placeholder whose `problem` names the field:
    mapping blocks it, so it shows in the preview and nothing is booked from half-read data. A row without a
    usable TransactionId cannot be shown, matched or synced: it is skipped and described in the second list.
    `fallback_time` dates a placeholder whose own times are unreadable (PEX returned it for this window).
    """
    parsed: list[PexTransaction] = []
    rejected: list[str] = []
    for number, row in enumerate(rows, start=1):
        try:
            parsed.append(parse_transaction(row, ledger))
        except BadPexRow as bad:
            if not isinstance(row, dict) or bad.field == "TransactionId":
                rejected.append(f"{ledger} ledger row {number} skipped: {_describe(row)}: {bad.message}")
            else:
                parsed.append(_placeholder(row, ledger, bad, fallback_time))
    return parsed, rejected


def _describe(row: Any) -> str:
    """A short, secret-free picture of an unidentifiable row, so the user can find it in PEX."""
    if not isinstance(row, dict):
        return f"{_kind(row)}"
    parts = [f"{k} {_get(row, k)!r}" for k in ("TransactionTime", "TransactionAmount", "Description")
             if _get(row, k) not in (None, "")]
    return ", ".join(parts) or "no time, amount or description"


def _placeholder(row: dict, ledger: str, bad: BadPexRow, fallback_time: datetime) -> PexTransaction:
    """What can be read of a bad row, every field read leniently, with the problem that blocks it."""
    def lenient(reader, key, default):
        try:
            value = reader(_get(row, key), bad.transaction_id, key)
        except BadPexRow:
            return default
        return default if value is None else value

    settlement = lenient(_read_time, "SettlementTime", None)
    return PexTransaction(
        transaction_id=int(bad.transaction_id),
        acct_id=lenient(_read_optional_id, "AcctId", 0),
        ledger=ledger,
        transaction_type=_enum(lenient(_read_text, "TransactionType", "") or None, TRANSACTION_TYPES),
        category=lenient(_read_text, "TransactionTypeCategory", ""),
        amount=lenient(_read_amount, "TransactionAmount", Decimal("0")),
        transaction_time=lenient(_read_time, "TransactionTime", None) or settlement or fallback_time,
        settlement_time=settlement,
        description=lenient(_read_text, "Description", ""),
        merchant_name=lenient(_read_text, "MerchantName", ""),
        merchant_name_normalized=lenient(_read_text, "MerchantNameNormalized", ""),
        is_pending=lenient(_read_flag, "IsPending", False),
        is_decline=lenient(_read_flag, "IsDecline", False),
        problem=str(bad.message),
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
