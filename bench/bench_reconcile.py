"""Time and measure `reconcile.reconcile` at scale: 100,000 mapped PEX transactions against 100,000 Xero records.

    python bench/bench_reconcile.py [N]

The Xero side is a realistic mix: half the records carry a PEX marker (a tenth of those edited in Xero since),
some are unmarked near-duplicates of PEX rows (a bank feed), a few are marked records with no PEX row (xero only),
and the rest are unrelated entries. Prints wall time (best of 3) and peak memory.
"""

from __future__ import annotations

import random
import resource
import sys
import time
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pexxero import models, reconcile  # noqa: E402
from pexxero.mapping import MappingResult  # noqa: E402

START = date(2026, 1, 1)
ACCOUNTS = ["420", "429", "433", "449", "453", "463", "493"]
MERCHANTS = ["Home Depot", "Shell", "Delta Air Lines", "Staples", "Uber", "Amazon", "Lowe's", "Chevron"]
PEX_CASH, SOURCE_CASH = "091", "090"


def _cents(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(100, 2_000_000)) / 100


def generate(n: int, seed: int = 7):
    """(results, bank_transactions, bank_transfers): n mapped PEX rows and n Xero records."""
    rng = random.Random(seed)
    results: list[MappingResult] = []
    planned_records: list[models.PlannedRecord] = []
    for i in range(n):
        tx_id = 1_000_000 + i
        day = START + timedelta(days=rng.randrange(365))
        amount = _cents(rng)
        roll = rng.random()
        if roll < 0.05:  # funding
            tx = models.PexTransaction(tx_id, 1, "business", "Transfer", "BusinessFunding", amount,
                                       datetime.combine(day, datetime.min.time()), description="ACH")
            planned = models.PlannedRecord(tx_id, models.TRANSFER, "BankTransfer", day, amount, models.marker(tx_id),
                                           f"https://pex/{tx_id}", from_account_code=SOURCE_CASH,
                                           to_account_code=PEX_CASH)
        else:
            merchant = rng.choice(MERCHANTS)
            tx = models.PexTransaction(tx_id, 2, "cardholder", "Network", "Spend", -amount,
                                       datetime.combine(day, datetime.min.time()), merchant_name=merchant,
                                       cardholder="Pat Lee")
            line = models.Line(merchant, amount, rng.choice(ACCOUNTS),
                               (models.Tracking("PROJECTS", rng.choice(["Alpha Site", "Beta Site"])),))
            planned = models.PlannedRecord(tx_id, models.PURCHASE, "BankTransaction", day, amount,
                                           models.marker(tx_id), f"https://pex/{tx_id}", xero_type="SPEND",
                                           bank_account_code=PEX_CASH, contact_name=merchant, lines=(line,))
        if roll > 0.97:  # a few the mapping skipped
            results.append(MappingResult(tx, planned.kind, None, models.SKIPPED, "pending: not settled yet", day))
        else:
            results.append(MappingResult(tx, planned.kind, planned, None, "", day))
        planned_records.append(planned)

    bank_transactions: list[models.XeroBankTransaction] = []
    bank_transfers: list[models.XeroBankTransfer] = []

    def add(record: models.PlannedRecord, reference: str, *, shift: int = 0, total=None, account=None, xid=""):
        when = record.date + timedelta(days=shift)
        total = record.total if total is None else total
        if record.record_type == "BankTransfer":
            bank_transfers.append(models.XeroBankTransfer(xid, when, total, record.from_account_code,
                                                          record.to_account_code, reference))
            return
        lines = tuple(models.Line(l.description, total, account or l.account_code, l.tracking) for l in record.lines)
        bank_transactions.append(models.XeroBankTransaction(xid, record.xero_type, when, total, PEX_CASH, reference,
                                                            record.contact_name, lines=lines))

    for i, record in enumerate(planned_records[: n // 2]):  # half marked, a tenth of those edited in Xero
        if i % 10 == 0:
            add(record, record.reference, total=record.total + 1, account="404", xid=f"m{i}")
        else:
            add(record, record.reference, xid=f"m{i}")
    for i, record in enumerate(planned_records[n // 2: n // 2 + n // 10]):  # unmarked near-duplicates
        add(record, "", shift=rng.randint(-2, 2), xid=f"d{i}")
    for i in range(n // 50):  # marked, with no PEX row
        ghost = planned_records[i % len(planned_records)]
        add(ghost, models.marker(9_000_000 + i), xid=f"g{i}")
    while len(bank_transactions) + len(bank_transfers) < n:  # unrelated entries
        i = len(bank_transactions)
        bank_transactions.append(models.XeroBankTransaction(
            f"u{i}", rng.choice(["SPEND", "RECEIVE"]), START + timedelta(days=rng.randrange(365)), _cents(rng),
            PEX_CASH, f"INV-{i}", rng.choice(MERCHANTS), lines=(models.Line("x", Decimal("1"), "429"),)))
    return results, bank_transactions, bank_transfers


def run(n: int) -> None:
    t0 = time.perf_counter()
    results, bank_transactions, bank_transfers = generate(n)
    print(f"generated {len(results):,} PEX rows and {len(bank_transactions) + len(bank_transfers):,} Xero records "
          f"in {time.perf_counter() - t0:.1f} s")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timings, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        frame = reconcile.reconcile(results, bank_transactions, bank_transfers, lock_date=date(2026, 1, 5))
        timings.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    reconcile.reconcile(results, bank_transactions, bank_transfers, lock_date=date(2026, 1, 5))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"reconcile: best of 3 {min(timings):.2f} s wall (all: {', '.join(f'{t:.2f}' for t in timings)}); "
          f"CPU {min(cpu):.2f} s (wall suffers first when other processes share the cores)")
    print(f"peak memory: tracemalloc {peak / 2**20:.0f} MiB; max RSS grew {(rss_after - rss_before) / 1024:.0f} MiB "
          f"(to {rss_after / 1024:.0f} MiB)")
    print(frame["status"].value_counts().to_string())


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
