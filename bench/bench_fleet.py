"""Bench: fleet mode. N small businesses (one sandbox connection each, its own Xero organisation, ~20 purchases
with one receipt each), queued at once with `sync --all --queue`'s function, drained by 1, 2 and 4 workers
(`python -m pexxero worker` processes) through a throwaway PostgreSQL; then a drain by 2 workers in which one is
SIGKILLed at a random moment and started again.

The doubles run in a child process at Xero's real limits (60 calls a minute and 5 at once per organisation) with
`--latency` per call; the workers share the limits through PostgreSQL. Reports, from the double's own log:
- wall time from the queueing to the last job done, and the speed-up from 1 to 2 workers (goal >= 1.8);
- Xero calls in all, and per sync;
- the highest calls one organisation received in any 60 s window (must be <= 60) and 429 answers;
- the whole app's calls in its busiest 60 s window, and on average per minute (Xero's app-wide limit: 10,000);
- after the kill: records and receipts duplicated and missing over every organisation (both must be 0).
Exits 2 when a must is missed.

    python bench/bench_fleet.py [--connections 200] [--items 20] [--latency 0.1] [--concurrency 4]
                                [--workers 1,2,4] [--no-kill]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

from bench_receipts import receipt_for  # noqa: E402
from bench_sync import purchases  # noqa: E402
from pexxero.sandbox import demo  # noqa: E402

MINUTE_LIMIT, APP_MINUTE_LIMIT = 60, 10_000
SPEEDUP_GOAL = 1.8


# ------------------------------------------------------------------------------------------ the doubles' child


def serve(args) -> int:
    """Child mode: one PEX business (every connection reads the same one) and a Xero double holding one empty
    organisation per connection of every drain; answers "grants", "stats N" and "audit" lines on stdin."""
    from pexxero.sandbox.pex_double import PexDouble
    from pexxero.sandbox.xero_books import Books
    from pexxero.sandbox.xero_double import API_PREFIX, XeroDouble

    pex = PexDouble()
    rows = purchases(args.items, pex.today)
    pex.transactions = {"cardholder": rows, "business": []}
    pex.attachments = {r["TransactionId"]: [receipt_for(r, n)] for n, r in enumerate(rows)}
    xero = XeroDouble(seed_records=False)
    tenants = [demo.xid("tenant", "fleet-bench", i) for i in range(args.tenants)]
    for i, tid in enumerate(tenants):
        name = f"Fleet Bench {i:04d} Ltd"
        organisation = {**demo.organisation(), "OrganisationID": demo.xid("organisation", "fleet-bench", i),
                        "Name": name, "LegalName": name}
        xero.oauth.tenants[tid] = name
        xero.oauth.user(None).tenant_ids.append(tid)  # the demo bookkeeper's sign-in may consent to it
        xero.books[tid] = Books(tenant_id=tid, organisation=organisation, accounts=demo.accounts(),
                                contacts=demo.contacts(), tracking=demo.tracking_categories(), clock=xero.clock)
    pex.start()
    xero.start()
    xero.latency = args.latency
    print(json.dumps({"env": {**pex.env, **xero.env}, "today": pex.today.isoformat(), "tenants": tenants}),
          flush=True)
    expected = {f"PEX-{r['TransactionId']}" for r in rows}
    for line in sys.stdin:
        word, *rest = line.split()
        if word == "grants":
            print(json.dumps([xero.grant([t]) for t in tenants[int(rest[0]):int(rest[1])]]), flush=True)
        elif word == "stats":
            print(json.dumps(stats([r for r in list(xero.requests)[int(rest[0]):] if API_PREFIX in r.path],
                                   len(xero.requests))), flush=True)
        elif word == "audit":
            print(json.dumps(audit(xero, tenants[int(rest[0]):int(rest[1])], expected)), flush=True)
    xero.stop()
    pex.stop()
    return 0


def busiest_minute(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 60.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def stats(recorded, seen: int) -> dict:
    by_org = defaultdict(list)
    for r in recorded:
        by_org[r.tenant_id or ""].append(r.at)
    times = [r.at for r in recorded]
    return {"seen": seen, "calls": len(recorded), "status_429": sum(1 for r in recorded if r.status == 429),
            "max_org_60s": max((busiest_minute(v) for v in by_org.values()), default=0),
            "max_app_60s": busiest_minute(times), "span": (max(times) - min(times)) if times else 0.0}


def audit(xero, tenants: list[str], expected: set[str]) -> dict:
    found = {"records_duplicated": 0, "records_missing": 0, "receipts_duplicated": 0, "receipts_missing": 0}
    for tid in tenants:
        txs = [t for t in xero.bank_transactions(tid) if str(t.get("Reference") or "").startswith("PEX-")]
        refs = Counter(t["Reference"] for t in txs)
        found["records_duplicated"] += sum(n - 1 for n in refs.values() if n > 1)
        found["records_missing"] += len(expected - set(refs))
        for t in txs:
            held = len(xero.attachments(tid, t["BankTransactionID"]))
            found["receipts_duplicated"] += max(0, held - 1)
            found["receipts_missing"] += held == 0
    return found


# ------------------------------------------------------------------------------------------ the parent


class Doubles:
    def __init__(self, args):
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--items", str(args.items), "--latency", str(args.latency),
             "--tenants", str(args.connections * args.drains)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self.child.stdout.readline())

    def ask(self, *words) -> object:
        self.child.stdin.write(" ".join(map(str, words)) + "\n")
        self.child.stdin.flush()
        return json.loads(self.child.stdout.readline())

    def close(self) -> None:
        self.child.stdin.close()
        self.child.wait(60)


def workspaces(doubles: Doubles, folder: Path, first: int, count: int, today: date) -> list[str]:
    """`count` SQLite workspaces, each one connection to its own organisation, set up as after `config import`."""
    from pexxero.connection import open_connection
    from pexxero.sandbox.seed import sandbox_setup

    os.environ.update(doubles.ready["env"])
    grants = doubles.ask("grants", first, first + count)
    setup = sandbox_setup(today)
    setup = replace(setup, pex=replace(setup.pex, start_date=today - timedelta(days=60)))
    dbs = []
    for i, grant in enumerate(grants):
        tid = doubles.ready["tenants"][first + i]
        db = folder / f"ws-{first + i:04d}.db"
        with open_connection(db) as conn:
            conn.connect_pex(demo.PEX_TOKEN)
            conn.connect_xero(grant, tid)
            conn.save_setup(replace(setup, xero=replace(setup.xero, tenant_id=tid)))
        dbs.append(str(db))
    return dbs


def start_worker(db: str, url: str, name: str, concurrency: int, env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pexxero", "--db", db, "worker", "--name", name,
                             "--concurrency", str(concurrency)],
                            env={**env, "PEXXERO_QUEUE_URL": url, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
                            stdout=log, stderr=log)


def open_jobs(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'pexxero:sync' "
                            "AND status IN ('todo', 'doing')").fetchone()[0]


def registered(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0]


def finished(url: str) -> Counter:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT f.run_status, count(*) FROM procrastinate_jobs j JOIN pexxero_fleet_jobs f "
                            "ON f.job_id = j.id WHERE j.status = 'succeeded' GROUP BY f.run_status").fetchall()
    return Counter(dict(rows))


def drain(args, doubles, url, dbs, workers: int, log, kill: bool = False) -> dict:
    """Queue one sync per workspace at once, start `workers` workers, wait until no job is open."""
    from pexxero.fleet.app import build_app
    from pexxero.fleet.tasks import ConnectionRef, defer_syncs

    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:  # a clean queue and limiter for each drain
        conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'pexxero:sync'")
        conn.execute("DELETE FROM procrastinate_workers")
    env = {**os.environ, **doubles.ready["env"]}
    # the workers are up and waiting first: the wall time is the drain's, not the processes' start
    procs = [start_worker(dbs[0], url, f"bench-{n}", args.concurrency, env, log) for n in range(workers)]
    while registered(url) < workers:
        time.sleep(0.2)
    before = doubles.ask("stats", 0)["seen"]
    started = time.perf_counter()
    app = build_app(url)
    with app.open():
        defer_syncs(app, url, [ConnectionRef(db, 1, "default") for db in dbs])
    killed_at = None
    try:
        if kill:
            target = random.Random(args.seed).randint(len(dbs) // 5, len(dbs) * 3 // 5)
            while len(dbs) - open_jobs(url) < target:
                time.sleep(0.5)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            killed_at = time.perf_counter() - started
            procs[0] = start_worker(dbs[0], url, "bench-0-again", args.concurrency, env, log)
        while open_jobs(url):
            time.sleep(0.5)
        wall = time.perf_counter() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(120)
    got = doubles.ask("stats", before)
    got.update(wall=wall, workers=workers, runs=dict(finished(url)), killed_at=killed_at)
    return got


def measure(args) -> int:
    from pg_cluster import start_cluster

    from pexxero.fleet.app import migrate

    args.drains = len(args.worker_counts) + (0 if args.no_kill else 1)
    doubles = Doubles(args)
    cluster = start_cluster()
    ok = True
    try:
        url = cluster.create_database("fleet_bench")
        migrate(url)
        today = date.fromisoformat(doubles.ready["today"])
        with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "workers.log", "w") as log:
            plan = [(n, False) for n in args.worker_counts] + ([] if args.no_kill else [(2, True)])
            results = []
            for i, (workers, kill) in enumerate(plan):
                folder = Path(tmp) / f"drain-{i}"
                folder.mkdir()
                dbs = workspaces(doubles, folder, i * args.connections, args.connections, today)
                got = drain(args, doubles, url, dbs, workers, log, kill=kill)
                if kill:
                    got["audit"] = doubles.ask("audit", i * args.connections, (i + 1) * args.connections)
                results.append(got)
                said = (f"{workers} worker(s) x {args.concurrency}{' (one SIGKILLed at %.0f s, restarted)' % got['killed_at'] if kill else ''}: "
                        f"{got['wall']:.1f} s wall; {got['calls']} Xero calls ({got['calls'] / args.connections:.1f} a sync); "
                        f"busiest organisation {got['max_org_60s']} calls in 60 s; app {got['max_app_60s']} in its "
                        f"busiest 60 s, {got['calls'] / got['wall'] * 60:.0f} a minute on average; "
                        f"429s {got['status_429']}; runs {got['runs']}")
                print(said, flush=True)
                ok &= got["max_org_60s"] <= MINUTE_LIMIT and got["max_app_60s"] <= APP_MINUTE_LIMIT
                if kill:
                    print(f"  after the kill: {got['audit']}", flush=True)
                    ok &= not any(got["audit"].values())
            by_workers = {r["workers"]: r["wall"] for r in results if r["killed_at"] is None}
            if 1 in by_workers and 2 in by_workers:
                speedup = by_workers[1] / by_workers[2]
                print(f"speed-up from 1 to 2 workers: {speedup:.2f} x (goal >= {SPEEDUP_GOAL})")
            if 1 in by_workers and 4 in by_workers:
                print(f"speed-up from 1 to 4 workers: {by_workers[1] / by_workers[4]:.2f} x")
    finally:
        doubles.close()
        cluster.remove()
    return 0 if ok else 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=4, help="syncs each worker runs at once")
    parser.add_argument("--workers", default="1,2,4", help="the drains' worker counts")
    parser.add_argument("--no-kill", action="store_true", help="leave out the drain with a SIGKILLed worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tenants", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    args.worker_counts = [int(n) for n in args.workers.split(",") if n]
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
