"""The practice workspace: one database holding many connections, each one PEX business paired with one Xero
organisation, with its own setup, local PEX copy, plans, releases, runs, ledger and history.

    with open_workspace("pexxero.db") as ws:
        ws.summaries()              # what the overview shows, without a network call
        ws.add("harbour")           # a new, empty connection
        conn = ws.connection("harbour")

Xero authorisations (grants) are shared: one Xero sign-in can see several organisations and its refresh token
rotates on each refresh, so it is stored once and each connection points at a grant and a tenant (store/grants.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

from pexxero.errors import PexxeroError
from pexxero.store import DEFAULT_NAME, NameTaken, Store, default_db_path

if TYPE_CHECKING:
    from pexxero.connection import Connection
    from pexxero.workspace_sync import AllSyncLine

CONNECTION_ENV = "PEXXERO_CONNECTION"
REFRESH_TOKEN_LIFE_DAYS = 60.0  # Xero's refresh token dies 60 days after it was issued (each refresh issues one)
NAME_MAX = 64
_NAME = re.compile(r"^[^\s\-][^\x00-\x1f\x7f]*$")  # no leading dash (it would read as an option) or space


class NoConnectionChosen(PexxeroError):
    """Several connections and none named: the message names them (the CLI exits 1)."""

    hint = "choose one with --connection NAME (or $PEXXERO_CONNECTION)"

    def __init__(self, names: list[str]):
        self.names = list(names)
        super().__init__(f"this workspace has {len(names)} connections ({', '.join(names)}) and none was chosen")


class ConnectionNotFound(PexxeroError):
    def __init__(self, name: str, names: list[str]):
        self.name, self.names = name, list(names)
        have = f"the workspace has {', '.join(names)}" if names else "the workspace has none yet"
        super().__init__(f"there is no connection named {name!r} ({have})",
                         "add it with `connections add NAME`, or check --connection / $PEXXERO_CONNECTION")


class ConnectionExists(PexxeroError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"a connection named {name!r} exists already", "choose another name")


class BadConnectionName(PexxeroError):
    pass


@dataclass(frozen=True)
class ConnectionSummary:
    id: int
    name: str
    pex_business: str  # PEX business name ("" when no PEX token); remembered, no network call
    xero_organisation: str  # "" when none chosen
    tenant_id: str
    set_up: bool  # PEX + Xero credentials and a saved setup
    not_set_up: str  # "" or words: "no PEX token", "no Xero organisation", "no setup"
    last_run: Optional[dict]  # id, status, started_at, ended_at, written, to_write; None before a run
    waiting: dict[str, int]  # new, possible_duplicate, changed (the saved plan), failed (the last run)
    xero_token_age_days: Optional[float]
    xero_days_to_expiry: Optional[float]  # the refresh token's 60-day life


@dataclass(frozen=True)
class GrantSummary:
    id: int
    tenants: list[tuple[str, str]]  # (tenant_id, organisation name)
    connections: list[str]  # names of connections using it


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX or not _NAME.match(name):
        raise BadConnectionName(f"{name!r} cannot name a connection",
                                f"use 1 to {NAME_MAX} printable characters, not starting with '-'")
    return name


def resolve_connection_id(store: Store, name: Optional[str] = None) -> int:
    """The connection `name` names, else $PEXXERO_CONNECTION's, else the only one (created as `default` in a new
    workspace). Several and none named: NoConnectionChosen."""
    name = name or os.environ.get(CONNECTION_ENV) or None
    rows = store.connection_rows()
    if not rows and name in (None, DEFAULT_NAME):
        return store.connection_id()
    if name is not None:
        found = store.connection_named(name)
        if found is None:
            raise ConnectionNotFound(name, [r["name"] for r in rows])
        return found
    if len(rows) == 1:
        return rows[0]["id"]
    raise NoConnectionChosen([r["name"] for r in rows])


def _status_key(status: str) -> str:
    return status.replace(" ", "_")


class Workspace:
    """Every connection of one database. `connection_options` go to each Connection made (endpoints, and the
    factories tests use)."""

    def __init__(self, store: Store, **connection_options):
        self.store = store
        self.connection_options = connection_options

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------------------------------ names

    def names(self) -> list[str]:
        return [r["name"] for r in self.store.connection_rows()]

    def names_with_setup(self) -> list[str]:
        """The connections with a saved setup (what a new connection may start from), in `names()` order: one
        read of the overview's rows, no connection opened (50 of them on PostgreSQL took over a second)."""
        with_setup = {row["name"] for row in self.store.overview_rows().values() if row["setup"]}
        return [name for name in self.names() if name in with_setup]

    def _id(self, name: str) -> int:
        found = self.store.connection_named(name)
        if found is None:
            raise ConnectionNotFound(name, self.names())
        return found

    def add(self, name: str, *, copy_setup_from: Optional[str] = None) -> int:
        """A new connection with nothing connected; `copy_setup_from` starts it with another's saved setup
        (the Xero organisation is not copied: each connection chooses its own)."""
        name = check_name(name)
        source = self._id(copy_setup_from) if copy_setup_from else None
        try:
            cid = self.store.add_connection(name)
        except NameTaken:
            raise ConnectionExists(name) from None
        if source is not None:
            self.store.copy_setup(source, cid)
        return cid

    def rename(self, old: str, new: str) -> None:
        cid = self._id(old)
        new = check_name(new)
        if new == old:
            return
        try:
            self.store.rename_connection(cid, new)
        except NameTaken:
            raise ConnectionExists(new) from None

    def remove(self, name: str) -> None:
        """Delete the connection and every row of it; its Xero authorisation is revoked at Xero when no other
        connection uses it (otherwise it stays theirs), its PEX token deleted. Other connections are untouched."""
        cid = self._id(name)
        grant = self.store.grant_of(cid)
        if grant is not None and self.store.grant_users(grant) == [name]:
            with self.connection(name) as conn:
                conn.disconnect_xero()  # best effort at Xero; forgotten here either way
        self.store.remove_connection(cid)

    def connection(self, name: Optional[str] = None) -> "Connection":
        """The connection named (None: $PEXXERO_CONNECTION, else the only one), on a store of its own: closing it
        leaves the workspace open, and each can run on its own thread."""
        from pexxero.connection import Connection

        cid = resolve_connection_id(self.store, name)
        store = Store.open(self.store.path, key=self.store._key)  # the key as found already (else found on use)
        return Connection(store=store, connection_id=cid, **self.connection_options)

    # ---------------------------------------------------------------------------------------- overview

    def summaries(self) -> list[ConnectionSummary]:
        """Every connection as the overview shows it, by name; no network, a fixed number of queries."""
        now = datetime.now(timezone.utc)
        names = {tid.lower(): n for g in self.store.grant_rows() for tid, n in g["tenants"] if n}
        names.update({k.lower(): v for k, v in self.store.remembered_tenant_names().items() if v})
        out = []
        for cid, row in sorted(self.store.overview_rows().items(), key=lambda kv: kv[1]["name"]):
            tenant = row["tenant_id"] or ""
            has_xero = row["grant_id"] is not None and bool(tenant)
            missing = ("no PEX token" if not row["pex"] else "no Xero organisation" if not has_xero
                       else "no setup" if not row["setup"] else "")
            last = row["last_run"]
            waiting = {_status_key(s): int(row["plan"].get(s, 0)) for s in ("new", "possible duplicate", "changed")}
            waiting["failed"] = int((last or {}).get("failed") or 0)
            age = None
            if row["grant_updated_at"]:
                age = (now - datetime.fromisoformat(row["grant_updated_at"])).total_seconds() / 86400
            out.append(ConnectionSummary(
                id=cid, name=row["name"], pex_business=row["pex_business"] if row["pex"] else "",
                xero_organisation=names.get(tenant.lower(), "") if tenant else "", tenant_id=tenant,
                set_up=not missing, not_set_up=missing,
                last_run=None if last is None else {k: last[k] for k in
                                                    ("id", "status", "started_at", "ended_at", "written", "to_write")},
                waiting=waiting, xero_token_age_days=age,
                xero_days_to_expiry=None if age is None else REFRESH_TOKEN_LIFE_DAYS - age,
            ))
        return out

    # ------------------------------------------------------------------------------------------ grants

    def grants(self) -> list[GrantSummary]:
        """The Xero authorisations held, with the organisations each sees: the dashboard's "add organisation"
        offers these before a new Xero sign-in."""
        return [GrantSummary(id=g["id"], tenants=list(g["tenants"]), connections=list(g["connections"]))
                for g in self.store.grant_rows()]

    def use_grant(self, name: str, tenant_id: str, grant_id: Optional[int] = None) -> None:
        """Point connection `name` at an authorisation the workspace holds that sees `tenant_id` (`grant_id`, or
        the first that sees it) and choose that organisation: no new Xero sign-in."""
        cid = self._id(name)
        seeing = self.store.grants_seeing(tenant_id)
        if grant_id is None:
            if not seeing:
                raise PexxeroError(f"no Xero authorisation in this workspace sees the organisation {tenant_id}",
                                   "connect Xero for this connection with a new sign-in")
            grant_id = seeing[0]
        elif grant_id not in seeing:
            raise PexxeroError(f"the Xero authorisation {grant_id} does not see the organisation {tenant_id}",
                               "pick one of the organisations it lists, or sign in to Xero again")
        self.store.attach_grant(cid, grant_id)
        with self.connection(name) as conn:
            conn.choose_tenant(tenant_id)

    # -------------------------------------------------------------------------------------------- sync

    def sync_all(self, **kw) -> list["AllSyncLine"]:
        """Every connection's sync (see workspace_sync.py); one line per connection, by name."""
        from pexxero.workspace_sync import sync_all

        return sync_all(self, **kw)

    def start_all(self) -> dict[str, str]:
        """A background sync of every connection that is set up (the dashboard's SYNC ALL): name -> words."""
        from pexxero.workspace_sync import start_all

        return start_all(self)


