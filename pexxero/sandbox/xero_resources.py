"""The accounting endpoints under /api.xro/2.0: reads with where/order/paging, batch writes with summarizeErrors.

Paths are matched case-insensitively, as Xero matches them. Called with the double's lock held, after auth,
tenant, rate limits and faults have been dealt with.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from pexxero.sandbox.xero_books import MAX_ATTACHMENT_BYTES, Books, Plan
from pexxero.sandbox.xero_where import QueryError, apply_order, compile_order, compile_where
from pexxero.sandbox.xero_wire import dumps, loads, parse_date, post_data_invalid, problem, query_parse_exception, \
    validation_exception

if TYPE_CHECKING:
    from pexxero.sandbox.xero_double import XeroDouble

NOT_FOUND = "The resource you're looking for cannot be found"
MAX_PAGE_SIZE = 1000


def _json(body, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json; charset=utf-8")


def _not_found() -> Response:
    return Response(NOT_FOUND, status_code=404, media_type="text/plain")


def _get(*path: str):
    def getter(record: dict):
        value = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.startswith("/Date("):
            return parse_date(value)
        return value

    return getter


def _guid(*path: str):
    inner = _get(*path)
    return lambda record: (inner(record) or "").lower() or None


# where/order fields each resource accepts (Xero accepts more; these are the ones the connector needs)
BANK_TRANSACTION_FIELDS = {
    "BankTransactionID": _guid("BankTransactionID"), "Reference": _get("Reference"), "Type": _get("Type"),
    "Status": _get("Status"), "Date": _get("Date"), "Total": _get("Total"), "IsReconciled": _get("IsReconciled"),
    "HasAttachments": _get("HasAttachments"), "Url": _get("Url"),
    "BankAccount.AccountID": _guid("BankAccount", "AccountID"), "BankAccount.Code": _get("BankAccount", "Code"),
    "Contact.ContactID": _guid("Contact", "ContactID"), "Contact.Name": _get("Contact", "Name"),
    "UpdatedDateUTC": _get("UpdatedDateUTC"),
}
BANK_TRANSFER_FIELDS = {
    "BankTransferID": _guid("BankTransferID"), "Date": _get("Date"), "Amount": _get("Amount"),
    "Reference": _get("Reference"), "Status": _get("Status"),
    "FromBankAccount.AccountID": _guid("FromBankAccount", "AccountID"),
    "ToBankAccount.AccountID": _guid("ToBankAccount", "AccountID"),
    "FromBankAccount.Code": _get("FromBankAccount", "Code"), "ToBankAccount.Code": _get("ToBankAccount", "Code"),
    "CreatedDateUTC": _get("CreatedDateUTC"),
}
CONTACT_FIELDS = {"ContactID": _guid("ContactID"), "Name": _get("Name"), "ContactStatus": _get("ContactStatus"),
                  "UpdatedDateUTC": _get("UpdatedDateUTC")}
ACCOUNT_FIELDS = {"AccountID": _guid("AccountID"), "Code": _get("Code"), "Name": _get("Name"), "Type": _get("Type"),
                  "Status": _get("Status"), "Class": _get("Class"), "BankAccountType": _get("BankAccountType"),
                  "CurrencyCode": _get("CurrencyCode")}
TRACKING_FIELDS = {"TrackingCategoryID": _guid("TrackingCategoryID"), "Name": _get("Name"), "Status": _get("Status")}


class Resources:
    def __init__(self, double: "XeroDouble"):
        self.double = double

    def handle(self, request: Request, body: bytes, books: Books) -> Response:
        parts = [unquote(p) for p in request.path_params["rest"].split("/") if p]
        names = [p.lower() for p in parts]
        query = {k.lower(): v for k, v in request.query_params.items()}
        method = request.method
        try:
            return self._route(request, method, parts, names, query, body, books)
        except QueryError as error:
            return _json(query_parse_exception(str(error)), 400)

    def _route(self, request, method, parts, names, query, body, books: Books) -> Response:
        if not names:
            return _not_found()
        head, rest = names[0], parts[1:]
        if head == "organisation" and not rest and method == "GET":
            return _json(self.double.envelope("Organisations", [books.organisation_record()]))
        if head == "accounts" and method == "GET":
            accounts = [a for a in books.accounts if not rest or a["AccountID"] == rest[0].lower()]
            if rest and not accounts:
                return _not_found()
            return self._list(request, query, "Accounts", accounts, ACCOUNT_FIELDS, "Account", pageable=False)
        if head == "trackingcategories" and method == "GET" and not rest:
            return self._tracking(request, query, books)
        if head == "contacts":
            return self._contacts(request, method, rest, query, body, books)
        if head == "banktransactions":
            return self._bank_transactions(request, method, rest, names[1:], query, body, books)
        if head == "banktransfers":
            if method == "GET":
                records = list(books.bank_transfers.values())
                if rest:
                    records = [r for r in records if r["BankTransferID"] == rest[0].lower()]
                    if not records:
                        return _not_found()
                elif query.get("includedeleted", "").lower() != "true":  # as Xero: deleted ones only when asked
                    records = [r for r in records if r.get("Status") != "DELETED"]
                return self._list(request, query, "BankTransfers", records, BANK_TRANSFER_FIELDS, "BankTransfer",
                                  pageable=False)
            if method == "PUT" and not rest:
                return self._write(query, body, "BankTransfers", books.plan_bank_transfer, books.commit_bank_transfer)
            if method == "POST" and not rest:
                from pexxero.sandbox.xero_deletions import commit_transfer_deletion, plan_transfer_deletion

                return self._write(query, body, "BankTransfers", lambda e: plan_transfer_deletion(books, e),
                                   lambda p: commit_transfer_deletion(books, p))
        return _not_found()

    # ------------------------------------------------------------------------------------------- reads

    def _list(self, request: Request, query: dict, key: str, records: list[dict], fields: dict, entity: str, *,
              pageable: bool, strip_lines_unpaged: bool = False) -> Response:
        """where, order, If-Modified-Since and (when asked for) page/pageSize with a `pagination` block."""
        if query.get("where"):
            predicate = compile_where(query["where"], fields, entity)
            records = [r for r in records if predicate(r)]
        if query.get("references") and "Reference" in fields:  # References=PEX-1,PEX-2 (exact, any case)
            wanted = {ref.strip().casefold() for ref in query["references"].split(",") if ref.strip()}
            records = [r for r in records if (r.get("Reference") or "").casefold() in wanted]
        since = request.headers.get("if-modified-since")
        if since and "UpdatedDateUTC" in fields:
            try:
                moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                moment = None
            if moment is not None:
                moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
                cutoff = int(moment.timestamp() * 1000)
                records = [r for r in records if _ms(r.get("UpdatedDateUTC")) > cutoff]
        if query.get("order"):
            records = apply_order(records, compile_order(query["order"], fields, entity))
        extra = {}
        paged = pageable and ("page" in query or "pagesize" in query)
        if paged:
            try:
                page = max(1, int(query.get("page", "1")))
                size = min(MAX_PAGE_SIZE, max(1, int(query.get("pagesize", "100"))))
            except ValueError:
                raise QueryError("page and pageSize must be whole numbers") from None
            count = len(records)
            extra["pagination"] = {"page": page, "pageSize": size, "pageCount": math.ceil(count / size),
                                   "itemCount": count}
            records = records[(page - 1) * size: page * size]
        out = copy.deepcopy(records)
        if strip_lines_unpaged and not paged:
            for record in out:  # Xero leaves line items out of an unpaged list (the SDK needs the key)
                record["LineItems"] = []
        return _json(self.double.envelope(key, out, **extra))

    def _tracking(self, request, query, books: Books) -> Response:
        include_archived = query.get("includearchived", "").lower() == "true"
        categories = []
        for category in books.tracking:
            if category["Status"] != "ACTIVE" and not include_archived:
                continue
            category = copy.deepcopy(category)
            if not include_archived:
                category["Options"] = [o for o in category["Options"] if o["Status"] == "ACTIVE"]
            categories.append(category)
        return self._list(request, query, "TrackingCategories", categories, TRACKING_FIELDS, "TrackingCategory",
                          pageable=False)

    # ------------------------------------------------------------------------------------------ writes

    def _write(self, query: dict, body: bytes, key: str, plan: Callable[[dict], Plan],
               commit: Callable[[Plan], dict], *, force: dict | None = None) -> Response:
        """A batch write: summarizeErrors=true (default) is all-or-nothing, false commits the valid elements."""
        try:
            payload = loads(body or b"{}")
        except ValueError as error:
            return _json(post_data_invalid(f"JSON for post data was invalid,{error}"), 400)
        elements = payload.get(key) if isinstance(payload, dict) and key in payload else [payload]
        if not isinstance(elements, list) or not elements or elements == [{}]:
            return _json(post_data_invalid(f"No {key} were provided in the request."), 400)
        if force:
            elements = [{**e, **force} if isinstance(e, dict) else e for e in elements]
        summarize = query.get("summarizeerrors", "true").lower() != "false"
        plans = [plan(e) for e in elements]
        if summarize and any(p.errors for p in plans):
            return _json(validation_exception([_echo(p) for p in plans if p.errors]), 400)
        results = []
        for p in plans:
            if p.errors:
                results.append({**_echo(p), "StatusAttributeString": "ERROR"})
            else:
                results.append({**commit(p), "StatusAttributeString": "OK"})
        return _json(self.double.envelope(key, results))

    # ---------------------------------------------------------------------------------------- contacts

    def _contacts(self, request, method, rest, query, body, books: Books) -> Response:
        if method == "GET":
            records = books.contacts
            if rest:
                records = [c for c in records if c["ContactID"] == rest[0].lower()]
                if not records:
                    return _not_found()
            elif query.get("includearchived", "").lower() != "true":
                records = [c for c in records if c["ContactStatus"] != "ARCHIVED"]
            return self._list(request, query, "Contacts", records, CONTACT_FIELDS, "Contact", pageable=True)
        if method in ("PUT", "POST") and len(rest) <= 1:
            names: set[str] = set()
            force = {"ContactID": rest[0]} if rest else None
            return self._write(query, body, "Contacts", lambda e: books.plan_contact(e, names), books.commit_contact,
                               force=force)
        return _not_found()

    # ------------------------------------------------------------------------------- bank transactions

    def _bank_transactions(self, request, method, rest, names, query, body, books: Books) -> Response:
        if not rest:
            if method == "GET":
                return self._list(request, query, "BankTransactions", list(books.bank_transactions.values()),
                                  BANK_TRANSACTION_FIELDS, "BankTransaction", pageable=True, strip_lines_unpaged=True)
            if method in ("PUT", "POST"):
                return self._write(query, body, "BankTransactions", books.plan_bank_transaction,
                                   books.commit_bank_transaction)
            return _not_found()
        record = books.bank_transactions.get(rest[0].lower())
        if len(rest) == 1:
            if method == "GET":
                if record is None:
                    return _not_found()
                return _json(self.double.envelope("BankTransactions", [copy.deepcopy(record)]))
            if method == "POST":
                return self._write(query, body, "BankTransactions", books.plan_bank_transaction,
                                   books.commit_bank_transaction, force={"BankTransactionID": rest[0]})
            return _not_found()
        if record is None or names[1] != "attachments":
            return _not_found()
        files = books.attachments.get(record["BankTransactionID"], [])
        if len(rest) == 2 and method == "GET":
            return _json({"Attachments": [_public(a) for a in files]})
        if len(rest) != 3:
            return _not_found()
        file_name = rest[2]
        if method == "GET":
            found = next((a for a in files if a["FileName"].casefold() == file_name.casefold()), None)
            if found is None:
                return _not_found()
            return Response(found["Content"], media_type=found["MimeType"])
        if method in ("PUT", "POST"):
            if len(body) > MAX_ATTACHMENT_BYTES:  # refused at Xero's gateway, in its problem shape
                return _json(problem(413, "RequestEntityTooLarge", "PayloadTooLarge"), 413)
            content_type = request.headers.get("content-type", "application/octet-stream")
            result = books.put_attachment(record["BankTransactionID"], file_name, content_type, body, self.double.url)
            if isinstance(result, str):
                return _json(validation_exception([{"FileName": file_name,
                                                    "ValidationErrors": [{"Message": result}]}]), 400)
            return _json({"Attachments": [_public(result)]})
        return _not_found()


def _public(attachment: dict) -> dict:
    return {k: v for k, v in attachment.items() if k != "Content"}


def _echo(plan: Plan) -> dict:
    element = copy.deepcopy(plan.element) if isinstance(plan.element, dict) else {"Element": plan.element}
    element["ValidationErrors"] = [{"Message": m} for m in plan.errors]
    return element


def _ms(value) -> int:
    if isinstance(value, str) and value.startswith("/Date("):
        return int(value[6:].split(")")[0].split("+")[0].split("-")[0] or 0)
    return 0
