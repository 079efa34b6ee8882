"""Bench: sync 1,000 PEX purchases (no receipts) into an empty Xero organisation through the Xero double with 100 ms
latency per call, with Xero's real limits (60 calls a minute on both sides). The doubles run in a child process,
so Xero's own work (parsing, validating, storing 50 records a call) is not counted as ours.

Reports Xero calls used against the minimum — the write batches of 50 plus the reads the plan cannot do without,
once each (target <= 1.05x) — with the calls per endpoint, and wall time against calls x latency (target <= 1.1x).
Exits 2 when a target is missed.

    python bench/bench_sync.py [--purchases 1000] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, time as dtime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pexxero import models  # noqa: E402
from pexxero.sandbox import demo  # noqa: E402
from pexxero.sandbox.pex_double import PexDouble  # noqa: E402
from pexxero.sandbox.xero_double import XeroDouble  # noqa: E402
from pexxero.sync import BATCH_SIZE, run_sync  # noqa: E402
from pexxero.sandbox.seed import sandbox_setup  # noqa: E402
from sandbox_env import make_connection  # noqa: E402

WHERE_CHUNK = 25  # the gateway ORs at most this many names into one Contacts GET
CALLS_TARGET, TIME_TARGET = 1.05, 1.1


def purchases(n: int, today, seed: int = 1) -> list[dict]:
    """`n` settled, tagged card purchases over the last 50 days, in PEX's row shape."""
    rng = random.Random(seed)
    account_id = {a["Code"]: a["AccountID"] for a in demo.accounts()}
    holders = [acct for acct, *_ in demo.PEX_CARDHOLDERS]
    rows = []
    for i in range(n):
        merchant = rng.choice(demo.PEX_MERCHANTS)
        name, normalized, mcc, city, state = merchant[:5]
        when = datetime.combine(today - timedelta(days=rng.randint(2, 50)),
                                dtime(rng.randint(7, 20), rng.randint(0, 59), rng.randint(0, 59)))
        tx_id = demo.CARDHOLDER_TX_BASE + i + 1
        rows.append(demo._pex_row(
            rng.choice(holders), "Network", "Spend", -Decimal(rng.randint(merchant[6], merchant[7])) / 100, when,
            f"{name} {city} {state}", TransactionId=tx_id, AuthTransactionId=demo.AUTH_TX_BASE + i + 1,
            MerchantName=name, MerchantNameNormalized=normalized, MCCCode=mcc, MerchantCity=city,
            MerchantState=state, MerchantCountry="USA", MerchantLocalTime=demo.pex_time(when),
            SettlementTime=demo.pex_time(when + timedelta(days=1)), MetadataApprovalStatus="Approved",
            TransactionTags=demo._tags([(demo.EXPENSE_TYPE_TAG_ID, "EXPENSE TYPE", account_id[merchant[5]])]),
        ))
    rows.sort(key=lambda r: r["TransactionTime"])
    return rows


def start_doubles(pex: PexDouble, latency: float) -> XeroDouble:
    """Start `pex` and an empty Xero double at Xero's real limits (60 a minute, 5 at once) with `latency` per
    call, and print the one JSON line the parent reads: the environment, a token set and PEX's today."""
    xero = XeroDouble(seed_records=False)
    pex.start()
    xero.start()
    xero.latency = latency
    print(json.dumps({"env": {**pex.env, **xero.env}, "token": xero.grant([demo.TENANT_ID]),
                      "today": pex.today.isoformat()}), flush=True)
    return xero


def serve(count: int, latency: float) -> int:
    """Child mode: both doubles with the bench's data, in their own process (Xero's work is not ours), until
    standard input closes. Prints one JSON line: the environment and a token set for the parent."""
    pex = PexDouble()
    pex.transactions = {"cardholder": purchases(count, pex.today), "business": []}
    pex.attachments = {}
    xero = start_doubles(pex, latency)
    answer_counts(xero)
    xero.stop()
    pex.stop()
    return 0


def answer_counts(xero) -> None:
    """Until standard input closes: for each line "counts N", print one JSON line with the double's calls per
    endpoint since request N, how many it answered 429, and the total it has seen."""
    for line in sys.stdin:
        since = int(line.split()[1])
        recorded = list(xero.requests)
        print(json.dumps({"by_endpoint": xero.calls_by_endpoint(since), "seen": len(recorded),
                          "status_429": sum(1 for r in recorded[since:] if r.status == 429)}), flush=True)


def ask_counts(child, since: int) -> dict:
    child.stdin.write(f"counts {since}\n")
    child.stdin.flush()
    return json.loads(child.stdout.readline())


