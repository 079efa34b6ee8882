"""How the Xero double speaks on the wire: JSON with exact decimals, `/Date(ms+0000)/` dates, Xero's error bodies.

Xero's .NET serialiser keeps a decimal's scale (12.50 stays 12.50) and writes dates as Microsoft JSON dates; the
official SDK parses numbers with `parse_float=Decimal` and dates with a `/Date(…)/` regex, so we write exactly that.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

MONEY = Decimal("0.01")
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{2,4})?\)/$")


def dumps(value) -> str:
    """JSON text with Decimals written as exact numbers (json.dumps would refuse them or go through float)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, datetime)):
        return json.dumps(ms_date(value))
    return json.dumps(value)


def loads(text: bytes | str):
    """Parse a request body the way Xero does: numbers exact (the SDK sends Decimal amounts as JSON floats)."""
    return json.loads(text, parse_float=Decimal)


def ms_date(value: date | datetime) -> str:
    """`/Date(1769817600000+0000)/`: a date is midnight UTC of that day."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        moment = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def ms_now(epoch_seconds: float) -> str:
    return f"/Date({int(epoch_seconds * 1000)}+0000)/"


def iso_date_string(value: date) -> str:
    """Xero's companion `DateString` field."""
    return f"{value.isoformat()}T00:00:00"


def parse_date(value) -> date:
    """Accept every date form a client sends: `/Date(ms)/` (the SDK), ISO date or datetime, a `date`.

    Raises ValueError for anything else.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    match = _MS_DATE.match(value.strip())
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc).date()
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def parse_money(value) -> Decimal:
    """A JSON number (or numeric string) as Decimal; never via float arithmetic."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY)


# ------------------------------------------------------------------------------------------ error bodies


def validation_exception(elements: list[dict]) -> dict:
    """Xero's 400 for invalid elements: only the elements in error, each with its ValidationErrors."""
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }


def query_parse_exception(message: str) -> dict:
    return {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}


def post_data_invalid(message: str) -> dict:
    return {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}


def problem(status: int, title: str, detail: str) -> dict:
    """The problem-details shape Xero's gateway answers 401/403 with."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
