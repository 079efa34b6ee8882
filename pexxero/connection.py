"""The engine's front door: one connection (a database, its credentials and setup) and what it can do.

The dashboard pages, the command line and a notebook all go through `open_connection(db_path)`; nothing here
knows about any of them. Data flows one way: PEX (cached locally) + setup -> mapping -> diff -> preview -> sync.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from pexxero import mapping, reconcile
from pexxero.clients.endpoints import Endpoints
from pexxero.clients.pex import eastern_today as today_eastern  # today on PEX's clock (US Eastern)
from pexxero.errors import NotConnected
from pexxero.connection_runs import ConnectionRuns
from pexxero.local_pex import LocalPexCopy
from pexxero.models import ReferenceData
from pexxero.ports import PexPort, XeroPort
from pexxero.preview import Preview
from pexxero.secrets import read_secrets_file
from pexxero.setup import CONTACT_NAME_MAX, TENANT_ID_MAX, Setup
from pexxero.store import Store, default_db_path

XERO_MARGIN_DAYS = 7  # read Xero a little beyond the range: a record may have been dated a few days off


def xero_app_credentials(secrets_path: Optional[Path] = None) -> tuple[str, str]:
    """The Xero app's client id and secret: environment first, else `.streamlit/secrets.toml` [xero]."""
    client_id = os.environ.get("XERO_CLIENT_ID", "")
    client_secret = os.environ.get("XERO_CLIENT_SECRET", "")
    if client_id and client_secret:
        return client_id, client_secret
    section = read_secrets_file(secrets_path).get("xero", {})
    return client_id or section.get("client_id", ""), client_secret or section.get("client_secret", "")


