"""PEX and Xero text is shown as text on every page (AppTest).

The doubles' data is planted with markdown and HTML — a link, **bold**, <script>, :red[…], $math$ — in the Xero
organisation name, Xero contact names on records, PEX merchant names, descriptions and cardholder names, and run
messages. No element that renders markdown (markdown, captions, alerts, toasts, titles, labels, help, progress
text, radio options…) may carry any of it unescaped; the planted text itself is shown in text and dataframe cells.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from google.protobuf.message import Message
from page_helpers import ESCAPED, app, button, connected, fake_run, no_exception, page_doubles, read, set_up

from pexxero import models
from pexxero.sandbox import demo

LINK = "[Re-connect Xero here](http://evil.example)"
BOLD = "**Paid in full**"
SCRIPT = "<script>alert(1)</script>"
RED = ":red[URGENT]"
MATH = "$x^2$"
# what must never reach a markdown element as such (each is part of one planted value)
MARKERS = ("](http", "evil.example", "**Paid", "<script", ":red[", "$x^2$")

ORGANISATION = f"Outdoor {BOLD} {SCRIPT}"
CONTACT = f"Supplier {LINK}"
MERCHANT_TAIL = f" {RED} {MATH}"
CARDHOLDER = f"Ann {SCRIPT}"

# fields that Streamlit shows as plain text whatever they hold
PLAIN_FIELDS = {("Text", "body"), ("Code", "code_text"), ("Selectbox", "options"), ("Selectbox", "raw_value"),
                ("MultiSelect", "options"), ("MultiSelect", "raw_values"), ("TextInput", "value"),
                ("TextInput", "default")}
PLAIN_MESSAGES = {"Arrow", "ArrowVegaLiteChart", "VegaLiteChart", "PlotlyChart", "DataFrame"}


def plant(doubles) -> None:
    doubles.xero.oauth.tenants[demo.TENANT_ID] = ORGANISATION
    books = doubles.xero.books[demo.TENANT_ID]
    books.organisation["Name"] = books.organisation["LegalName"] = ORGANISATION
    for record in books.bank_transactions.values():
        if record.get("Contact", {}).get("Name"):
            record["Contact"]["Name"] = CONTACT
    for ledger in doubles.pex.transactions.values():
        for row in ledger:
            if row.get("MerchantName"):
                row["MerchantName"] += MERCHANT_TAIL
                row["MerchantNameNormalized"] = (row.get("MerchantNameNormalized") or "") + MERCHANT_TAIL
            row["Description"] = f"{row.get('Description') or ''} {BOLD}"
    for holder in doubles.pex.account_details["CHAccountList"]:
        holder["FirstName"] = CARDHOLDER
    ledger = doubles.pex.transactions["cardholder"]
    broken = dict(ledger[-1], TransactionId=None, Description=f"Refund {LINK}")  # no id: listed as unreadable
    ledger.append(broken)


@pytest.fixture(scope="module")
def doubles():
    """This module's doubles carry the planted text (overrides the conftest fixture of the same name)."""
    with page_doubles() as sb:
        plant(sb)
        yield sb


def _strings(message: Message, owner: str):
    for field, value in message.ListFields():
        repeated = hasattr(value, "__len__") and not isinstance(value, (str, bytes, Message))
        values = list(value) if repeated else [value]
        for item in values:
            if isinstance(item, Message):
                if type(item).__name__ not in PLAIN_MESSAGES:
                    yield from _strings(item, type(item).__name__)
            elif isinstance(item, str) and (owner, field.name) not in PLAIN_FIELDS:
                yield owner, field.name, item


def rendered_as_markdown(at) -> list[tuple[str, str, str]]:
    """Every string on the page that Streamlit renders as markdown (or could): element bodies, labels, help…"""
    found = []
    for node in at:
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message) and type(proto).__name__ not in PLAIN_MESSAGES:
            found += list(_strings(proto, type(proto).__name__))
    return found


