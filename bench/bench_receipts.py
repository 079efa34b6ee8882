"""Bench: a first sync of N PEX purchases, each with one receipt (a real small PNG, JPEG or PDF), into an empty
Xero organisation through the Xero double at Xero's real limits (60 calls a minute, 5 at once, on both sides),
100 ms latency per call. The doubles run in a child process, as in bench_sync.py.

Reports, from the double's own log of what arrived:
- Xero calls per receipt: the receipt calls (PUT and GET Attachments) over the receipts attached (target <= 1.02;
  a fresh upload lists nothing, only an upload left in flight by a dead run is looked up first), and all calls
  of the sync over the receipts;
- receipts attached per minute: sustained (60 uploads over the time from each upload to the 60th after it, the
  rate the minute limit allows once its first minute is spent; target >= 57) and over the whole receipt phase
  (first to last upload: higher for a short phase, which starts with what is left of the minute's allowance);
- 429 answers (target 0).
Exits 2 when a target is missed.

    python bench/bench_receipts.py [--receipts 150] [--latency 0.1]
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

from bench_sync import ask_counts as ask, bench_connection, bench_main, purchases, start_doubles  # noqa: E402
from pexxero import models  # noqa: E402
from pexxero.sandbox import demo, receipts  # noqa: E402
from pexxero.sandbox.pex_double import PexDouble  # noqa: E402
from pexxero.sandbox.seed import sandbox_setup  # noqa: E402
from pexxero.sync import run_sync  # noqa: E402

CALLS_PER_RECEIPT_TARGET, RATE_TARGET = 1.02, 57.0
UPLOAD = "PUT /BankTransactions/Attachments"
LISTING = "GET /BankTransactions/Attachments"


def receipt_for(row: dict, n: int) -> dict:
    """One Loaded receipt for a purchase, in PEX's attachment shape: PNG, JPEG and PDF in turn."""
    kind = ("png", "jpeg", "pdf")[n % 3]
    if kind == "png":
        content = receipts.png_receipt(lines=3 + n % 5)
    elif kind == "jpeg":
        content = receipts.JPEG_RECEIPT
    else:
        content = receipts.pdf_receipt([row["MerchantName"], row["TransactionTime"][:10],
                                        f"TOTAL USD {-row['TransactionAmount']}"])
    return {"AttachmentId": demo.pex_id("attachment", row["TransactionId"], 0),
            "Type": "Pdf" if kind == "pdf" else "Image", "Size": len(content), "UploadStatus": "Loaded",
            "CreatedDateUtc": row["TransactionTime"][:19] + "Z", "CreatedBy": {"AdminId": None, "UserId": 5500},
            "Content": base64.b64encode(content).decode("ascii")}


def serve(count: int, latency: float) -> int:
    """Child mode: both doubles with the bench's data until standard input closes (see bench_sync.serve)."""
    pex = PexDouble()
    rows = purchases(count, pex.today)
    pex.transactions = {"cardholder": rows, "business": []}
    pex.attachments = {row["TransactionId"]: [receipt_for(row, n)] for n, row in enumerate(rows)}
    xero = start_doubles(pex, latency)
    for line in sys.stdin:  # "counts N": the calls since request N, per endpoint, and the uploads' arrivals
        since = int(line.split()[1])
        recorded = list(xero.requests)[since:]
        uploads = [(r.at, r.status) for r in recorded if r.method == "PUT" and r.path.endswith(
            tuple(f".{ext}" for ext in ("png", "jpg", "jpeg", "pdf")))]
        print(json.dumps({"by_endpoint": xero.calls_by_endpoint(since), "seen": since + len(recorded),
                          "status_429": sum(1 for r in recorded if r.status == 429), "uploads": uploads}),
              flush=True)
    xero.stop()
    pex.stop()
    return 0


def main() -> int:
    return bench_main(__file__, __doc__, "--receipts", 150, serve, measure)


def measure(args, ready: dict, child) -> int:
    today = date.fromisoformat(ready["today"])
    with tempfile.TemporaryDirectory() as tmp:
        conn = bench_connection(Path(tmp), ready, sandbox_setup(today))  # receipts as attachments: on
        before = ask(child, 0)["seen"]
        started = time.perf_counter()
        run = run_sync(conn, today=today)
        wall = time.perf_counter() - started
        seen = ask(child, before)
    n = args.receipts
    if run["status"] != models.SUCCEEDED or run["receipts_attached"] != n:
        print(f"the sync did not attach every receipt: {run['status']} {run['receipts_attached']} of {n}: "
              f"{run['message']}")
        return 1
    used = seen["by_endpoint"]
    receipt_calls = used.get(UPLOAD, 0) + used.get(LISTING, 0)
    arrivals = sorted(at for at, status in seen["uploads"] if status != 429)
    phase = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    over_phase = (len(arrivals) - 1) / phase * 60 if phase else float("inf")
    spans = [arrivals[k + 60] - arrivals[k] for k in range(len(arrivals) - 60)]
    sustained = 60 / statistics.median(spans) * 60 if spans else over_phase

    print(f"purchases with one receipt: {n}   latency: {args.latency * 1000:.0f} ms   status: {run['status']}   "
          f"attached: {run['receipts_attached']}   wall time: {wall:.1f} s")
    print("calls per endpoint: " + ", ".join(f"{k} {v}" for k, v in used.items()))
    print(f"receipt calls per receipt: {receipt_calls / n:.3f} ({used.get(UPLOAD, 0)} uploads, "
          f"{used.get(LISTING, 0)} listings; target <= {CALLS_PER_RECEIPT_TARGET})   all calls of the sync per "
          f"receipt: {run['calls'] / n:.3f} ({run['calls']} calls)")
    print(f"receipts per minute: sustained {sustained:.1f} (target >= {RATE_TARGET:.0f})   over the receipt phase "
          f"{over_phase:.1f} ({len(arrivals)} uploads in {phase:.1f} s)   429s: {seen['status_429']} (target 0)")
    ok = receipt_calls / n <= CALLS_PER_RECEIPT_TARGET and sustained >= RATE_TARGET and seen["status_429"] == 0
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
