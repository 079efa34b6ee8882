"""The command handlers: each opens the store or the connection, calls the engine and prints. No rule lives
here; the dashboard calls the same engine functions."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import sys
from decimal import Decimal
from typing import Optional

from tabulate import tabulate

from pexxero import errors
from pexxero.store import AlreadyRunning
from pexxero.store.backend import is_postgres, safe_target


def _no_database(args: argparse.Namespace) -> bool:
    """A SQLite --db that does not exist (a mistyped path must not leave an empty database behind); a
    PostgreSQL database always exists, or says in words that it cannot be reached."""
    return not is_postgres(args.db) and not os.path.exists(args.db)


def _conn(args: argparse.Namespace):
    from pexxero.connection import open_connection

    return open_connection(args.db, connection=getattr(args, "connection", None))


def _opened(args: argparse.Namespace):
    """The connection for what needs no stored credentials: opened even when their key is missing."""
    from pexxero.connection import open_connection

    return open_connection(args.db, connection=getattr(args, "connection", None), check_key=False)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain fixed-width table for the terminal: the header, a rule of dashes, one line per row, every cell
    left-aligned as given (amounts arrive formatted, so nothing is parsed as a number)."""
    text = tabulate([[str(c) for c in row] for row in rows], headers=headers, tablefmt="simple",
                    disable_numparse=True, stralign="left")
    return "\n".join(line.rstrip() for line in text.splitlines())


def money(value) -> str:
    return f"{Decimal(str(value)):,.2f}"


XERO_REFRESH_ENV = "XERO_REFRESH_TOKEN"
PEX_TOKEN_ENV = "PEX_TOKEN"
FIRST_REFRESH_TOKEN = ("A first refresh token comes from connecting Xero once on the dashboard's Connect page (it "
                       "saves the connection in this same database), or from any OAuth2 client of your Xero app "
                       "with the offline_access scope.")


def _secret(given: Optional[str], env_name: str, what: str, flag: str) -> str:
    """A token from `--flag -` (standard input), `--flag VALUE`, or the environment variable; "" when none.

    Standard input and the environment keep the token out of the process list, which every local user can read;
    a value typed on the command line still works, with a warning."""
    if given == "-":
        if sys.stdin is not None and sys.stdin.isatty():
            return getpass.getpass(f"{what}: ").strip()
        return (sys.stdin.read() if sys.stdin is not None else "").strip()
    if given is not None:
        print(f"Warning: a {what} on the command line can be read by every user of this computer in the process "
              f"list; next time pass it on standard input ({flag} -) or in ${env_name}.", file=sys.stderr)
        return given.strip()
    return os.environ.get(env_name, "").strip()


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def connect_xero(args: argparse.Namespace) -> int:
    conn = _conn(args)
    given = _secret(args.refresh_token, XERO_REFRESH_ENV, "Xero refresh token", "--refresh-token")
    if given and args.refresh_token is None and conn.xero_connected() and \
            conn.remembered("xero_refresh_used") == _fingerprint(given):
        given = ""  # $XERO_REFRESH_TOKEN was already spent by an earlier connect: the saved, rotated one is the token
    if not given and args.tenant:  # no sign-in given: an authorisation the workspace holds that sees the tenant
        from pexxero.commands_workspace import reuse_grant

        reuse_grant(conn, args.tenant)
    if given:
        conn.connect_xero({"refresh_token": given, "expires_at": 0})
        conn.remember("xero_refresh_used", _fingerprint(given))  # one-way: tells a spent token from a new one
    elif not conn.xero_connected():
        return _fail(f"No Xero refresh token given: pass it on standard input with --refresh-token - (or set "
                     f"${XERO_REFRESH_ENV}). {FIRST_REFRESH_TOKEN}")
    tenants = conn.tenants()  # refreshes first: a bad refresh token fails here, not in the night
    # from here on the rotated token is saved: the first refresh token is spent, the saved one is the connection
    ids = {t.tenant_id for t in tenants}
    if args.tenant:
        if args.tenant not in ids:
            print(f"Xero tenant {args.tenant} is not among this connection's organisations:", file=sys.stderr)
            for t in tenants:
                print(f"  {t.tenant_id}  {t.tenant_name}", file=sys.stderr)
            return 1
        chosen = args.tenant
    elif len(tenants) == 1:
        chosen = tenants[0].tenant_id
    elif not tenants:
        return _fail("This Xero connection gives access to no organisation: connect again and tick one.")
    else:
        print("Xero connected and saved. Several organisations are available; choose one (no refresh token "
              "needed, the saved connection is used):")
        for t in tenants:
            print(f"  python -m pexxero --db {safe_target(args.db)}{_connection_option(args)} connect xero "
                  f"--tenant {t.tenant_id}    # {t.tenant_name}")
        return 0
    conn.choose_tenant(chosen)
    name = next(t.tenant_name for t in tenants if t.tenant_id == chosen)
    print(f"Xero connected: {name} ({chosen})")
    return 0


