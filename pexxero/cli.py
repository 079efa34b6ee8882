"""The command line: a thin layer over the same engine the dashboard uses.

Exit codes: `sync` exits 0 when everything it attempted succeeded, 2 on a partial run,
3 when paused by Xero's daily limit, 1 when it failed or was cancelled. `sync --all`: 0 when every connection's
sync exited 0, else 1 if any failed, else 3 if any paused, else 2 (a connection not set up counts for nothing).
`tieout` exits 0 when every day and the
closing balances tie, 2 when they differ and every difference is explained, 1 when something is unexplained.
`undo --run N --yes` exits 0 when everything was removed, 2 when some records were kept (each named with
the reason).
"""

from __future__ import annotations

import argparse
import sys

from pexxero import commands, commands_fleet, commands_workspace, errors


def default_db() -> str:
    from pexxero.store import default_db_path

    return default_db_path()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pexxero",
        description="Move PEX card activity into Xero, exactly once, after showing what will change.",
    )
    parser.add_argument("--db", default=None, help="database file, or postgresql://USER[:PASS]@HOST[:PORT]/DBNAME "
                                                   "(default: $PEXXERO_DB, else pexxero.db)")
    parser.add_argument("--connection", default=None, metavar="NAME",
                        help="the workspace's connection to work on (default: $PEXXERO_CONNECTION, else the only one)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    connect = commands.add_parser("connect", help="store PEX or Xero credentials (encrypted at rest)")
    which = connect.add_subparsers(dest="service", metavar="SERVICE")
    pex = which.add_parser("pex", help="check a PEX API token with PEX and store it")
    pex.add_argument("--token", default=None,
                     help="'-': read it from standard input (default: $PEX_TOKEN); a token written here is "
                          "visible to every local user in the process list")
    xero = which.add_parser("xero", help="store a Xero refresh token and pick the organisation")
    xero.add_argument("--refresh-token", default=None,
                      help="'-': read it from standard input (default: $XERO_REFRESH_TOKEN, else the token "
                           "already saved); a token written here is visible to every local user")
    xero.add_argument("--tenant", default=None, help="Xero tenant id (default: the only one connected)")
    which.add_parser("forget", help="delete the stored PEX and Xero credentials without reading them (a lost key); "
                                    "the setup and the history stay")

    config = commands.add_parser("config", help="import or export the setup TOML")
    action = config.add_subparsers(dest="action", metavar="ACTION")
    imp = action.add_parser("import", help="replace the setup with FILE.toml (validated first)")
    imp.add_argument("file")
    exp = action.add_parser("export", help="write the setup as TOML to FILE (default: standard output)")
    exp.add_argument("file", nargs="?")

    preview = commands.add_parser("preview", help="show what a sync would do; writes nothing to Xero")
    preview.add_argument("--csv", default=None, help="write the reconciliation CSV to this file")
    preview.add_argument("--full-refresh", action="store_true",
                         help="reread the whole date range from PEX first (otherwise done once a day)")

    sync = commands.add_parser("sync", help="write what is new into Xero, exactly once")
    sync.add_argument("--retry-failed", action="store_true", help="push only what failed or was not reached")
    sync.add_argument("--full-refresh", action="store_true",
                      help="reread the whole date range from PEX first (otherwise done once a day)")
    # the dashboard starts the same command in the background: the run it queued, and the plan it showed
    sync.add_argument("--queue", action="store_true",
                      help="fleet mode: queue the sync as a job for the workers and return at once (prints its id)")
    sync.add_argument("--all", action="store_true", dest="all_connections",
                      help="sync every connection of the workspace, one line each (with --queue: one job each)")
    sync.add_argument("--run-id", type=int, default=None, help=argparse.SUPPRESS)
    sync.add_argument("--from-preview", action="store_true", help=argparse.SUPPRESS)

    tieout = commands.add_parser("tieout", help="tie PEX out against Xero's PEX Cash, day by day and at the closing "
                                                "balance; say whether the period is ready to lock")
    tieout.add_argument("--from", dest="start", type=_date, default=None, help="first day (default: the setup's start)")
    tieout.add_argument("--to", dest="end", type=_date, default=None, help="last day (default: the setup's end, or today)")
    tieout.add_argument("--month", default=None, metavar="YYYY-MM", help="a whole month (the month in progress: to today)")
    tieout.add_argument("--csv", default=None, help="write the tie-out CSV (days, then the explaining items) to this file")

    worker = commands.add_parser("worker", help="fleet mode: run queued syncs until SIGTERM (PostgreSQL queue)")
    worker.add_argument("--concurrency", type=int, default=1, help="syncs this worker runs at once (default 1)")
    worker.add_argument("--name", default=None, help="the worker's name in `jobs` (default: host-pid)")

    jobs = commands.add_parser("jobs", help="fleet mode: list queued, running, failed and done sync jobs")
    jobs.add_argument("--status", choices=["queued", "running", "done", "failed", "cancelled"], default=None)
    jobs.add_argument("--limit", type=int, default=50, help="newest first, at most this many (default 50)")

    nightly = commands.add_parser("nightly", help="fleet mode: show or set when the nightly sync of every "
                                                  "connection is queued")
    nightly.add_argument("--cron", default=None, help='five-field cron, default "15 2 * * *"')
    nightly.add_argument("--timezone", default=None, help="IANA time zone of the cron, default UTC")

    history = commands.add_parser("history", help="list sync runs, or one run's items")
    history.add_argument("--run", type=int, default=None)
    history.add_argument("--all", action="store_true", dest="all_connections",
                         help="every connection's runs, each with the connection's name")

    connections = commands.add_parser("connections", help="the workspace's connections (one PEX business and one "
                                                          "Xero organisation each)")
    verb = connections.add_subparsers(dest="action", metavar="ACTION")
    verb.add_parser("list", help="every connection: PEX business, Xero organisation, last run, what waits")
    add = verb.add_parser("add", help="a new, empty connection")
    add.add_argument("name")
    add.add_argument("--copy-setup-from", default=None, metavar="NAME", help="start with this connection's setup")
    rename = verb.add_parser("rename", help="rename a connection")
    rename.add_argument("old")
    rename.add_argument("new")
    remove = verb.add_parser("remove", help="delete a connection and all its data (its Xero authorisation is "
                                            "revoked unless another connection uses it)")
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="confirm: nothing is removed without it")

    undo = commands.add_parser("undo", help="remove from Xero what a sync run created (shows what first)")
    undo.add_argument("--run", type=int, required=True, help="the sync run to undo (see `history`)")
    undo.add_argument("--yes", action="store_true", help="remove them now (without it, nothing is written)")

    tags = commands.add_parser("tags", help="copy Xero accounts and tracking options into PEX dropdown tags")
    tags.add_subparsers(dest="action", metavar="ACTION").add_parser("sync", help="run the tag sync now")

    database = commands.add_parser("db", help="the database itself")
    database.add_subparsers(dest="action", metavar="ACTION").add_parser(
        "migrate", help="create or upgrade the schema (on PostgreSQL also procrastinate's); safe to run again")

    sandbox = commands.add_parser("sandbox", help="run the PEX and Xero doubles on loopback and print their URLs")
    sandbox.add_argument("--pex-port", type=int, default=8765, help="port of the PEX double (0: any free port)")
    sandbox.add_argument("--xero-port", type=int, default=8766, help="port of the Xero double (0: any free port)")
    return parser


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as YYYY-MM-DD") from None


