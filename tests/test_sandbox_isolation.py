"""Two connections, two demo businesses whose data overlap (the same merchants and amounts on the same days), two
organisations seen by the same kind of consent: after both sync, each organisation holds exactly its own business's
records, each once, and no CSV, history row, log line or request of one connection touches the other's data."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

import pytest
from sandbox_env import open_two_businesses

from pexxero import history, models
from pexxero.models import NEW
from pexxero.sandbox import demo, second_business
from pexxero.sync import run_sync

pytestmark = pytest.mark.slow  # two whole syncs with receipts

ONLY_FIRST = ("MARRIOTT TORONTO", "PRET A MANGER")  # merchants the second business never buys from
ONLY_SECOND = tuple(m[0] for m in second_business.OWN_MERCHANTS)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _ids(env) -> set[int]:
    return {r["TransactionId"] for rows in env.business.transactions.values() for r in rows}


def _new(env) -> set[str]:
    frame = env.conn.preview(refresh=True).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """Both businesses synced, one after the other; what each sync sent and logged is kept apart."""
    with open_two_businesses(tmp_path_factory.mktemp("two")) as (a, b):
        before = {env.tenant_id: env.references() for env in (a, b)}
        expected, runs, marks, lines, pex_calls = {}, {}, {}, {}, {}
        for env in (a, b):
            expected[env.tenant_id] = _new(env)
            marks[env.tenant_id] = (len(env.xero.requests), len(a.business.requests), len(b.business.requests))
            handler = Lines()
            logging.getLogger().addHandler(handler)
            old_level = logging.getLogger().level
            logging.getLogger().setLevel(logging.DEBUG)
            try:
                runs[env.tenant_id] = run_sync(env.conn, from_preview=True)
            finally:
                logging.getLogger().removeHandler(handler)
                logging.getLogger().setLevel(old_level)
            lines[env.tenant_id] = handler.lines
            ends = (len(env.xero.requests), len(a.business.requests), len(b.business.requests))
            pex_calls[env.tenant_id] = tuple(e - s for e, s in zip(ends[1:], marks[env.tenant_id][1:]))
            marks[env.tenant_id] = (marks[env.tenant_id][0], ends[0])  # the sync's own Xero requests
        yield {"a": a, "b": b, "before": before, "expected": expected, "runs": runs, "marks": marks,
               "lines": lines, "pex_calls": pex_calls}


def check_the_two_businesses_really_overlap_in_xero(synced):
    a, b = synced["a"], synced["b"]

    def looks(env) -> Counter:
        return Counter((t["Date"], t["Total"], t["Contact"]["Name"]) for t in env.xero.bank_transactions(env.tenant_id)
                       if str(t.get("Reference", "")).startswith("PEX-") and t["Type"] == "SPEND")

    alike = looks(a) & looks(b)
    assert sum(alike.values()) >= 20  # the same contact, total and day in both organisations, under other ids


def check_each_sync_succeeded_and_wrote_its_own_business(synced):
    for env in (synced["a"], synced["b"]):
        run = synced["runs"][env.tenant_id]
        assert run["status"] == models.SUCCEEDED, run["message"]
        assert run["written"] == len(synced["expected"][env.tenant_id]) > 20


def check_each_organisation_holds_exactly_its_own_businesss_records_once(synced):
    a, b = synced["a"], synced["b"]
    for env, other in ((a, b), (b, a)):
        now = env.references()
        added = now - synced["before"][env.tenant_id]
        assert set(added) == synced["expected"][env.tenant_id] and set(added.values()) == {1}
        assert env.duplicates() == {}
        theirs = {f"PEX-{i}" for i in _ids(other)}
        assert set(now) & theirs == set()
        assert {int(ref[4:]) for ref in added} <= _ids(env)
    assert synced["before"][b.tenant_id] == Counter()  # the second organisation started empty


def check_each_receipt_went_to_its_own_organisation_once(synced):
    for env in (synced["a"], synced["b"]):
        env.assert_receipts_once()


def check_a_sync_never_reads_or_writes_the_other_organisation_or_business(synced):
    a, b = synced["a"], synced["b"]
    requests = a.xero.requests
    (a_start, a_end), (b_start, b_end) = synced["marks"][a.tenant_id], synced["marks"][b.tenant_id]
    during_a, during_b = requests[a_start:a_end], requests[b_start:b_end]
    assert during_a and during_b
    assert [r for r in during_a if (r.tenant_id or "").lower() == b.tenant_id] == []
    assert [r for r in during_b if (r.tenant_id or "").lower() == a.tenant_id] == []
    elsewhere = {id(r) for r in a.writes_elsewhere(since=a_start)}
    assert [r for r in during_a if id(r) in elsewhere] == []
    elsewhere = {id(r) for r in b.writes_elsewhere(since=b_start)}
    assert [r for r in during_b if id(r) in elsewhere] == []
    first_calls, second_calls = synced["pex_calls"][a.tenant_id]
    assert first_calls > 0 and second_calls == 0  # A's sync asked PEX only with A's token
    first_calls, second_calls = synced["pex_calls"][b.tenant_id]
    assert second_calls > 0 and first_calls == 0


def _csv(env) -> str:
    buffer = io.StringIO()
    env.conn.preview(refresh=True, save_plan=False).to_csv(buffer)
    return buffer.getvalue()


def _mentions(text: str, ids: set[int]) -> set[int]:
    return {int(n) for n in re.findall(r"\d{9}", text)} & ids


def check_neither_csv_shows_the_other_businesss_data(synced):
    a, b = synced["a"], synced["b"]
    csv_a, csv_b = _csv(a), _csv(b)
    assert _mentions(csv_a, _ids(a)) and _mentions(csv_b, _ids(b))  # each shows its own
    assert _mentions(csv_a, _ids(b)) == set() and _mentions(csv_b, _ids(a)) == set()
    assert not any(m in csv_a for m in ONLY_SECOND) and not any(m in csv_b for m in ONLY_FIRST)
    assert any(m in csv_b for m in ONLY_SECOND)


def check_neither_history_shows_the_other_businesss_data(synced):
    a, b = synced["a"], synced["b"]
    for env, other in ((a, b), (b, a)):
        runs = history.run_rows(env.conn)
        assert len(runs) == 1
        rows = history.item_rows(env.conn, env.conn.history()[0]["id"])
        receipts = history.receipt_rows(env.conn, env.conn.history()[0]["id"])
        shown = {int(r["PEX id"]) for r in rows} | {int(r["PEX id"]) for r in receipts}
        assert shown and shown <= _ids(env)
        assert _mentions(repr(runs) + repr(rows) + repr(receipts), _ids(other)) == set()


def check_no_log_line_of_one_sync_names_the_other(synced):
    a, b = synced["a"], synced["b"]
    for env, other in ((a, b), (b, a)):
        text = "\n".join(synced["lines"][env.tenant_id])
        assert _mentions(text, _ids(other)) == set()
        assert other.pex_token not in text and env.pex_token not in text  # no token in a log line, ever


def check_the_command_line_history_of_one_shows_only_its_own(synced):
    b = synced["b"]
    done = b.cli("history", "--run", str(b.conn.history()[0]["id"]))
    assert done.returncode == 0, done.stderr
    assert _mentions(done.stdout, _ids(b)) and _mentions(done.stdout, _ids(synced["a"])) == set()
    assert demo.TENANT_NAME not in done.stdout


def _page(name: str) -> str:
    """All a user reads on a page: its texts and every table, as one string."""
    from page_helpers import app, no_exception, texts

    at = app(name).run()
    no_exception(at)
    return texts(at) + "\n" + "\n".join(frame.value.to_csv() for frame in at.dataframe)


def check_no_page_of_one_connection_shows_the_others_data(synced, monkeypatch):
    from page_helpers import ROOT

    a, b = synced["a"], synced["b"]
    monkeypatch.chdir(ROOT)
    for env, other, theirs in ((a, b, ONLY_SECOND), (b, a, ONLY_FIRST)):
        monkeypatch.setenv("PEXXERO_DB", str(env.db_path))
        shown = {page: _page(page) for page in ("preview", "history")}
        assert _mentions(shown["preview"], _ids(env)) and _mentions(shown["history"], _ids(env))
        for page, text in shown.items():
            assert _mentions(text, _ids(other)) == set(), page
            assert not any(m in text for m in theirs), page
            assert other.conn.tenant_name() not in text, page


def test_two_connections_with_overlapping_data_stay_apart(synced, monkeypatch):
    """The checks above, in one test: the two syncs then run once, whichever worker runs it (pytest-xdist hands
    tests out one by one, and each worker would set the module's fixture up again)."""
    check_the_two_businesses_really_overlap_in_xero(synced)
    check_each_sync_succeeded_and_wrote_its_own_business(synced)
    check_each_organisation_holds_exactly_its_own_businesss_records_once(synced)
    check_each_receipt_went_to_its_own_organisation_once(synced)
    check_a_sync_never_reads_or_writes_the_other_organisation_or_business(synced)
    check_neither_csv_shows_the_other_businesss_data(synced)
    check_neither_history_shows_the_other_businesss_data(synced)
    check_no_log_line_of_one_sync_names_the_other(synced)
    check_the_command_line_history_of_one_shows_only_its_own(synced)
    check_no_page_of_one_connection_shows_the_others_data(synced, monkeypatch)