def _connection_option(args: argparse.Namespace) -> str:
    name = getattr(args, "connection", None)
    return f" --connection {name}" if name else ""


def _organisation(name: str, tenant_id: str) -> str:
    """The organisation a command works on: "Name (tenant id)"."""
    if not tenant_id:
        return "none chosen yet"
    return f"{name} ({tenant_id})" if name else tenant_id


def preview(args: argparse.Namespace) -> int:
    from pexxero.reconcile_report import TOTALS_DEFINITION
    from pexxero.sync import budget
    from pexxero.views import pex_copy_text

    conn = _conn(args)
    result = conn.preview(full_refresh=getattr(args, "full_refresh", False))
    summary = result.summary()
    print(f"Preview of {result.start} to {result.end} (nothing was written to Xero)")
    print(f"Xero organisation: {_organisation(result.tenant_name, result.tenant_id)}")
    print(pex_copy_text(conn.pex_freshness()))
    print(table([[r["status"], r["count"], money(r["money_out"]), money(r["money_in"]), money(r["net"])]
                 for r in summary.to_dict("records")], ["status", "count", "money out", "money in", "net"]))
    print(TOTALS_DEFINITION)
    print(budget.preview_sentence(conn, result))
    if result.rejected:
        print(f"{len(result.rejected)} PEX rows could not be read and are not listed (fix them in PEX):",
              file=sys.stderr)
        for line in result.rejected:
            print(f"  {line}", file=sys.stderr)
    if args.csv:
        result.to_csv(args.csv)
        print(f"Reconciliation CSV written to {args.csv}")
    return 0


def sync(args: argparse.Namespace) -> int:
    from pexxero.history import tally_line
    from pexxero.sync import EXIT_CODES, budget, run_sync

    if getattr(args, "queue", False):
        from pexxero.commands_fleet import sync_queued

        return sync_queued(args)

    from pexxero.progress_line import ProgressLine

    if getattr(args, "all_connections", False):
        from pexxero.commands_workspace import sync_all

        return sync_all(args)
    conn = _conn(args)
    try:
        with ProgressLine(conn.store, conn.connection_id, sys.stderr) as progress:
            run = run_sync(conn, run_id=getattr(args, "run_id", None), retry_failed=args.retry_failed,
                           from_preview=getattr(args, "from_preview", False),
                           full_refresh=getattr(args, "full_refresh", False))
            progress.finish(run, conn.run_counts(run["id"]))
    except AlreadyRunning as exc:
        print(f"Not started: {exc}.", file=sys.stderr)
        return 1
    print(f"Run {run['id']}: {run['status'].title()} — {run['written']} of {run['to_write']} written. {run['message']}")
    print(tally_line(conn.run_tally(run["id"])))  # the Sync page's counts, in the Preview page's words
    said = budget.run_sentence(conn, run["id"])
    if said:
        print(said)
    tenant = run.get("tenant_id") or conn.tenant_id()
    print(f"Xero organisation: {_organisation(conn.tenant_name(tenant), tenant)}")
    if errors.is_session_failure(run["message"]):
        print(f"Re-connect with: {errors.RECONNECT_XERO_CLI}", file=sys.stderr)
    return EXIT_CODES.get(run["status"], 1)