@dataclass
class Connection(LocalPexCopy, ConnectionRuns):
    store: Store
    connection_id: int
    endpoints: Endpoints = field(default_factory=Endpoints.from_env)
    # seams for tests: build the clients differently
    pex_factory: Optional[Callable[["Connection"], PexPort]] = None
    xero_factory: Optional[Callable[["Connection"], XeroPort]] = None
    _pex: Optional[PexPort] = field(default=None, init=False, repr=False)
    _xero: Optional[XeroPort] = field(default=None, init=False, repr=False)
    # the organisation held by `pinned_tenant()` for a preview or a sync ("" when none is held)
    _tenant_override: str = field(default="", init=False, repr=False)
    # the day's budget: (gateway, its call count) when the calls were last added to today's count
    budget_mark: Optional[tuple] = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------------------- credentials

    def pex_connected(self) -> bool:
        return bool((self.store.load_credentials(self.connection_id, "pex") or {}).get("token"))

    def xero_connected(self) -> bool:
        return bool((self.store.load_credentials(self.connection_id, "xero") or {}).get("refresh_token"))

    def connect_pex(self, token: str) -> None:
        self.store.save_credentials(self.connection_id, "pex", {"token": token})
        self._pex = None

    def disconnect_pex(self) -> None:
        """Forget the PEX token (one PEX refused is not a connection)."""
        self.store.delete_credentials(self.connection_id, "pex")
        self._pex = None

    def connect_xero(self, token: dict, tenant_id: Optional[str] = None) -> None:
        """Store a Xero token set (from the consent flow or a refresh token alone) and the chosen tenant."""
        value = {k: v for k, v in token.items() if k != "tenant_id"}  # the organisation is kept apart
        value.setdefault("expires_at", 0)  # unknown expiry: the gateway refreshes first
        self.store.new_grant(self.connection_id, value)  # a new sign-in: a grant of its own, others keep theirs
        self._xero = None
        if tenant_id:
            self.choose_tenant(tenant_id)

    def choose_tenant(self, tenant_id: str) -> None:
        """Work on the organisation `tenant_id` from now on. A switch invalidates the saved plan (it was built
        against the other organisation's records); the ledger, releases and intents of each organisation stay
        its own, so switching back finds them again."""
        before = self.tenant_id()
        self.store.set_chosen_tenant(self.connection_id, tenant_id)
        if before != tenant_id:
            self.store.invalidate_plans(self.connection_id)
        self._xero = None

    def disconnect_xero(self) -> None:
        """Revoke the token at Xero (best effort; not when other connections share the grant) and forget it here,
        with the organisation chosen."""
        try:
            if len(self.store.grant_users(self.store.grant_of(self.connection_id) or 0)) <= 1:
                self.xero().revoke()
        except Exception:  # noqa: BLE001 - a dead session cannot be revoked; forgetting it is what matters
            pass
        self.store.delete_credentials(self.connection_id, "xero")
        self.store.set_chosen_tenant(self.connection_id, "")
        self._xero = None

    def tenant_id(self) -> str:
        """The organisation chosen (or held by `pinned_tenant()`); "" when none is."""
        return self._tenant_override or self.store.chosen_tenant(self.connection_id)

    @contextlib.contextmanager
    def pinned_tenant(self, tenant_id: Optional[str] = None) -> Iterator[str]:
        """The organisation chosen now (or `tenant_id`), held for the block: a switch made meanwhile (another
        page, another process) cannot move a preview or a sync to another organisation half-way."""
        saved = self._tenant_override
        self._tenant_override = tenant_id or self.tenant_id()
        if not saved and hasattr(self._xero, "fresh"):  # a new preview or sync reads Xero's lists afresh, once
            self._xero.fresh()
        try:
            yield self._tenant_override
        finally:
            self._tenant_override = saved

    def _names_key(self) -> str:
        return f"xero_tenant_names:{self.connection_id}"

    def _remember_names(self, names: dict[str, str]) -> None:
        known = dict(self.store.meta(self._names_key()) or {})
        fresh = {k: v for k, v in names.items() if k and v}
        if any(known.get(k) != v for k, v in fresh.items()):
            self.store.set_meta(self._names_key(), {**known, **fresh})

    def tenants(self) -> list:
        """The organisations the Xero grant sees (their names are remembered for the page headers and the CLI)."""
        found = list(self.xero().tenants())
        self.store.note_grant_tenants(self.connection_id, [(t.tenant_id, t.tenant_name) for t in found])
        self._remember_names({t.tenant_id: t.tenant_name for t in found})
        return found

    def tenant_name(self, tenant_id: Optional[str] = None, *, lookup: bool = True) -> str:
        """The organisation's name ("" when unknown); asks Xero's connections list once if it is not known yet."""
        tenant_id = self.tenant_id() if tenant_id is None else tenant_id
        if not tenant_id:
            return ""
        name = (self.store.meta(self._names_key()) or {}).get(tenant_id)
        if name is None and lookup and self.xero_connected():
            try:
                self.tenants()
            except Exception:  # noqa: BLE001 - a name is a courtesy: without Xero, the id is shown instead
                return ""
            name = (self.store.meta(self._names_key()) or {}).get(tenant_id)
        return name or ""

    def organisation_label(self, tenant_id: Optional[str] = None, *, lookup: bool = True) -> str:
        """"Name (tenant id)", the id alone when the name is unknown, "" when no organisation is chosen."""
        tenant_id = self.tenant_id() if tenant_id is None else tenant_id
        if not tenant_id:
            return ""
        name = self.tenant_name(tenant_id, lookup=lookup)
        return f"{name} ({tenant_id})" if name else tenant_id

    # ------------------------------------------------------------------------------------ clients

    def pex(self) -> PexPort:
        if self._pex is None:
            if self.pex_factory is not None:
                self._pex = self.pex_factory(self)
            else:
                from pexxero.clients.pex import PexClient

                creds = self.store.load_credentials(self.connection_id, "pex") or {}
                if not creds.get("token"):
                    raise NotConnected("PEX is not connected: add the PEX API token first")
                self._pex = PexClient(creds["token"], base_url=self.endpoints.pex_api_url)
        return self._pex

    def xero(self) -> XeroPort:
        if self._xero is not None and hasattr(self._xero, "tenant_id") and \
                (self._xero.tenant_id or "") != self.tenant_id():
            self._xero = None  # chosen elsewhere since it was built: never talk to the previous organisation
        if self._xero is None:
            if self.xero_factory is not None:
                self._xero = self.xero_factory(self)
            else:
                from pexxero.clients.xero import XeroGateway

                if not self.xero_connected():
                    raise NotConnected("Xero is not connected: connect Xero first")
                client_id, client_secret = xero_app_credentials()
                from pexxero.fleet.limits import limiter_for

                self._xero = XeroGateway(
                    client_id,
                    client_secret,
                    self.store.token_keeper(self.connection_id),
                    self.tenant_id() or None,
                    endpoints=self.endpoints,
                    limiter=limiter_for(self.store.path),  # fleet mode: shared through PostgreSQL
                )
        return self._xero

    def xero_calls(self) -> int:
        """Xero calls this connection's gateway made so far (0 before it exists: building it calls nothing)."""
        return getattr(self._xero, "calls", 0) if self._xero is not None else 0

    def xero_day_remaining(self) -> Optional[int]:
        """Xero's `X-DayLimit-Remaining` in the gateway's latest answer (None before the gateway or an answer)."""
        if self._xero is None or not hasattr(self._xero, "day_remaining"):
            return None
        value = self._xero.day_remaining()
        return None if value is None else int(value)

    def xero_gateway_built(self) -> Optional[XeroPort]:
        """The gateway if this connection built one already (None: nothing was called yet)."""
        return self._xero

    def forget_credentials(self) -> int:
        """Delete the stored PEX and Xero credentials unread (for a lost key: nothing is revoked); returns how
        many were deleted."""
        deleted = self.store.forget_credentials(self.connection_id)
        self.reset_clients()
        return deleted

    def reset_clients(self) -> None:
        """Drop the PEX client and the Xero gateway: the next call builds them again (from the factories, or
        from the stored credentials)."""
        self._pex = None
        self._xero = None

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        """Close the clients and the database."""
        self.close()
        self.store.close()

    def close(self) -> None:
        for client in (self._pex,):
            if client is not None and hasattr(client, "close"):
                client.close()
        self._pex = None
        self._xero = None

    # -------------------------------------------------------------------------------------- setup

    def setup(self) -> Setup:
        setup = self.store.load_setup(self.connection_id)
        if setup is None:
            raise NotConnected("the connector is not set up yet: complete the seven setup steps or import a TOML")
        return setup

    def saved_setup(self) -> Optional[Setup]:
        """The stored setup, or None before the seven steps are saved."""
        return self.store.load_setup(self.connection_id)

    def save_setup(self, setup: Setup) -> None:
        self.store.save_setup(self.connection_id, setup)

    def reference(self, setup: Optional[Setup] = None) -> ReferenceData:
        """Live lists from Xero and PEX that setup is validated against and mapping resolves with."""
        xero = self.xero()
        setup = setup or self.store.load_setup(self.connection_id)
        wanted = set()
        if setup is not None:
            # a name longer than Xero takes is not looked up (validation names the field instead)
            wanted = {n for n in (setup.fees.contact, setup.contacts.single_contact)
                      if n and len(n) <= CONTACT_NAME_MAX}
        return ReferenceData(
            accounts=tuple(xero.accounts()),
            contacts=tuple(xero.contacts(sorted(wanted))) if wanted else (),
            tracking=tuple(xero.tracking_categories()),
            tags=tuple(self.pex().tag_definitions()),
            organisation=xero.organisation(),
        )

    def date_range(self, setup: Setup, today: date) -> tuple[date, date]:
        start = setup.pex.start_date or (today - timedelta(days=30))
        end = setup.pex.end_date or today
        return start, end


    # ------------------------------------------------------------------------------------- preview

    def preview(self, *, today: Optional[date] = None, refresh: bool = True, force_refresh: bool = False,
                full_refresh: bool = False, save_plan: bool = True) -> Preview:
        """Every PEX transaction in range with one status and a reason. Reads Xero; never writes to it.

        `full_refresh` rereads the whole configured range from PEX first (also done by the first preview of a day).
        """
        with self.pinned_tenant() as tenant:
            return self._preview(tenant, today=today, refresh=refresh, force_refresh=force_refresh,
                                 full_refresh=full_refresh, save_plan=save_plan)

    def _preview(self, tenant: str, *, today: Optional[date], refresh: bool, force_refresh: bool,
                 full_refresh: bool, save_plan: bool) -> Preview:
        today = today or today_eastern()
        setup = self.setup()
        if refresh or full_refresh:
            self.refresh_pex(today=today, force=force_refresh, full=full_refresh)
        start, end = self.date_range(setup, today)
        ref = self.reference(setup)
        transactions = self.pex_transactions(start, end)
        results = mapping.plan(transactions, setup, ref, today=today)
        xero = self.xero()
        margin = timedelta(days=XERO_MARGIN_DAYS)
        bank = list(xero.bank_transactions(setup.accounts.pex_cash, start - margin, end + margin))
        transfers = list(xero.bank_transfers(start - margin, end + margin)) if setup.pex.transfers else []
        lock = None
        if ref.organisation is not None:
            locks = [d for d in (ref.organisation.period_lock_date, ref.organisation.end_of_year_lock_date) if d]
            lock = max(locks) if locks else None
        frame = reconcile.reconcile(results, bank, transfers, lock_date=lock, start=start, end=end,
                               pex_cash=setup.accounts.pex_cash)
        name = ref.organisation.name if ref.organisation is not None else ""
        if name:
            self._remember_names({tenant: name})
        built = Preview(frame=frame, built_at=datetime.now(timezone.utc), start=start, end=end,
                        rejected=self.rejected_pex_rows(), tenant_id=tenant,
                        tenant_name=name or self.tenant_name(tenant, lookup=False), lock_date=lock,
                        account_names={a.code: a.name for a in ref.accounts if a.code})
        if save_plan:
            self._save_plan(built)
        return built

    def _save_plan(self, preview: Preview) -> None:
        """Remember what the user was shown: from the dashboard, a sync writes exactly this plan, and only into
        the organisation it was built for."""
        self.store.save_plan(self.connection_id, tenant_id=preview.tenant_id, tenant_name=preview.tenant_name,
                             built_at=preview.built_at, start=preview.start, end=preview.end,
                             items=preview.plan_items())

    def saved_plan(self) -> Optional[dict]:
        """The last preview's plan, if it was built for the organisation chosen now and no switch came since."""
        return self.store.saved_plan(self.connection_id, tenant_id=self.tenant_id())

    def plan_refusal(self) -> str:
        """Why the saved plan may not be synced, in words ("" when there is none, or it is fit to sync)."""
        stamp = self.store.plan_stamp(self.connection_id)
        current = self.tenant_id()
        if stamp is None or (stamp[0] == current and not stamp[2]):
            return ""
        built_id, built_name, _ = stamp
        built_for = built_name or self.tenant_name(built_id, lookup=False) or built_id or "no organisation"
        if not current:
            return f"this preview was built for {built_for}; no Xero organisation is chosen now: pick one on Connect"
        now = self.tenant_name(current) or current
        if built_id == current:
            return (f"this preview was built for {built_for} before the Xero organisation was switched; Xero is now "
                    f"connected to {now}: preview again")
        return f"this preview was built for {built_for}; Xero is now connected to {now}: preview again"

    # ------------------------------------------------------------------------------------ releases

    def release(self, pex_id: int, action: str) -> None:
        """Let the next sync act on a row it otherwise leaves alone: push a possible duplicate, update a changed
        record, or remove a voided row's record from Xero (nothing is ever removed without this)."""
        if action not in ("push", "update", "remove"):
            raise ValueError("action is 'push' (a possible duplicate), 'update' (a changed record) or 'remove' "
                             "(a voided record, from Xero)")
        self.store.release(self.connection_id, pex_id, action, tenant_id=self.tenant_id())

    def release_many(self, actions: dict[int, str]) -> None:
        """`release` for several rows at once: pex_id -> its action (push, update or remove)."""
        for pex_id, action in actions.items():
            self.release(int(pex_id), action)

    def unrelease(self, pex_id: int) -> None:
        self.store.unrelease(self.connection_id, pex_id, tenant_id=self.tenant_id())

    def releases(self) -> dict[int, str]:
        """The rows released for the organisation chosen now."""
        return self.store.releases(self.connection_id, tenant_id=self.tenant_id())