def open_workspace(db=None, *, check_key: bool = True, **connection_options) -> Workspace:
    """The workspace in database `db` (a path; default $PEXXERO_DB, else pexxero.db), created if needed.
    `check_key=False` opens it without the credentials' key, for what reads none (listing, naming, removing)."""
    store = Store.open(db or default_db_path())
    try:
        if check_key and store.holds_credentials():  # credentials and no key for them: refuse, as open_connection does
            store.key_source()
    except BaseException:
        store.close()
        raise
    return Workspace(store, **connection_options)


def remember_pex_business(conn: "Connection") -> str:
    """Ask PEX once for the business's name and remember it for the overview (which never calls PEX); "" when
    PEX does not say. For a page that saved a PEX token: the command line's `connect pex` does this itself."""
    reader = getattr(conn.pex(), "business_name", None)
    name = str(reader() or "") if reader is not None else ""
    if name:
        conn.store.set_pex_business(conn.connection_id, name)
    return name


def sync_all_exit_code(codes: list[Optional[int]]) -> int:
    """0 when every sync exited 0, else 1 if any failed, else 3 if any paused on the day's limit, else 2;
    None (a connection not set up) is left out."""
    ran = [c for c in codes if c is not None]
    if all(c == 0 for c in ran):
        return 0
    if 1 in ran or any(c not in (0, 2, 3) for c in ran):
        return 1
    return 3 if 3 in ran else 2