def history(args: argparse.Namespace) -> int:
    from pexxero.history import item_rows, receipt_rows, run_rows

    if getattr(args, "all_connections", False):
        from pexxero.commands_workspace import history_all

        return history_all(args)
    conn = _conn(args)
    if args.run is not None:
        rows = item_rows(conn, args.run)
        if rows is None:
            print(f"There is no run {args.run}.", file=sys.stderr)
            return 1
        print(table([[r["PEX id"], r["Date"], r["Kind"], r["Amount"], r["Outcome"], r["Xero id"], r["Why"]]
                     for r in rows], ["PEX id", "Date", "Kind", "Amount", "Outcome", "Xero id", "Why"]))
        receipts = receipt_rows(conn, args.run) or []
        if receipts:
            print(f"\nReceipts ({len(receipts)}):")
            print(table([[r["PEX id"], r["Receipt"], r["Outcome"], r["Xero id"], r["Why"]] for r in receipts],
                        ["PEX id", "Receipt", "Outcome", "Xero id", "Why"]))
        return 0
    rows = run_rows(conn)
    if not rows:
        print("No sync has run yet.")
        return 0
    print(table([[r["Run"], r["Started"], r["Ended"], r["Duration"], r["Status"], r["Fields"], r["Transactions"],
                  r["Mode"]] for r in rows],
                ["Run", "Started", "Ended", "Duration", "Status", "Fields", "Transactions", "Mode"]))
    return 0


def tieout(args: argparse.Namespace) -> int:
    """The tie-out: every day, the explaining items, the closing balances, the verdict; exit 0, 2 or 1."""
    from pexxero.tieout import tie_out

    if args.month and (args.start or args.end):
        return _fail("Give either --month or --from/--to, not both.")
    result = tie_out(_conn(args), start=args.start, end=args.end, month=args.month)
    print(f"Tie-out of {result.start} to {result.end}: PEX against Xero's PEX Cash ({result.pex_cash}); nothing was "
          "written to Xero")
    print(f"Xero organisation: {_organisation(result.tenant_name, result.tenant_id)}")
    print(table([[d.day, money(d.pex_movement), money(d.xero_movement), money(d.difference),
                  money(d.running_difference), "" if d.ties else "differs"] for d in result.days],
                ["date", "PEX", "Xero", "difference", "running", ""]))
    items = [*result.items, *result.closing_items]
    if items:
        print(f"\nWhat makes the difference ({len(items)} items):")
        print(table([[i.day, "" if i.pex_id is None else i.pex_id, i.xero_id, money(i.amount), i.status, i.reason]
                     for i in items], ["date", "PEX id", "Xero id", "amount", "status", "reason"]))
    print()
    print("\n".join(result.sentences()))
    for blocker in result.verdict.blockers:
        print(f"  - {blocker.sentence()}")
    if args.csv:
        result.to_csv(args.csv)
        print(f"Tie-out CSV written to {args.csv}")
    return result.exit_code


UNDO_WORDS = {"remove": "will be removed", "keep": "kept in Xero", "gone": "not in Xero any more"}


