"""The Xero gateway: every call the connector makes to Xero, over the official xero-python SDK.

Callers get our own models (`pexxero.models`), never SDK objects. Each call runs inside the client-side
limiter, with a fresh access token, a request timeout, and retries: 429 waits for `Retry-After`, 5xx, dropped
connections, timeouts and unreadable bodies back off and try again, and a write is always resent with the same
`Idempotency-Key`, so Xero answers a resend of something it already committed with the original result.
The conversions between our records and the SDK's objects are in `pexxero.clients.xero_models`.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any, Callable, Optional, Sequence

import certifi
import urllib3
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.identity import IdentityApi

from pexxero.clients.endpoints import Endpoints
from pexxero.models import (XeroAccount, XeroBankTransaction, XeroBankTransfer, XeroContact, XeroOrganisation,
                            XeroTenant, XeroTrackingCategory)
from pexxero.clients.xero_calls import (
    DAILY_CALLS,
    MAX_RATE_WAIT,
    STARTER_DAILY_CALLS,
    CallLimiter,
    Limiter,
    shared_limiter,
    CallRunner,
    Refused,
    XeroDailyLimit,
    XeroError,
    XeroSessionFailed,
    XeroUnavailable,
    daily_allowance,
    validation_messages,
)
from pexxero.clients.xero_models import (
    WriteResult, account, bank_transaction, bank_transfer, contact, element_results, is_transfer_view, organisation,
    sdk_model, tenant, tracking_category,
)
from pexxero.clients.xero_tokens import MemoryTokenKeeper, TokenKeeper, TokenManager
from pexxero.clients.xero_reports import XeroReports
from pexxero.clients.xero_writes import BATCH_LIMIT, XeroWrites

__all__ = [
    "XeroError", "XeroSessionFailed", "XeroDailyLimit", "XeroUnavailable", "TokenKeeper", "MemoryTokenKeeper",
    "WriteResult", "XeroGateway", "BATCH_LIMIT", "PAGE_SIZE", "DAILY_CALLS", "STARTER_DAILY_CALLS", "daily_allowance",
]

# the largest page Xero serves on its paged lists (BankTransactions, Contacts; BankTransfers, Accounts and
# TrackingCategories are not paged and come whole): 1,000 records a page instead of the default 100
PAGE_SIZE = 1000
WHERE_CHUNK = 25  # OR-ed names or references per GET: keeps the URL short
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read (seconds)


class _TimedApiClient(ApiClient):
    """ApiClient that always passes a request timeout.

    SDK quirks worked around here: TokenApi calls `call_api` without `_request_timeout` (a hung identity
    server would hang us forever), and rest.py silently drops a float timeout (only int or a 2-tuple count).
    """

    request_timeout: tuple[float, float] = DEFAULT_TIMEOUT

    def call_api(self, *args, **kwargs):
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = self.request_timeout
        return super().call_api(*args, **kwargs)


class XeroGateway(XeroWrites, XeroReports):
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        keeper: TokenKeeper,
        tenant_id: str | None = None,
        *,
        endpoints: Endpoints | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        minute_limit: int = 60,
        concurrent_limit: int = 5,
        max_retries: int = 5,
        max_rate_wait: float = MAX_RATE_WAIT,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        limiter: Optional[Limiter] = None,
    ):
        self.tenant_id = tenant_id
        self.endpoints = endpoints or Endpoints.from_env()
        self._accounts_by_code: dict[str, XeroAccount] = {}
        # the reference lists, read once and kept until `fresh()` (see there); our own writes update them
        self._memo_lock = threading.RLock()
        self._memo: dict[str, Any] = {}
        self._contacts_by_name: dict[str, list[XeroContact]] = {}  # casefolded name -> Xero's contacts of it

        # SDK quirk: Configuration() hands out copies of one process-wide default and ignores constructor
        # arguments after the first call, so everything is set on our copy after construction.
        config = Configuration()
        config.oauth2_token = OAuth2Token(client_id=client_id, client_secret=client_secret)
        self._api_client = _TimedApiClient(config)
        self._api_client.request_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        # our own pool: urllib3's default retries would silently resend on a dropped connection, hiding the
        # failure from our retry loop and from `calls`; the SDK offers no way to pass `retries`
        self._api_client.rest_client.pool_manager = urllib3.PoolManager(
            num_pools=4, maxsize=max(4, concurrent_limit), cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
            retries=False,
        )
        self._tokens = TokenManager(
            self._api_client, client_id, client_secret, keeper, self.endpoints,
            clock=clock, sleep=sleep, max_retries=max_retries,
        )
        self._api_client.oauth2_token_getter(self._tokens.sdk_token)
        self._api_client.oauth2_token_saver(lambda token: None)  # never called: the SDK never sees an expiry
        # fleet mode installs a limiter shared through PostgreSQL; otherwise the counts live in this gateway
        limiter = limiter or shared_limiter() or CallLimiter(minute_limit, concurrent_limit, clock=clock, sleep=sleep)
        self._runner = CallRunner(self._tokens, limiter,
                                  clock=clock, sleep=sleep, max_retries=max_retries, max_rate_wait=max_rate_wait)
        self._accounting = AccountingApi(self._api_client, base_url=self.endpoints.xero_api_url)
        self._identity = IdentityApi(self._api_client, base_url=self.endpoints.xero_connections_url)

    @property
    def calls(self) -> int:
        """API calls made, retries included (token endpoint calls are counted in `refreshes`)."""
        return self._runner.calls

    @property
    def limits(self) -> dict[str, int]:
        """The last X-DayLimit-Remaining / X-MinLimit-Remaining / X-AppMinLimit-Remaining values seen."""
        return self._runner.limits

    def day_remaining(self) -> Optional[int]:
        """The calls Xero last said are left today for this organisation (`X-DayLimit-Remaining` of the latest
        answer from it); None before any answer carried the header."""
        return self._runner.remaining(self.tenant_id or "", "X-DayLimit-Remaining")

    def minute_remaining(self) -> Optional[int]:
        """The calls Xero last said are left in the current minute for this organisation (`X-MinLimit-Remaining`)."""
        return self._runner.remaining(self.tenant_id or "", "X-MinLimit-Remaining")

    @property
    def refreshes(self) -> int:
        return self._tokens.refreshes

    # ------------------------------------------------------------------------------------ the memo

    def fresh(self) -> None:
        """Forget the reference lists read so far: the next read of each asks Xero again.

        Organisation, Accounts, TrackingCategories, the contacts looked up by name (and the whole list) and the
        connections list are read once and then served from memory, so the tag sync, the plan and the contact
        check of one sync share one read of each. Our own writes keep them true (created contacts are added as
        Xero answered them). Each preview and each sync starts with `fresh()`, so what changed in Xero since the
        last one is seen.
        """
        with self._memo_lock:
            self._memo.clear()
            self._contacts_by_name.clear()
            self._accounts_by_code = {}

    def _memoised(self, name: str, read: Callable[[], Any]) -> Any:
        with self._memo_lock:
            if name in self._memo:
                return self._memo[name]
        value = read()
        with self._memo_lock:
            return self._memo.setdefault(name, value)

    # ------------------------------------------------------------------------------------ tokens

    def refresh(self) -> None:
        """Force a refresh now (normally automatic)."""
        self._tokens.refresh(force=True)

    def revoke(self) -> None:
        """Disconnect: revoke the refresh token at Xero and forget the token set."""
        self._tokens.revoke()
        self.fresh()

    # ------------------------------------------------------------------------------------ reads

    def tenants(self) -> list[XeroTenant]:
        def read():
            data = self._send(self._identity.get_connections, tenant=False)
            return tuple(tenant(c) for c in self._model("list[Connection]", data, self._identity))

        return list(self._memoised("tenants", read))

    def organisation(self) -> XeroOrganisation:
        def read():
            orgs = self._model("Organisations", self._send(self._accounting.get_organisations)).organisations or []
            if not orgs:
                raise XeroError("Xero returned no organisation for this tenant")
            return organisation(orgs[0])

        return self._memoised("organisation", read)

    def accounts(self) -> list[XeroAccount]:
        def read():
            found = self._model("Accounts", self._send(self._accounting.get_accounts)).accounts or []
            return tuple(account(a) for a in found)

        accounts = self._memoised("accounts", read)
        with self._memo_lock:
            if not self._accounts_by_code:
                self._accounts_by_code = {a.code: a for a in accounts if a.code}
        return list(accounts)

    def contacts(self, names: Sequence[str] | None = None) -> list[XeroContact]:
        """Contacts with these names (archived included, so a name in use is never created twice), or all.

        A name looked up once is not asked again until `fresh()`: neither one Xero has (its contacts are kept)
        nor one it has not (kept as none, until we create it)."""
        if names is None:
            def read():
                pages = self._pages(self._accounting.get_contacts, "Contacts", "contacts", include_archived=True)
                return tuple(contact(c) for c in pages)

            return list(self._memoised("contacts", read))
        wanted = list(dict.fromkeys(n for n in names if n))
        with self._memo_lock:
            unknown = [n for n in wanted if n.casefold() not in self._contacts_by_name]
        if unknown:
            found = [
                contact(c)
                for where in _or_filters("Name", unknown)
                for c in self._pages(self._accounting.get_contacts, "Contacts", "contacts", where=where,
                                     include_archived=True)
            ]
            with self._memo_lock:
                for name in unknown:
                    self._contacts_by_name[name.casefold()] = []
                for c in found:
                    if c.name.casefold() in self._contacts_by_name:
                        known = self._contacts_by_name[c.name.casefold()]
                        if c not in known:
                            known.append(c)
        with self._memo_lock:
            seen: dict[str, XeroContact] = {}
            for name in wanted:
                for c in self._contacts_by_name.get(name.casefold(), ()):
                    seen.setdefault(c.contact_id or c.name, c)
            return list(seen.values())

    def tracking_categories(self) -> list[XeroTrackingCategory]:
        def read():
            data = self._send(self._accounting.get_tracking_categories, include_archived=True)
            return tuple(tracking_category(c)
                         for c in self._model("TrackingCategories", data).tracking_categories or [])

        return list(self._memoised("tracking", read))

    def bank_transactions(self, bank_account_code: str, start: date, end: date) -> list[XeroBankTransaction]:
        """Every bank transaction on one bank account between two dates (inclusive), all pages."""
        where = f'BankAccount.Code=={_quote(bank_account_code)} AND {_date_range(start, end)}'
        found = self._pages(self._accounting.get_bank_transactions, "BankTransactions", "bank_transactions",
                            where=where)
        return [bank_transaction(t) for t in found if not is_transfer_view(t)]

    def bank_transactions_by_reference(self, references: Sequence[str]) -> list[XeroBankTransaction]:
        found = [
            t
            for where in _or_filters("Reference", references)
            for t in self._pages(self._accounting.get_bank_transactions, "BankTransactions", "bank_transactions",
                                 where=where)
        ]
        return [bank_transaction(t) for t in found if not is_transfer_view(t)]

    def bank_transfers(self, start: date, end: date) -> list[XeroBankTransfer]:
        data = self._send(self._accounting.get_bank_transfers, where=_date_range(start, end))
        return [self._bank_transfer(t) for t in self._model("BankTransfers", data).bank_transfers or []]

    def bank_transfers_by_reference(self, references: Sequence[str]) -> list[XeroBankTransfer]:
        found = []
        for where in _or_filters("Reference", references):
            data = self._send(self._accounting.get_bank_transfers, where=where)
            found += self._model("BankTransfers", data).bank_transfers or []
        return [self._bank_transfer(t) for t in found]

    def bank_transactions_by_id(self, ids: Sequence[str]) -> list[XeroBankTransaction]:
        """The bank transactions with these BankTransactionIDs, deleted ones too (Xero lists them, Status DELETED)."""
        found = [t for where in _or_filters("BankTransactionID", ids, guid=True)
                 for t in self._pages(self._accounting.get_bank_transactions, "BankTransactions", "bank_transactions",
                                      where=where)]
        return [bank_transaction(t) for t in found if not is_transfer_view(t)]

    def bank_transfers_by_id(self, ids: Sequence[str]) -> list[XeroBankTransfer]:
        """The bank transfers with these BankTransferIDs, deleted ones too (`includeDeleted`: Xero leaves them out
        otherwise)."""
        found = []
        for where in _or_filters("BankTransferID", ids, guid=True):
            data = self._send(self._accounting.get_bank_transfers, where=where, include_deleted=True)
            found += self._model("BankTransfers", data).bank_transfers or []
        return [self._bank_transfer(t) for t in found]

    def attachments(self, bank_transaction_id: str) -> list[str]:
        data = self._send(self._accounting.get_bank_transaction_attachments, bank_transaction_id)
        return [a.file_name or "" for a in self._model("Attachments", data).attachments or []]

    # ------------------------------------------------------------------------------------ answers

    def _bank_transfer(self, t) -> XeroBankTransfer:
        return bank_transfer(t, self._account_code(t.from_bank_account), self._account_code(t.to_bank_account))

    def _account_code(self, account) -> str:
        if account is None:
            return ""
        if account.code:
            return account.code
        if not self._accounts_by_code:
            self.accounts()
        by_id = {a.account_id: a.code for a in self._accounts_by_code.values()}
        return by_id.get(account.account_id or "", "")

    def _results(self, data, model: str, attr: str, references: Sequence[str], id_of,
                 all_or_none: bool = False) -> list[WriteResult]:
        """Per-element results from a write answer, or from the elements of a 400 ValidationException."""
        if isinstance(data, Refused):
            elements = data.body.get("Elements") or []
            if len(elements) != len(references):
                raise self._runner.refusal(data.status, data.body)
            results = []
            for ref, element in zip(references, elements):
                messages = validation_messages(element)
                if not messages and all_or_none:
                    messages = ("Not written: Xero refused the whole request because of other elements",)
                results.append(WriteResult(ref, False, messages=messages or (data.body.get("Message") or "",)))
            return results
        elements = getattr(self._model(model, data), attr) or []
        if len(elements) != len(references):
            raise XeroError(f"Xero answered {len(elements)} elements for {len(references)} sent")
        return element_results(references, elements, id_of)

    def _model(self, type_name: str, data: Any, api=None):
        return sdk_model(type_name, data, (api or self._accounting).get_model_finder())

    def _send(self, method, *args, tenant: bool = True, validation_body: bool = False, **kwargs):
        """One API call for this tenant (or for /connections), with limits, token and retries."""
        if tenant:
            if not self.tenant_id:
                raise XeroError("No Xero organisation chosen: pick one from the connections list first")
            args = (self.tenant_id, *args)
        return self._runner.run(method, args, kwargs, self.tenant_id if tenant else "connections", validation_body)

    def _pages(self, method, model: str, attr: str, **kwargs) -> list:
        found: list = []
        page = 1
        while True:
            data = self._send(method, page=page, page_size=PAGE_SIZE, **kwargs)
            parsed = self._model(model, data)
            items = getattr(parsed, attr) or []
            found += items
            pagination = getattr(parsed, "pagination", None)
            if pagination is not None and pagination.page_count is not None:
                if page >= pagination.page_count:
                    return found
            elif len(items) < PAGE_SIZE:
                return found
            if not items:
                return found
            page += 1


# ---------------------------------------------------------------------------------------- helpers


def _quote(value: str) -> str:
    """A string literal for Xero's `where`: backslashes and double quotes escaped."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _or_filters(field: str, values: Sequence[str], *, guid: bool = False) -> list[str]:
    unique = list(dict.fromkeys(v for v in values if v))
    literal = (lambda v: f"Guid({_quote(v)})") if guid else _quote  # Xero compares ids as Guids, not strings
    return [
        " OR ".join(f"{field}=={literal(v)}" for v in unique[i:i + WHERE_CHUNK])
        for i in range(0, len(unique), WHERE_CHUNK)
    ]


def _date_range(start: date, end: date) -> str:
    return (f"Date>=DateTime({start.year},{start.month:02d},{start.day:02d}) AND "
            f"Date<=DateTime({end.year},{end.month:02d},{end.day:02d})")
