"""The workspace's commands: `connections list|add|rename|remove`, `sync --all`, `history --all`, and the reuse of
a Xero authorisation by `connect xero --tenant`. Thin: the rules live in pexxero/workspace.py."""

from __future__ import annotations

import argparse
import sys

from pexxero.commands import _fail, _no_database, table


def _workspace(args: argparse.Namespace, *, check_key: bool = True):
    """`check_key=False` for what reads no credentials: listing, naming and removing work with the key lost."""
    from pexxero.workspace import open_workspace

    return open_workspace(args.db, check_key=check_key)


def connections(args: argparse.Namespace) -> int:
    handler = {"list": _list, "add": _add, "rename": _rename, "remove": _remove}.get(args.action)
    if handler is None:
        return _fail("choose an action: `connections list`, `connections add NAME`, `connections rename OLD NEW` "
                     "or `connections remove NAME --yes`")
    return handler(args)


def _when(iso) -> str:
    from pexxero.history import _when as when

    return when(iso)


def waiting_words(waiting: dict[str, int]) -> str:
    words = [f"{n} {key.replace('_', ' ')}" for key, n in waiting.items() if n]
    return ", ".join(words) or "nothing"


def _list(args: argparse.Namespace) -> int:
    if _no_database(args):  # do not leave an empty database behind a mistyped --db
        return _fail(f"There is no database at {args.db}: check --db or $PEXXERO_DB.")
    with _workspace(args, check_key=False) as ws:
        summaries = ws.summaries()
    if not summaries:
        print("No connections yet: add one with `connections add NAME`.")
        return 0
    rows = []
    for s in summaries:
        last = s.last_run
        run = f"{_when(last['ended_at'] or last['started_at'])} {last['status'].title()}".strip() if last else "never"
        organisation = (f"{s.xero_organisation} ({s.tenant_id})" if s.xero_organisation else s.tenant_id) or "none"
        rows.append([s.name, s.pex_business or ("connected" if s.not_set_up != "no PEX token" else "none"),
                     organisation, run, waiting_words(s.waiting), s.not_set_up and f"not set up: {s.not_set_up}"])
    print(table(rows, ["Name", "PEX business", "Xero organisation", "Last run", "Waiting", "Set up"]))
    return 0


def _add(args: argparse.Namespace) -> int:
    with _workspace(args, check_key=False) as ws:
        ws.add(args.name, copy_setup_from=args.copy_setup_from)
    copied = f" with the setup of {args.copy_setup_from}" if args.copy_setup_from else ""
    print(f"Connection {args.name} added{copied}. Connect it: python -m pexxero --connection {args.name} "
          "connect pex --token -, then connect xero")
    return 0


def _rename(args: argparse.Namespace) -> int:
    with _workspace(args, check_key=False) as ws:
        ws.rename(args.old, args.new)
    print(f"Connection {args.old} is now {args.new}.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _workspace(args, check_key=False) as ws:
        ws._id(args.name)  # an unknown name is said as such, with or without --yes
        if not args.yes:
            return _fail(f"Nothing removed. `connections remove {args.name} --yes` deletes the connection {args.name} "
                         "with its credentials, setup, local PEX copy, plans, runs, ledger and history (what it "
                         "wrote into Xero stays in Xero).")
        ws.remove(args.name)
    print(f"Connection {args.name} removed; the other connections are unchanged.")
    return 0


def sync_all(args: argparse.Namespace) -> int:
    from pexxero.workspace import sync_all_exit_code

    with _workspace(args) as ws:
        lines = ws.sync_all(retry_failed=args.retry_failed, full_refresh=getattr(args, "full_refresh", False))
    if not lines:
        print("No connections yet: add one with `connections add NAME`.")
    for line in lines:
        print(line.line)
    return sync_all_exit_code([line.exit_code for line in lines])


def history_all(args: argparse.Namespace) -> int:
    from pexxero.history import run_row

    with _workspace(args) as ws:
        runs = ws.store.all_runs()
    if args.run is not None:
        runs = [r for r in runs if r["id"] == args.run]
        if not runs:
            return _fail(f"There is no run {args.run}.")
        args.connection, args.all_connections = runs[0]["connection"], False
        from pexxero.commands import history

        print(f"Connection: {runs[0]['connection']}")
        return history(args)
    if not runs:
        print("No sync has run yet.")
        return 0
    rows = [(r["connection"], run_row(r)) for r in runs]
    print(table([[name, r["Run"], r["Started"], r["Ended"], r["Duration"], r["Status"], r["Fields"],
                  r["Transactions"]] for name, r in rows],
                ["Connection", "Run", "Started", "Ended", "Duration", "Status", "Fields", "Transactions"]))
    return 0


def reuse_grant(conn, tenant_id: str) -> bool:
    """`connect xero --tenant T` with no refresh token: when the connection's own authorisation does not see T
    (or it has none), use one the workspace holds that does. True when it switched."""
    store = conn.store
    own = store.grant_of(conn.connection_id)
    seeing = store.grants_seeing(tenant_id)
    if not seeing or own in seeing:
        return False
    store.attach_grant(conn.connection_id, seeing[0])
    conn.reset_clients()
    print(f"Using the Xero authorisation this workspace holds for {tenant_id} (shared with "
          f"{', '.join(n for n in store.grant_users(seeing[0]) if n != store.connection_name(conn.connection_id))}).",
          file=sys.stderr)
    return True