def undo(args: argparse.Namespace) -> int:
    """`undo --run N`: what run N created that is still in Xero and what cannot be removed (writes nothing);
    with `--yes`, removes the rest as a run of its own: exit 0 when all of it went, 2 when some was kept."""
    from pexxero.history import item_rows
    from pexxero.sync import EXIT_CODES

    conn = _conn(args)
    tenant = conn.tenant_id()
    plan = conn.undo_plan(args.run)
    if plan.refusal:
        print(plan.refusal, file=sys.stderr)
        return 1
    print(f"Undo of run {args.run} in Xero organisation {_organisation(conn.tenant_name(tenant), tenant)}")
    print(plan.summary())
    if not args.yes:
        if plan.items:
            print(table([[it.pex_id, it.date, it.kind, it.amount, it.reference, it.xero_id,
                          UNDO_WORDS.get(it.action, it.action), "" if it.action == "remove" else it.reason]
                         for it in plan.items],
                        ["PEX id", "Date", "Kind", "Amount", "Reference", "Xero id", "Undo", "Why"]))
        if plan.removable:
            print(f"Nothing was removed. To remove the {len(plan.removable)} marked 'will be removed': "
                  f"python -m pexxero undo --run {args.run} --yes")
        return 0
    try:
        run = conn.undo(args.run)
    except AlreadyRunning as exc:
        print(f"Not started: {exc}.", file=sys.stderr)
        return 1
    print(f"Run {run['id']}: {run['status'].title()} — {run['message']}")
    rows = item_rows(conn, run["id"]) or []
    if rows:
        print(table([[r["PEX id"], r["Date"], r["Kind"], r["Amount"], r["Outcome"], r["Xero id"], r["Why"]]
                     for r in rows], ["PEX id", "Date", "Kind", "Amount", "Outcome", "Xero id", "Why"]))
    if errors.is_session_failure(run["message"]):
        print(f"Re-connect with: {errors.RECONNECT_XERO_CLI}", file=sys.stderr)
    return EXIT_CODES.get(run["status"], 1)


def tags_sync(args: argparse.Namespace) -> int:
    from pexxero.tags import sync_tags

    report = sync_tags(_conn(args))
    if not report.selected:
        print("No Xero fields are selected for PEX tags (setup step 3).")
        return 0
    print("\n".join(report.lines()))
    return 0 if report.synced == report.selected else 1


def sandbox(args: argparse.Namespace) -> int:
    from pexxero.sandbox import serve_forever

    return serve_forever(pex_port=args.pex_port, xero_port=args.xero_port)


def reference_loader(store, connection_id: int, setup=None):
    """SEAM: the live Xero and PEX lists that `config import` validates against (tests replace this)."""
    from pexxero.connection import load_reference

    return load_reference(store, connection_id, setup)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def config(args: argparse.Namespace) -> int:
    if args.action == "import":
        return _config_import(args)
    if args.action == "export":
        return _config_export(args)
    return _fail("choose an action: `config import FILE.toml` or `config export [FILE.toml]`")


def _config_import(args: argparse.Namespace) -> int:
    from pexxero.clients.pex import eastern_today  # the 365-day start-date limit counts from today on PEX's clock
    from pexxero.setup import SetupError
    from pexxero.setup_checks import length_errors, validate
    from pexxero.setup_toml import from_toml

    try:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"{args.file} cannot be read: {getattr(exc, 'strerror', None) or exc}")
    refused = f"{args.file} was not imported; the stored setup is unchanged."
    try:
        setup = from_toml(text)
    except SetupError as exc:
        return _fail("\n  ".join([refused, *map(str, exc.errors)]))
    too_long = length_errors(setup)  # before anything is sent: such a value would not even reach Xero intact
    if too_long:
        return _fail("\n  ".join([refused, *map(str, too_long)]))
    with _opened(args) as conn:
        try:
            reference = reference_loader(conn.store, conn.connection_id, setup)
        except Exception as exc:  # no credentials, Xero or PEX unreachable: refuse rather than save unchecked
            return _fail(f"{refused}\n  It could not be checked against Xero and PEX: {exc}")
        errors = validate(setup, reference, today=eastern_today())
        if errors:
            return _fail("\n  ".join([refused, *map(str, errors)]))
        conn.save_setup(setup)
    print(f"Setup imported from {args.file}")
    return 0