TOKEN_OPTIONS = ("--token", "--refresh-token")
GLOBAL_OPTIONS = ("--db", "--connection")  # accepted before or after the command


def _global_options_first(argv: list[str]) -> list[str]:
    """`sync --connection B` as `--connection B sync`: the global options may follow the command. (Token values
    are attached to their option before this, so a token is never taken for one of these.)"""
    front: list[str] = []
    rest: list[str] = []
    items = iter(argv)
    for arg in items:
        if arg == "--":
            rest.append(arg)
            rest.extend(items)
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in arg:
                front.append(arg)
            else:
                value = next(items, None)
                front.extend([arg] if value is None else [arg, value])
        else:
            rest.append(arg)
    return front + rest


def _token_values_attached(argv: list[str]) -> list[str]:
    """`--token VALUE` as `--token=VALUE`. A token is opaque and may begin with "-", which argparse would take for
    another option and refuse the command with a usage error (exit 2)."""
    joined: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg in TOKEN_OPTIONS:
            value = next(rest, None)
            joined.append(arg if value is None else f"{arg}={value}")
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_global_options_first(_token_values_attached(sys.argv[1:] if argv is None
                                                                             else list(argv))))
    if args.command is None:
        parser.print_help()
        return 0
    if args.db is None:
        args.db = default_db()
    handler = HANDLERS.get(args.command)
    if handler is None:
        print(f"`{args.command}` is not available yet.", file=sys.stderr)
        return 1
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 1
    except Exception as exc:  # noqa: BLE001 - a finance user gets a sentence, never a traceback
        print(explain(exc), file=sys.stderr)
        return 1


def explain(exc: BaseException) -> str:
    """The engine's errors in words, with the command that fixes them where there is one."""
    return errors.explain(exc, errors.CLI)


HANDLERS = {
    "sandbox": commands.sandbox,
    "config": commands.config,
    "connect": commands.connect,
    "preview": commands.preview,
    "sync": commands.sync,
    "history": commands.history,
    "undo": commands.undo,
    "tags": commands.tags_sync,
    "connections": commands_workspace.connections,
    "tieout": commands.tieout,
    "worker": commands_fleet.worker,
    "jobs": commands_fleet.jobs,
    "nightly": commands_fleet.nightly,
    "db": commands.db,
}
