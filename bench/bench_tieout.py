"""Tie-out bench: a month of 10,000 PEX transactions against the doubles, before a sync (every transaction is an
explaining item: not yet synced) and after a full sync (it ties). Best of 3 after one warm-up, by phase.

    python bench/bench_tieout.py [--rows 10000]

Each tie-out reads the local PEX copy, maps it, reads Xero's PEX Cash records (pages of 1,000) and its transfers,
reconciles, explains, reads PEX's balances and Xero's Bank Summary: what `python -m pexxero tieout --month` does,
without the local copy's refresh (the copy is filled once from the PEX double before timing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from pexxero import mapping, reconcile, tieout, tieout_explain  # noqa: E402
from pexxero.sandbox import demo  # noqa: E402
from pexxero.sandbox.pex_double import PexDouble  # noqa: E402
from pexxero.sandbox.xero_double import XeroDouble  # noqa: E402
from phases import phase_timer  # noqa: E402
from sandbox_env import open_sandbox  # noqa: E402

GOAL = 2.0  # seconds for a 10,000-transaction month



def month_of(today):
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def ledger(first, last, rows: int) -> dict:
    """`rows` settled transactions spread over the month: purchases mostly, refunds, fees, funding, rebates."""
    days = (last - first).days + 1
    cards = [c[0] for c in demo.PEX_CARDHOLDERS]
    cardholder, business = [], []
    for n in range(rows):
        when = datetime.combine(first + timedelta(days=n % days), datetime.min.time()) + timedelta(
            minutes=480 + n % 600)
        tx_id = 600_000_000 + n
        roll = n % 100
        if roll < 96:
            name = f"Merchant {n % 40}"
            amount = Decimal(-(500 + (n * 37) % 20000)) / 100 if roll < 94 else Decimal(300 + n % 900) / 100
            cardholder.append(demo._pex_row(cards[n % len(cards)], "Network", "Spend", amount, when, name,
                                            TransactionId=tx_id, MerchantName=name, MerchantNameNormalized=name,
                                            MetadataApprovalStatus="Approved"))
        else:
            category, amount = [("BusinessAccountFee", Decimal("-4.00")), ("BusinessFunding", Decimal("900.00")),
                                ("BusinessRebate", Decimal("12.34")), ("BusinessFunding", Decimal("-150.00"))][roll - 96]
            business.append(demo._pex_row(demo.BUSINESS_ACCOUNT_ID, "Transfer", category, amount, when, category,
                                          TransactionId=tx_id))
    return {"cardholder": cardholder, "business": business}


def timed_tieout(conn, first, last, runs: int = 3) -> tuple[dict[str, float], "tieout.TieOut"]:
    spent: dict[str, float] = {}

    timer = phase_timer(spent)

    xero = conn.xero()
    best, result = {}, None
    tieout.tie_out(conn, start=first, end=last, refresh=False)  # warm-up
    for _ in range(runs):
        spent.clear()
        with ExitStack() as stack:
            stack.enter_context(mock.patch.object(type(conn), "pex_transactions", timer(
                "read PEX copy", type(conn).pex_transactions)))
            stack.enter_context(mock.patch.object(tieout.mapping, "plan", timer("mapping", mapping.plan)))
            stack.enter_context(mock.patch.object(tieout.reconcile, "reconcile", timer("reconcile", reconcile.reconcile)))
            stack.enter_context(mock.patch.object(tieout.ex, "explain", timer("explain", tieout_explain.explain)))
            for name in ("bank_transactions", "bank_transfers", "bank_summary", "accounts", "organisation"):
                stack.enter_context(mock.patch.object(xero, name, timer("Xero reads", getattr(xero, name))))
            stack.enter_context(mock.patch.object(conn.pex(), "balances", timer("PEX balances", conn.pex().balances)))
            started = time.perf_counter()
            result = tieout.tie_out(conn, start=first, end=last, refresh=False)
            spent["total"] = time.perf_counter() - started
        if not best or spent["total"] < best["total"]:
            best = dict(spent)
    return best, result


def show(label: str, best: dict, tie) -> None:
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in best.items() if k != "total")
    print(f"{label}: {best['total']:.2f} s ({parts}); {len(tie.days)} days, {sum(d.ties for d in tie.days)} tie, "
          f"{len(tie.items)} explaining items, closing difference {tie.closing.difference:,.2f}, exit {tie.exit_code}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    pex = PexDouble()
    first, last = month_of(pex.today)
    pex.transactions = ledger(first, last, args.rows)
    pex.attachments = {}
    xero = XeroDouble(today=pex.today, minute_limit=100_000, seed_records=False)
    xero.reports.set_opening_balance(demo.TENANT_ID, "091",
                                     pex.balances.total_before(pex.account_details, pex.transactions, first))
    with tempfile.TemporaryDirectory() as directory, open_sandbox(Path(directory), pex=pex, xero=xero,
                                                                  attachments=False) as env:
        env.conn.refresh_pex(full=True)
        print(f"A month of {args.rows:,} PEX transactions ({first} to {last}); goal {GOAL:.1f} s")
        best, tie = timed_tieout(env.conn, first, last)
        show("before a sync", best, tie)
        from pexxero.sync import run_sync

        started = time.perf_counter()
        run = run_sync(env.conn)
        print(f"(full sync: {run['status']}, {run['written']:,} written in {time.perf_counter() - started:.1f} s)")
        best, tie = timed_tieout(env.conn, first, last)
        show("after a full sync", best, tie)
        print(tie.verdict.sentence())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
