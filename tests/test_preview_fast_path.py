"""The preview's fast paths give exactly what the plain ones give, on the sandbox demo business: the plan's JSON
text (the Idempotency-Key is derived from it), and mapping that reuses its lookups across rows."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import date
from decimal import Decimal

from pexxero import mapping, models


def _demo(sandbox):
    conn = sandbox.conn
    setup = conn.setup()
    start, end = conn.date_range(setup, sandbox.today)
    conn.refresh_pex(today=sandbox.today)
    return conn, setup, conn.reference(setup), conn.pex_transactions(start, end)


def test_plan_json_is_the_text_the_plain_encoder_gives(sandbox):
    conn, setup, ref, transactions = _demo(sandbox)
    records = [r.planned for r in mapping.plan(transactions, setup, ref, today=sandbox.today) if r.planned]
    assert len(records) > 20 and any(line.tracking for r in records for line in r.lines)
    assert {r.record_type for r in records} == {"BankTransaction", "BankTransfer"}
    for record in records:
        text = models.planned_to_json(record)
        assert text == json.dumps(models._plain(record), sort_keys=True, separators=(",", ":"))
        assert models.planned_from_json(text) == record


def test_plan_json_names_every_field_of_a_planned_record():
    record = models.PlannedRecord(pex_id=1, kind=models.PURCHASE, record_type="BankTransaction",
                                  date=date(2026, 1, 2),
                                  total=Decimal("1.50"), reference="PEX-1", url="u",
                                  lines=(models.Line("d", Decimal("1.50"), "400",
                                                     (models.Tracking("c", "o"),)),))
    data = json.loads(models.planned_to_json(record))
    assert set(data) == {f.name for f in fields(models.PlannedRecord)}
    assert set(data["lines"][0]) == {f.name for f in fields(models.Line)}
    assert set(data["lines"][0]["tracking"][0]) == {f.name for f in fields(models.Tracking)}


def test_mapping_many_rows_at_once_matches_mapping_each_alone(sandbox):
    conn, setup, ref, transactions = _demo(sandbox)
    together = mapping.plan(transactions, setup, ref, today=sandbox.today)
    alone = [mapping.plan([tx], setup, ref, today=sandbox.today)[0] for tx in transactions]
    assert together == alone
    assert {r.status for r in together} >= {None, models.SKIPPED, models.BLOCKED}