def run_with_doubles(script: str, count_flag: str, args, measure) -> int:
    """Start `script --serve` (the doubles in a process of their own), hand what it prints to `measure`, stop it."""
    child = subprocess.Popen([sys.executable, script, "--serve", count_flag, str(getattr(args, count_flag[2:])),
                              "--latency", str(args.latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        ready = json.loads(child.stdout.readline())
        return measure(args, ready, child)
    finally:
        child.stdin.close()
        child.wait(30)


def bench_connection(directory: Path, ready: dict, setup):
    """A connection to the child's doubles with `setup`, its local PEX copy filled as a preview leaves it."""
    os.environ.update(ready["env"])
    conn = make_connection(directory / "bench.db", ready["env"])
    conn.connect_pex(demo.PEX_TOKEN)
    conn.connect_xero(ready["token"], demo.TENANT_ID)
    conn.save_setup(setup)
    conn.refresh_pex(today=date.fromisoformat(ready["today"]))
    return conn


def bench_main(script: str, doc: str, count_flag: str, default: int, serve, measure) -> int:
    """A bench's command line: `--serve` runs the doubles (the child), otherwise start the child and measure."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(count_flag, type=int, default=default)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(getattr(args, count_flag[2:]), args.latency)
    return run_with_doubles(script, count_flag, args, measure)


def main() -> int:
    return bench_main(__file__, __doc__, "--purchases", 1000, serve, measure)


def measure(args, ready: dict, child) -> int:
    today = date.fromisoformat(ready["today"])
    with tempfile.TemporaryDirectory() as tmp:
        setup = sandbox_setup(today)
        conn = bench_connection(Path(tmp), ready, replace(setup, purchases=replace(setup.purchases,
                                                                                    attachments=False)))
        before = ask_counts(child, 0)["seen"]
        started = time.perf_counter()
        run = run_sync(conn, today=today)
        wall = time.perf_counter() - started
        counts = ask_counts(child, before)
        if run["status"] != models.SUCCEEDED or run["written"] != args.purchases:
            print(f"the sync did not write everything: {run['status']} {run['written']} {run['message']}")
            return 1
        calls = run["calls"]
        xero = conn.xero()
        written = xero.bank_transactions("091", today - timedelta(days=60), today)
        refs = Counter(t.reference for t in written)
        assert len(refs) == args.purchases and max(refs.values()) == 1, "not exactly once"
        contacts = {t.contact_name for t in written}
        created = len(contacts - set(demo.CONTACT_NAMES))
        named = {n for n in (setup.fees.contact, setup.contacts.single_contact) if n}  # setup's own contacts
        needed = {  # what the sync cannot do without, once each
            "GET /Organisation": 1, "GET /Accounts": 1, "GET /TrackingCategories": 1,  # the tag sync and the plan
            # setup's contacts for the plan, then the merchants it names that those were not
            "GET /Contacts": math.ceil(len(named) / WHERE_CHUNK) + math.ceil(len(contacts - named) / WHERE_CHUNK),
            "GET /BankTransactions": 1, "GET /BankTransfers": 1,  # an empty organisation: one page each
            "PUT /Contacts": math.ceil(created / BATCH_SIZE),
            "PUT /BankTransactions": math.ceil(args.purchases / BATCH_SIZE),
        }
        minimum = sum(needed.values())
        writes = sum(v for k, v in needed.items() if k.startswith("PUT"))
        ideal = calls * args.latency
        used = counts["by_endpoint"]

        print(f"purchases: {args.purchases}   latency: {args.latency * 1000:.0f} ms   status: {run['status']}   "
              f"contacts created: {created}")
        print(f"minimum: {minimum} = {writes} writes + {minimum - writes} reads")
        print(f"{'endpoint':<26}{'used':>6}{'needed':>8}")
        for endpoint in sorted(set(used) | set(needed)):
            print(f"{endpoint:<26}{used.get(endpoint, 0):>6}{needed.get(endpoint, 0):>8}")
        repeated = {k: used[k] - needed.get(k, 0) for k in used if k.startswith("GET") and
                    used[k] > needed.get(k, 0)}
        print(f"calls used: {calls}   calls ratio: {calls / minimum:.3f}  (target <= {CALLS_TARGET})   "
              f"reads beyond the needed: {repeated or 0}   429s: {counts['status_429']}")
        print(f"wall time: {wall:.2f} s   calls x latency: {ideal:.2f} s   "
              f"time ratio: {wall / ideal:.3f}  (target <= {TIME_TARGET})")
        return 0 if calls / minimum <= CALLS_TARGET and wall / ideal <= TIME_TARGET else 2


if __name__ == "__main__":
    raise SystemExit(main())