def assert_no_planted_markup(at) -> None:
    """No marker survives once backslash-escaped characters (which render as themselves) are taken out."""
    leaks = [(owner, name, text) for owner, name, text in rendered_as_markdown(at)
             if any(marker in ESCAPED.sub("\x00", text) for marker in MARKERS)]
    assert not leaks, leaks


def plain_texts(at) -> str:
    return "\n".join(str(e.value) for e in at.text)


def frames(at) -> str:
    return "\n".join(e.value.to_csv(index=False) for e in at.dataframe)


def test_preview_shows_names_reasons_and_differences_as_text(page_env, doubles):
    set_up(page_env, doubles)
    at = app("preview").run()
    no_exception(at)
    assert_no_planted_markup(at)
    table = at.dataframe[-1].value
    assert (table["contact"].str.endswith(MERCHANT_TAIL)).any()  # per-merchant contacts carry the merchant's name
    assert table["merchant"].str.endswith(MERCHANT_TAIL).any()
    assert table["cardholder"].str.startswith(CARDHOLDER).any()
    assert table["differences"].str.contains(CONTACT, regex=False).any()  # the Xero contact beside PEX's
    assert f"Refund {LINK}" in plain_texts(at)  # the PEX row that could not be read, described as text

    for status in ("possible duplicate", "changed"):
        at.multiselect(key="pv_status").set_value([status]).run()
        no_exception(at)
        for pex_id in at.selectbox(key="pv_release_row").options[:3]:
            at.selectbox(key="pv_release_row").set_value(int(pex_id.split(" · ")[0])).run()
            no_exception(at)
            assert_no_planted_markup(at)
        assert CONTACT in plain_texts(at), plain_texts(at)  # the reason or the differences, as text


def test_connect_shows_the_organisation_name_as_text(page_env, doubles):
    connected(page_env, doubles)
    at = app("connect").run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert any(ORGANISATION in read(e.value) for e in at.success)
    assert ORGANISATION in at.selectbox(key="tenant_pick").options
    button(at, "CONFIRM").click().run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert any(ORGANISATION in read(e.value) for e in at.toast)


def test_setup_shows_the_organisation_and_names_in_messages_as_text(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.save_setup(replace(conn.setup(), fees=replace(conn.setup().fees, contact=CONTACT)))
    at = app("setup").run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert any(ORGANISATION in read(e.value) for e in at.markdown)
    at.radio[0].set_value(at.radio[0].options[6]).run()  # step 7: the fee contact, which Xero does not have
    no_exception(at)
    assert_no_planted_markup(at)
    assert any(CONTACT in read(e.value) for e in at.warning), [e.value for e in at.warning]
    button(at, "SAVE").click().run()
    assert_no_planted_markup(at)
    assert any(CONTACT in read(e.value) for e in at.error)


def test_sync_and_history_show_xero_messages_as_text(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    message = f"Xero said: the contact {CONTACT} is archived {BOLD} {RED} {MATH}"
    fake_run(conn, models.PARTIAL, [(1, models.CREATED), (2, models.ITEM_FAILED)], to_write=2, message=message)
    at = app("sync").run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert any(message in read(e.value) for e in at.warning)
    # said once, in the warning: the bar beside the status badge says only how far the run got
    assert not any(message in read(e.proto.text) for e in at if type(e).__name__ == "Progress")

    failed = fake_run(conn, models.FAILED, [(3, models.ITEM_FAILED)], to_write=1, message=message)
    at = app("sync").run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert any(message in read(e.value) for e in at.error)

    at = app("history").run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert message in frames(at)
    at.selectbox(key="history_run").set_value(failed).run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert isinstance(at.dataframe[-1].value, pd.DataFrame)


def test_tieout_shows_reasons_and_names_as_text(page_env, doubles):
    set_up(page_env, doubles)
    at = app("tieout").run()
    no_exception(at)
    assert_no_planted_markup(at)
    at.radio(key="to_mode").set_value("Range").run()  # the setup's whole range: it holds records changed in Xero
    button(at, "Tie out").click().run()
    no_exception(at)
    assert_no_planted_markup(at)
    assert CONTACT in frames(at)  # a changed record's contact, in the reason of its item, as a table cell
