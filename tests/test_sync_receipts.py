"""Receipts: every PEX receipt of every record in range that Xero does not have yet is attached exactly once —
receipts added in PEX after their purchase was written, a second receipt, refunds and dispute credits — and what
Xero cannot take (over 10 MB, more than 10 on a record) is reported per receipt, never sent again."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter

from pexxero import models
from pexxero.history import receipt_rows
from pexxero.models import NEW
from pexxero.sandbox import receipts as files
from pexxero.sync import run_sync


def _frame(env):
    return env.conn.preview(refresh=True, save_plan=False).frame


def _receipt(env, tx_id: int, *, status: str = "Loaded", size: int | None = None) -> str:
    """A PNG receipt uploaded in PEX to transaction `tx_id` now; returns its AttachmentId."""
    content = files.png_receipt(lines=2)
    attachment_id = uuid.uuid4().hex[:24]
    env.pex.attachments.setdefault(tx_id, []).append({
        "AttachmentId": attachment_id, "Type": "Image", "Size": len(content) if size is None else size,
        "UploadStatus": status, "CreatedDateUtc": "2026-01-01T12:00:00Z", "CreatedBy": {"AdminId": None, "UserId": 1},
        "Content": base64.b64encode(content).decode("ascii") if status == "Loaded" else None,
    })
    return attachment_id


def _in_xero(env) -> Counter:
    """(reference, PEX attachment id) -> how many times Xero holds it."""
    return env.receipts_held()


def _wanted(env, refs: set[str]) -> set[tuple[str, str]]:
    return {(f"PEX-{tx}", a["AttachmentId"]) for tx, atts in env.pex.attachments.items()
            for a in atts if f"PEX-{tx}" in refs and a["UploadStatus"] == "Loaded"}


def _listings(env, since: int) -> int:
    return sum(1 for r in env.xero.requests[since:] if r.method == "GET" and r.path.endswith("/Attachments"))


def _uploads(env, since: int) -> int:
    return sum(1 for r in env.xero.requests[since:] if r.method in ("PUT", "POST") and "/Attachments/" in r.path)


def test_receipts_added_in_pex_after_the_purchase_was_written_are_attached_by_the_next_sync(sandbox):
    env = sandbox
    frame = _frame(env)
    new = frame[(frame["status"] == NEW) & (frame["kind"] == "purchase")]
    refs = {f"PEX-{int(p)}" for p in new["pex_id"]}
    bare = next(int(p) for p in new["pex_id"] if int(p) not in env.pex.attachments)
    one = next(int(p) for p in new["pex_id"] if len(env.pex.attachments.get(int(p), [])) == 1
               and env.pex.attachments[int(p)][0]["UploadStatus"] == "Loaded")

    first = run_sync(env.conn)
    assert first["status"] == models.SUCCEEDED, first["message"]
    assert f"receipts attached: {first['receipts_attached']}" in first["message"]
    # the new purchases' receipts, and those of purchases in Xero already (with our marker) that had none there
    assert _wanted(env, refs) and _wanted(env, refs) <= set(_in_xero(env))
    assert first["receipts_attached"] == sum(_in_xero(env).values())

    late = _receipt(env, bare)  # a receipt on a purchase that had none when it was written
    second_one = _receipt(env, one)  # a second receipt on a purchase whose first one is attached
    mark = len(env.xero.requests)
    second = run_sync(env.conn)
    assert second["status"] == models.SUCCEEDED, second["message"]
    assert second["receipts_attached"] == 2 and "receipts attached: 2" in second["message"]
    held = _in_xero(env)
    assert held[(f"PEX-{bare}", late)] == 1 and held[(f"PEX-{one}", second_one)] == 1
    assert max(held.values()) == 1
    assert _uploads(env, mark) == 2
    assert _listings(env, mark) == 0  # decided from our own records and PEX's list: no look at Xero's list first
    attached = {(r["pex_id"], r["attachment_id"]) for r in env.conn.store.receipts(second["id"])
                if r["outcome"] == models.RECEIPT_ATTACHED}
    assert attached == {(bare, late), (one, second_one)}

    mark = len(env.xero.requests)
    third = run_sync(env.conn)
    assert third["status"] == models.SUCCEEDED and third["receipts_attached"] == 0
    assert _uploads(env, mark) == 0 and _listings(env, mark) == 0


def test_receipts_on_refunds_and_dispute_credits_go_on_their_receive_records(sandbox):
    env = sandbox
    frame = _frame(env)
    rows = {r["TransactionId"]: r for r in env.pex.transactions["cardholder"]}
    new = [int(p) for p in frame[frame["status"] == NEW]["pex_id"]]
    refund = next(p for p in new if rows.get(p, {}).get("TransactionTypeCategory") == "Refund")
    dispute = next(p for p in new if rows.get(p, {}).get("TransactionTypeCategory") == "Dispute")
    on_refund, on_dispute = _receipt(env, refund), _receipt(env, dispute)

    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    by_ref = {t["Reference"]: t for t in env.xero.bank_transactions(env.tenant_id)}
    assert by_ref[f"PEX-{refund}"]["Type"] == by_ref[f"PEX-{dispute}"]["Type"] == "RECEIVE"
    held = _in_xero(env)
    assert held[(f"PEX-{refund}", on_refund)] == 1 and held[(f"PEX-{dispute}", on_dispute)] == 1


def test_a_receipt_not_yet_loaded_in_pex_waits_and_is_attached_once_pex_has_it(sandbox):
    env = sandbox
    frame = _frame(env)
    tx = next(int(p) for p in frame[(frame["status"] == NEW) & (frame["kind"] == "purchase")]["pex_id"]
              if int(p) not in env.pex.attachments)
    pending = _receipt(env, tx, status="NotLoaded")
    first = run_sync(env.conn)
    assert first["status"] == models.SUCCEEDED, first["message"]
    rows = {(r["PEX id"], r["Receipt"]): r for r in receipt_rows(env.conn, first["id"])}
    assert rows[(tx, pending)]["Outcome"] == "waiting" and "NotLoaded" in rows[(tx, pending)]["Why"]
    assert (f"PEX-{tx}", pending) not in _in_xero(env)

    loaded = env.pex.attachments[tx][-1]
    content = files.png_receipt(lines=3)
    loaded.update(UploadStatus="Loaded", Content=base64.b64encode(content).decode("ascii"), Size=len(content))
    second = run_sync(env.conn)
    assert second["status"] == models.SUCCEEDED and second["receipts_attached"] == 1
    assert _in_xero(env)[(f"PEX-{tx}", pending)] == 1


def test_receipts_xero_cannot_take_are_reported_per_receipt_and_never_sent_again(sandbox):
    env = sandbox
    frame = _frame(env)
    bare = [int(p) for p in frame[(frame["status"] == NEW) & (frame["kind"] == "purchase")]["pex_id"]
            if int(p) not in env.pex.attachments]
    crowded, big = bare[0], bare[1]
    eleven = [_receipt(env, crowded) for _ in range(11)]
    too_big = _receipt(env, big, size=11 * 1024 * 1024)  # PEX says how big it is: not even downloaded

    run = run_sync(env.conn)
    assert run["status"] == models.PARTIAL, run["message"]
    assert "not attached: 2" in run["message"]
    held = _in_xero(env)
    assert sum(held[(f"PEX-{crowded}", a)] for a in eleven) == 10
    assert (f"PEX-{big}", too_big) not in held
    rows = {(r["PEX id"], r["Receipt"]): r for r in receipt_rows(env.conn, run["id"])}
    assert rows[(big, too_big)]["Outcome"] == "failed" and "10 MB" in rows[(big, too_big)]["Why"]
    assert rows[(crowded, eleven[-1])]["Outcome"] == "failed"
    assert "at most 10 attachments" in rows[(crowded, eleven[-1])]["Why"]
    downloads = [p for _, p, _ in env.pex.requests if p.endswith(f"/attachment/{too_big}")]
    assert downloads == []

    mark = len(env.xero.requests)
    again = run_sync(env.conn)
    assert again["status"] == models.SUCCEEDED, again["message"]
    assert _uploads(env, mark) == 0  # reported once; not sent again and again


def test_xeros_own_refusal_is_shown_in_its_words(sandbox):
    """Xero refuses a file our checks let through (here: the record already holds 10 attachments added by hand)."""
    env = sandbox
    frame = _frame(env)
    tx = next(int(p) for p in frame[(frame["status"] == NEW) & (frame["kind"] == "purchase")]["pex_id"]
              if int(p) not in env.pex.attachments)
    first = run_sync(env.conn)
    assert first["status"] == models.SUCCEEDED
    xero_id = next(t["BankTransactionID"] for t in env.xero.bank_transactions(env.tenant_id)
                   if t["Reference"] == f"PEX-{tx}")
    with env.xero._lock:
        for n in range(10):
            env.xero.books[env.tenant_id].put_attachment(xero_id, f"scan-{n}.pdf", "application/pdf", b"%PDF-1.4",
                                                         env.xero.url)
    late = _receipt(env, tx)
    run = run_sync(env.conn)
    assert run["status"] == models.PARTIAL
    rows = {(r["PEX id"], r["Receipt"]): r for r in receipt_rows(env.conn, run["id"])}
    assert rows[(tx, late)]["Outcome"] == "failed" and "at most 10 attachments" in rows[(tx, late)]["Why"]
    assert "Xero refused" in rows[(tx, late)]["Why"]


def test_an_upload_xero_committed_then_dropped_is_looked_up_not_sent_twice(sandbox):
    env = sandbox
    frame = _frame(env)
    refs = {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}
    env.xero.faults.queue("commit_then_drop", method="PUT", path_contains="/Attachments/", count=60)
    env.conn.xero_factory = _impatient(env)
    env.conn.reset_clients()
    first = run_sync(env.conn)
    assert first["status"] == models.PARTIAL, first["message"]
    open_uploads = [i for i in env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) if i["endpoint"] == "attachment"]
    assert len(open_uploads) == 1  # the one in doubt: Xero has it, its answer never came
    doubt = json.loads(open_uploads[0]["body"])
    env.xero.faults.clear()

    mark = len(env.xero.requests)
    again = run_sync(env.conn)
    assert again["status"] == models.SUCCEEDED, again["message"]
    rerun = [(r.method, r.path) for r in env.xero.requests[mark:]]
    assert ("GET", f"/api.xro/2.0/BankTransactions/{doubt['xero_parent_id']}/Attachments") in rerun  # looked up
    assert not [p for m, p in rerun if m == "PUT" and p.endswith("/" + doubt["file_name"])]  # found: not resent
    held = _in_xero(env)
    assert max(held.values()) == 1 and _wanted(env, refs) <= set(held)
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=env.tenant_id) == []


def _impatient(env):
    """A gateway whose waits are recorded, not slept (the dropped uploads are retried at once)."""
    from pexxero.clients.xero import XeroGateway
    from pexxero.sandbox import demo

    return lambda c: XeroGateway(demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET, c.store.token_keeper(c.connection_id),
                                 c.tenant_id() or None, endpoints=c.endpoints, minute_limit=100_000,
                                 sleep=lambda seconds: None)
