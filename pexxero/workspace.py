"""A workspace: one store holding many connections, each one PEX business paired with one Xero organisation.

The practice's view of its clients: every connection with its last sync, what waits, and its Xero session's health;
adding a connection (optionally starting from another one's setup); a Xero sign-in (a grant) serving several
connections, one per organisation; and SYNC ALL. Pages and the command line reach a connection through here.

This version keeps a shared sign-in as a link in `meta` (the connection whose Xero credentials another one uses)
and runs the syncs of connections other than the first in threads of the calling process: the first connection's
sync stays the detached `python -m pexxero sync` process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from pexxero.connection import Connection, xero_app_credentials
from pexxero.errors import NotConnected, PexxeroError
from pexxero.models import CHANGED, NEW, POSSIBLE_DUPLICATE
from pexxero.setup_toml import from_toml, to_toml
from pexxero.store import DEFAULT_CONNECTION_ID, Store, default_db_path

XERO_GRANT_DAYS = 60  # a Xero refresh token unused for 60 days expires: the sign-in must then be given again
GRANT_KEY = "xero_grant_of:{}"  # meta: connection id -> the connection whose Xero sign-in it uses
PEX_BUSINESS_KEY = "pex_business:{}"  # meta: connection id -> the PEX business name, once known
WAITING = ("new", "possible_duplicate", "changed", "failed")


class NoConnectionChosen(PexxeroError):
    hint = "pick a connection first"


class ConnectionNotFound(PexxeroError):
    hint = "pick one of the workspace's connections"


class ConnectionExists(PexxeroError):
    hint = "choose another name or organisation"


@dataclass(frozen=True)
class ConnectionSummary:
    id: int
    name: str
    pex_business: str
    xero_organisation: str
    tenant_id: str
    set_up: bool
    not_set_up: str  # "" or words like "no PEX token"
    last_run: Optional[dict]  # id, status, started_at, ended_at, written, to_write
    waiting: dict[str, int]  # new, possible_duplicate, changed, failed
    xero_token_age_days: Optional[float]
    xero_days_to_expiry: Optional[float]


@dataclass(frozen=True)
class GrantSummary:
    id: int
    tenants: list[tuple[str, str]]  # (tenant id, organisation name)
    connections: list[str]


@dataclass
class SharedGrantConnection(Connection):
    """A connection whose Xero sign-in may be another connection's (`grant_connection_id`; 0: its own)."""

    grant_connection_id: int = 0

    def __post_init__(self) -> None:
        if self.grant_connection_id and self.xero_factory is None:
            self.xero_factory = _gateway_on(self.grant_connection_id)

    def grant_id(self) -> int:
        return self.grant_connection_id or self.connection_id

    def xero_connected(self) -> bool:
        return bool((self.store.load_credentials(self.grant_id(), "xero") or {}).get("refresh_token"))

    def connect_xero(self, token: dict, tenant_id: Optional[str] = None) -> None:
        """A sign-in of its own replaces the shared one."""
        if self.grant_connection_id:
            self.store.set_meta(GRANT_KEY.format(self.connection_id), None)
            self.grant_connection_id, self.xero_factory = 0, None
        super().connect_xero(token, tenant_id)

    def disconnect_xero(self) -> None:
        """A shared sign-in serves other connections: this one lets go of it without revoking it."""
        if not self.grant_connection_id:
            return super().disconnect_xero()
        self.store.set_meta(GRANT_KEY.format(self.connection_id), None)
        self.store.set_chosen_tenant(self.connection_id, "")
        self.grant_connection_id, self.xero_factory, self._xero = 0, None, None


def _gateway_on(grant_connection_id: int):
    def build(conn: Connection):
        from pexxero.clients.xero import XeroGateway

        if not conn.xero_connected():
            raise NotConnected("Xero is not connected: connect Xero first")
        client_id, client_secret = xero_app_credentials()
        return XeroGateway(client_id, client_secret, conn.store.token_keeper(grant_connection_id),
                           conn.tenant_id() or None, endpoints=conn.endpoints)
    return build


def open_workspace(db: str | Path | None = None) -> "Workspace":
    """Open (creating if needed) the database; it refuses to start when credentials are stored and their key is
    missing, as `open_connection` does."""
    path = Path(db or default_db_path())
    store = Store.open(path)
    if store.holds_credentials():
        store.key_source()
    return Workspace(store, path)