def _config_export(args: argparse.Namespace) -> int:
    from pexxero.setup_toml import to_toml

    if _no_database(args):
        return _fail(f"There is no database at {args.db}: check --db or $PEXXERO_DB.")
    with _opened(args) as conn:
        setup = conn.saved_setup()
    if setup is None:
        return _fail("No setup is stored yet: import one with `config import FILE.toml` or fill in the dashboard's setup.")
    text = to_toml(setup)
    if not args.file:
        sys.stdout.write(text)
        return 0
    with open(args.file, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"Setup exported to {args.file}")
    return 0


def connect(args: argparse.Namespace) -> int:
    handler = CONNECT_HANDLERS.get(args.service)
    if handler is None:
        return _fail(f"`connect {args.service}` is not available yet." if args.service else "choose pex, xero or forget")
    return handler(args)


def connect_pex(args: argparse.Namespace) -> int:
    from pexxero.clients.endpoints import Endpoints
    from pexxero.clients.pex import PexAuthError, PexClient, PexError
    from pexxero.secrets import SecretsError

    token = _secret(args.token, PEX_TOKEN_ENV, "PEX API token", "--token")
    if not token:
        return _fail(f"The PEX token is empty: pass the API token from PEX on standard input with --token - (or set "
                     f"${PEX_TOKEN_ENV}).")
    unchecked, business = "", ""
    try:
        with PexClient(token, base_url=Endpoints.from_env().pex_api_url) as pex:
            business = pex.business_name()  # checked before it is saved: a refused token is said now, not at night
    except PexAuthError as exc:
        return _fail(f"PEX refused this API token ({exc.message}); nothing was saved. Check it in PEX "
                     "(Administration, API tokens) and connect again.")
    except PexError as exc:  # PEX unreachable: saved, as the dashboard does, and said to be unchecked
        unchecked = f" (not checked: PEX did not answer: {exc.message}; the next preview will check it)"
    try:
        with _opened(args) as conn:
            conn.connect_pex(token)
            if business:  # remembered for the overview, which makes no call
                conn.store.set_pex_business(conn.connection_id, business)
    except SecretsError as exc:  # its message never holds the key or the token
        return _fail(str(exc))
    print("PEX token saved" + unchecked)
    return 0


def connect_forget(args: argparse.Namespace) -> int:
    """For a lost key: the credentials cannot be read any more, so they are deleted unread (nothing is revoked)."""
    if _no_database(args):
        return _fail(f"There is no database at {args.db}: check --db or $PEXXERO_DB.")
    with _opened(args) as conn:
        deleted = conn.forget_credentials()
    if not deleted:
        print("No credentials were stored.")
        return 0
    print("The stored PEX and Xero credentials are deleted. Connect again: python -m pexxero connect pex --token - "
          "and python -m pexxero connect xero --refresh-token -")
    return 0


def db(args: argparse.Namespace) -> int:
    """`db migrate`: create or upgrade the schema (on PostgreSQL the store's and procrastinate's, under an
    advisory lock: safe twice, and from two hosts at once)."""
    from pexxero.store import migrate_database

    if args.action != "migrate":
        return _fail("choose migrate")
    done = migrate_database(args.db)
    line = f"{done.target}: the store's schema is at version {done.store_version}"
    if done.procrastinate_present:
        line += "; procrastinate's schema " + ("applied" if done.procrastinate_applied else "was already there")
    print(line)
    from pexxero.fleet.app import migrate as migrate_fleet, queue_url

    url = queue_url(args.db)
    if url is not None:  # fleet mode's tables (the shared limits, the jobs' workers), and the queue's schema
        migrate_fleet(url)  # when $PEXXERO_QUEUE_URL names another database than the workspace's
        print("fleet mode's queue and shared limits are ready")
    return 0


CONNECT_HANDLERS = {"pex": connect_pex, "xero": connect_xero, "forget": connect_forget}