def open_connection(db_path: str | Path | None = None, *, connection: Optional[str] = None, check_key: bool = True,
                    **kwargs) -> Connection:
    """Open (creating if needed) the database and the connection named `connection` (else $PEXXERO_CONNECTION's,
    else the only one; several and none named: workspace.NoConnectionChosen). It refuses to start when credentials
    are stored and their key cannot be found (KeyFileMissing); `check_key=False` opens it anyway, for what needs
    no credentials (the setup's import and export, saving a new PEX token, forgetting unreadable credentials)."""
    path = db_path or default_db_path()
    from pexxero.workspace import resolve_connection_id

    store = Store.open(path)
    try:
        if check_key and store.holds_credentials():  # credentials and no key for them: refuse to start
            store.key_source()
        cid = resolve_connection_id(store, connection)
    except BaseException:
        store.close()
        raise
    return Connection(store=store, connection_id=cid, **kwargs)


def load_reference(store: Store, connection_id: int, setup: Optional[Setup] = None) -> ReferenceData:
    """Live reference data for validating `setup` (used by `config import`)."""
    conn = Connection(store=store, connection_id=connection_id)
    tenant = ""
    if setup is not None and setup.xero.tenant_id and len(setup.xero.tenant_id) <= TENANT_ID_MAX:
        tenant = setup.xero.tenant_id  # (a longer one is refused by validation, never sent)
    with conn.pinned_tenant(tenant or None):
        return conn.reference(setup)