class Workspace:
    def __init__(self, store: Store, path: Path):
        self.store = store
        self.path = path

    # ---------------------------------------------------------------------------------- connections

    def _rows(self) -> list[dict]:
        rows = self.store.connection_rows()
        if not rows:
            self.store.connection_id()  # a new database: its first connection, as the command line makes it
            rows = self.store.connection_rows()
        return rows

    def _row(self, name: str) -> dict:
        for row in self._rows():
            if row["name"] == name:
                return row
        raise ConnectionNotFound(f"there is no connection named {name}")

    def names(self) -> list[str]:
        return [row["name"] for row in self._rows()]

    def connection(self, name: Optional[str] = None) -> SharedGrantConnection:
        rows = self._rows()
        if name is None:
            if len(rows) > 1:
                raise NoConnectionChosen("this workspace holds several connections and none is chosen")
            row = rows[0]
        else:
            row = self._row(name)
        return self._open(row["id"])

    def _open(self, connection_id: int, store: Optional[Store] = None) -> SharedGrantConnection:
        store = store or self.store
        grant = int(store.meta(GRANT_KEY.format(connection_id)) or 0)
        return SharedGrantConnection(store=store, connection_id=connection_id, grant_connection_id=grant)

    def add(self, name: str, *, copy_setup_from: Optional[str] = None) -> int:
        """A new connection; with `copy_setup_from`, that connection's seven steps as its start (the organisation
        is not copied: the new connection picks its own)."""
        name = (name or "").strip()
        if not name:
            raise PexxeroError("a connection needs a name", "type one, e.g. the client's business name")
        if name in self.names():
            raise ConnectionExists(f"a connection named {name} exists already")
        setup = None
        if copy_setup_from:
            setup = self.connection(copy_setup_from).saved_setup()
            if setup is None:
                raise NotConnected(f"{copy_setup_from} has no setup to copy yet",
                                   "save its seven steps first, or add the connection without a copy")
        cid = self.store.add_connection(name)
        if setup is not None:  # through the export format: the same round trip as `config export` / `import`
            self.store.save_setup(cid, from_toml(to_toml(replace(setup, xero=replace(setup.xero, tenant_id="")))))
        return cid

    def rename(self, old: str, new: str) -> None:
        new = (new or "").strip()
        if not new:
            raise PexxeroError("a connection needs a name", "type one")
        if new != old and new in self.names():
            raise ConnectionExists(f"a connection named {new} exists already")
        self.store.rename_connection(self._row(old)["id"], new)

    def remove(self, name: str) -> None:
        row = self._row(name)
        if self.store.running_run(row["id"]) is not None:
            raise PexxeroError(f"{name} is syncing now", "wait for the sync to end, or cancel it")
        self.store.remove_connection(row["id"])

    # ---------------------------------------------------------------------------------- summaries

    def summaries(self) -> list[ConnectionSummary]:
        return [self._summary(row) for row in self._rows()]

    def _summary(self, row: dict) -> ConnectionSummary:
        conn = self._open(row["id"])
        tenant = conn.tenant_id()
        missing = ("no PEX token" if not conn.pex_connected() else
                   "no Xero sign-in" if not conn.xero_connected() else
                   "no Xero organisation chosen" if not tenant else
                   "the seven setup steps are not saved" if conn.saved_setup() is None else "")
        run = self.store.running_run(row["id"]) or self.store.last_finished_run(row["id"])
        last = None if run is None else {k: run.get(k) for k in
                                          ("id", "status", "started_at", "ended_at", "written", "to_write")}
        age = None
        saved = self.store.credentials_updated_at(conn.grant_id(), "xero") if conn.xero_connected() else None
        if saved is not None:
            age = max(0.0, (datetime.now(timezone.utc) - saved).total_seconds() / 86400)
        return ConnectionSummary(
            id=row["id"], name=row["name"], pex_business=self.store.meta(PEX_BUSINESS_KEY.format(row["id"])) or "",
            xero_organisation=conn.tenant_name(lookup=False) if tenant else "", tenant_id=tenant,
            set_up=not missing, not_set_up=missing, last_run=last, waiting=self._waiting(conn, run),
            xero_token_age_days=age, xero_days_to_expiry=None if age is None else XERO_GRANT_DAYS - age,
        )

    def _waiting(self, conn: Connection, run: Optional[dict]) -> dict[str, int]:
        """What the last preview left for a sync, less what a sync wrote since; and what the last run failed."""
        counts = dict.fromkeys(WAITING, 0)
        plan = conn.saved_plan() if conn.tenant_id() else None
        if plan is not None:
            for item in plan["items"]:
                key = {NEW: "new", POSSIBLE_DUPLICATE: "possible_duplicate", CHANGED: "changed"}.get(item["status"])
                if key:
                    counts[key] += 1
            ended = run.get("ended_at") if run else None
            if ended and datetime.fromisoformat(ended) > plan["built_at"]:
                counts["new"] = max(0, counts["new"] - int(run.get("written") or 0))
        if run is not None and run.get("ended_at"):
            counts["failed"] = int(run.get("failed") or 0)
        return counts

    def pex_business(self, name: str) -> str:
        """The connection's PEX business name ("" while it is not known), without asking PEX."""
        return self.store.meta(PEX_BUSINESS_KEY.format(self._row(name)["id"])) or ""

    def remember_pex_business(self, name: str, business: str) -> None:
        self.store.set_meta(PEX_BUSINESS_KEY.format(self._row(name)["id"]), business or None)

    # ---------------------------------------------------------------------------------- grants

    def grants(self) -> list[GrantSummary]:
        """Every Xero sign-in held, with the organisations it sees and the connections that use it."""
        rows = self._rows()
        users: dict[int, list[str]] = {}
        for row in rows:
            users.setdefault(self._open(row["id"]).grant_id(), []).append(row["name"])
        found = []
        for row in rows:
            conn = self._open(row["id"])
            if conn.grant_connection_id or not conn.xero_connected():
                continue
            try:
                tenants = [(t.tenant_id, t.tenant_name) for t in conn.tenants()]
            except Exception:  # noqa: BLE001 - Xero unreachable or the session gone: the names last seen
                tenants = sorted((conn.store.meta(conn._names_key()) or {}).items())
            found.append(GrantSummary(id=row["id"], tenants=tenants, connections=users.get(row["id"], [])))
        return found

    def use_grant(self, name: str, tenant_id: str, grant_id: Optional[int] = None) -> None:
        """Connection `name` works on organisation `tenant_id` through a Xero sign-in already held (no new
        consent). One connection per organisation: another one working on it already is refused."""
        row = self._row(name)
        grants = [g for g in self.grants() if grant_id in (None, g.id) and tenant_id in dict(g.tenants)]
        if not grants:
            raise ConnectionNotFound("no Xero sign-in held here sees that organisation",
                                     "connect Xero for this connection instead")
        for other in self._rows():
            if other["id"] != row["id"] and other["tenant_id"] == tenant_id:
                raise ConnectionExists(f"{other['name']} works on that Xero organisation already")
        grant = grants[0]
        self.store.set_meta(GRANT_KEY.format(row["id"]), None if grant.id == row["id"] else grant.id)
        conn = self._open(row["id"])
        conn._remember_names(dict(grant.tenants))
        conn.choose_tenant(tenant_id)

    # ---------------------------------------------------------------------------------- syncs

    def start(self, name: str, *, retry_failed: bool = False, from_preview: bool = False) -> int:
        """Start one connection's sync in the background and return its run id at once."""
        from pexxero.store import AlreadyRunning
        from pexxero.sync import start_background

        row = self._row(name)
        conn = self._open(row["id"])
        running = self.store.running_run(row["id"])
        if running is not None:
            raise AlreadyRunning(running["id"])
        if row["id"] == DEFAULT_CONNECTION_ID and not conn.grant_connection_id:
            return start_background(self.path, retry_failed=retry_failed, from_preview=from_preview)
        run_id = self.store.queue_run(row["id"], "retry_failed" if retry_failed else "sync")
        threading.Thread(target=self._run, args=(row["id"], run_id, retry_failed, from_preview), daemon=True,
                         name=f"pexxero-sync-{row['id']}").start()
        return run_id

    def _run(self, connection_id: int, run_id: int, retry_failed: bool, from_preview: bool) -> None:
        from pexxero.sync import run_sync

        store = Store.open(self.path)  # a thread of its own: its own database connection
        conn = self._open(connection_id, store)
        try:
            run_sync(conn, run_id=run_id, retry_failed=retry_failed, from_preview=from_preview)
        except Exception:  # noqa: BLE001 - the run's row holds its outcome and message
            pass
        finally:
            conn.close()
            store.close()

    def start_all(self) -> dict[str, str]:
        """SYNC ALL: every set-up connection's sync, each building its own plan; name -> what happened, in words."""
        said = {}
        for summary in self.summaries():
            if not summary.set_up:
                said[summary.name] = f"not started: {summary.not_set_up}"
                continue
            try:
                said[summary.name] = f"started (run {self.start(summary.name)})"
            except PexxeroError as exc:
                said[summary.name] = f"not started: {exc}"
            except Exception as exc:  # noqa: BLE001 - AlreadyRunning and the like: said, the others still start
                said[summary.name] = f"not started: {exc}"
        return said

    def close(self) -> None:
        self.store.close()
