"""Connector Setup: the vendor guide's seven steps as a guided form (BACK / NEXT / SAVE), TOML import and export.

The form edits a draft `Setup` kept in the session; only SAVE (after validation against the live Xero and PEX
lists) stores it. Choices come from `conn.reference()`; every rule lives in `pexxero.setup`, `setup_toml` and
`setup_checks`.
"""

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import context, widgets
from pexxero import setup as setup_mod
from pexxero import setup_lists, views
from pexxero.connection import today_eastern
from pexxero.setup import STEPS, Setup, SetupError
from pexxero.setup_checks import form_problem, validate
from pexxero.setup_toml import from_toml, to_toml

widgets.header("Connector Setup")
conn = context.connection()
if not widgets.need_connections(conn, setup=False):
    st.stop()

NOT_SYNCED = ""


# ------------------------------------------------------------------------------------------- the draft

saved = conn.saved_setup()
if "setup_draft" not in st.session_state or st.session_state.get("setup_db") != context.scope():
    st.session_state.setup_draft = saved or Setup()
    st.session_state.setup_db = context.scope()
    st.session_state.setup_step = 1
    st.session_state.pop("setup_checked", None)
draft: Setup = st.session_state.setup_draft
if draft.xero.tenant_id != conn.tenant_id():  # step 1 is the organisation picked on the Connect page
    draft = replace(draft, xero=replace(draft.xero, tenant_id=conn.tenant_id()))


@st.cache_data(ttl=300, show_spinner="Reading the lists from Xero and PEX…")
def _reference(db: str, tenant: str, _conn, _setup):
    """Live lists, read at most every five minutes per organisation (each read costs Xero API calls), with all
    of Xero's contacts for the contact pickers (setup_lists explains the calls)."""
    return setup_lists.setup_reference(_conn, _setup)


reference = None
with widgets.guard():
    if st.session_state.pop("setup_reload_lists", False):
        _reference.clear()
    reference = _reference(context.scope(), conn.tenant_id(), conn, draft)
if reference is None:
    st.stop()

today = today_eastern()
# A step's problems are shown once it was checked (NEXT on it, or SAVE), not before anything was touched; a saved
# setup was checked when it was saved, so an edit that breaks it is said at once.
if "setup_checked" not in st.session_state:
    st.session_state.setup_checked = set(range(1, len(STEPS) + 1)) if saved is not None else set()
checked: set = st.session_state.setup_checked
errors = validate(draft, reference, today=today)
errors_by_step: dict[int, list] = {}
for error in errors:
    errors_by_step.setdefault(setup_mod.step_of(error.field), []).append(error)

# ------------------------------------------------------------------------------------- shortcuts

with st.sidebar.expander("Import / export the setup", expanded=False):
    upload = st.file_uploader("Import a setup TOML", type=["toml"], key="setup_upload")
    if upload is not None and st.session_state.get("setup_uploaded") != upload.file_id:
        st.session_state.setup_uploaded = upload.file_id
        try:
            imported = from_toml(upload.getvalue().decode("utf-8", "replace"))
        except SetupError as exc:
            st.session_state.setup_import_errors = [str(e) for e in exc.errors]
        else:
            st.session_state.setup_import_errors = []
            st.session_state.setup_draft = replace(imported, xero=replace(imported.xero, tenant_id=conn.tenant_id()))
            st.session_state.setup_checked = set(range(1, len(STEPS) + 1))  # a whole file: say what it lacks
            st.session_state.setup_notice = "Imported: check the steps, then SAVE."
            st.rerun()
    st.download_button("Export the setup (TOML)", to_toml(draft), file_name="pexxero-setup.toml",
                       mime="application/toml", key="setup_export")
if st.session_state.get("setup_import_errors"):
    st.error("The file was not imported:\n\n"
             + "\n".join(f"- {widgets.plain(e)}" for e in st.session_state.setup_import_errors))

if context.is_sandbox():
    if st.button("Use the demo setup", help="The sandbox business's complete setup, saved at once"):
        demo = __import__("pexxero.sandbox.seed", fromlist=["sandbox_setup"]).sandbox_setup(today)
        demo = replace(demo, xero=replace(demo.xero, tenant_id=conn.tenant_id()))
        conn.save_setup(demo)
        st.session_state.setup_draft = demo
        st.session_state.setup_checked = set(range(1, len(STEPS) + 1))  # saved: an edit that breaks it is said
        st.session_state.setup_notice = "The demo setup is saved."
        st.rerun()
if st.session_state.get("setup_notice"):
    st.success(st.session_state.pop("setup_notice"))

# ------------------------------------------------------------------------------------------- progress

number = st.session_state.setup_step
titles = [f"{s.number}. {s.title}" + (" ⚠️" if errors_by_step.get(s.number) and s.number in checked else "")
          for s in STEPS]
picked = st.radio("Step", titles, index=number - 1, horizontal=True, label_visibility="collapsed",
                  key=f"setup_picker_{number}")
if titles.index(picked) + 1 != number:
    st.session_state.setup_step = titles.index(picked) + 1
    st.rerun()
st.progress(number / len(STEPS), text=f"Step {number} of {len(STEPS)}: {STEPS[number - 1].title}")
if saved is None:
    st.caption("Not saved yet: SAVE stores the setup once every step checks out.")
elif saved == draft:
    st.caption("Saved. Changes are kept in this form until you SAVE.")
else:
    st.caption("Unsaved changes.")

# --------------------------------------------------------------------------------------------- lists

accounts = [a for a in reference.accounts if a.status == "ACTIVE"]
label = {a.code: views.account_label(a.code, {a.code: a.name}) for a in accounts}  # "429 · General Expenses"
bank_codes = [a.code for a in accounts if a.type == "BANK"]
other_codes = [a.code for a in accounts if a.type != "BANK"]
dropdown_tags = [t.name for t in reference.tags if t.type == "Dropdown" and t.is_enabled and not t.is_deleted]
text_tags = [t.name for t in reference.tags if t.type == "Text" and t.is_enabled and not t.is_deleted]
categories = [c for c in reference.tracking if c.status == "ACTIVE"]


def pick(title: str, choices: list[str], current: str, key: str, *, optional: bool = False, names=None, help=None):
    """A selectbox over live choices; a saved value that is no longer live stays visible (validation says why)."""
    options = ([NOT_SYNCED] if optional else []) + list(choices)
    if current not in options:
        options.append(current)
    shown = names or {}
    return st.selectbox(title, options, index=options.index(current), key=key, help=help,
                        format_func=lambda v: "(none)" if v == NOT_SYNCED else shown.get(v, v))


def mapping_editor(title: str, mapping: dict[str, str], choices: list[str], key: str, column: str) -> dict[str, str]:
    """A table with one row per active Xero tracking category; the right column picks from `choices`."""
    frame = pd.DataFrame({"Xero tracking category": [c.name for c in categories],
                          column: [mapping.get(c.name, "") for c in categories]})
    edited = st.data_editor(
        frame, key=key, hide_index=True, disabled=["Xero tracking category"], width="stretch",
        column_config={column: st.column_config.SelectboxColumn(column, options=[""] + choices)},
    )
    st.caption(title)
    return {row["Xero tracking category"]: row[column] for _, row in edited.iterrows() if row[column]}


LABELS = setup_mod.FORM_LABELS
NEW_CONTACT = "\u0000new"  # the picker's "create a new contact" entry: no Xero name can be it


def contact_pick(title: str, current: str, key: str) -> str:
    """A Xero contact from Xero's own list, or a new one created in Xero here (CREATE IN XERO)."""
    current = st.session_state.pop(key + "_made", None) or current  # just created: picked
    choices = setup_lists.contact_choices(reference)
    options = [NOT_SYNCED] + choices + ([current] if current and current not in choices else []) + [NEW_CONTACT]
    shown = {NOT_SYNCED: "(none)", NEW_CONTACT: "New contact…"}
    picked = st.selectbox(title, options, index=options.index(current), key=key,
                          format_func=lambda v: shown.get(v, v))
    if picked != NEW_CONTACT:
        return picked
    name, create = st.columns([3, 1], vertical_alignment="bottom")
    typed = name.text_input("Name of the new Xero contact", key=key + "_new")
    if create.button("CREATE IN XERO", key=key + "_create", disabled=not typed.strip()):
        with widgets.guard():
            made = setup_lists.create_contact(conn, typed)
            _reference.clear()  # the list now holds it
            st.session_state.pop(key, None)  # the picker starts again on the new name
            st.session_state.pop(key + "_new", None)
            st.session_state[f"{key}_made"] = made.name
            st.toast(f"Created in Xero: {widgets.plain(made.name)}")
            st.rerun()
    return current


# ---------------------------------------------------------------------------------------------- steps

k = f"s{number}_"  # widget keys per step: a step's widgets start from the draft each time it is shown
if number == 1:
    tenant = reference.organisation.name if reference.organisation else conn.tenant_id()
    st.markdown(f"Xero organisation: **{widgets.plain(tenant)}**")
    st.caption("Pick or change the organisation under Tenant Selection on the Connect page.")
elif number == 2:
    p = draft.pex
    left, right = st.columns(2)
    with left:
        purchases = st.checkbox("Sync purchases", p.purchases, key=k + "purchases")
        approved = st.checkbox("Only purchases approved in PEX", p.approved_only, key=k + "approved")
        fees = st.checkbox("Sync fees", p.fees, key=k + "fees")
        transfers = st.checkbox("Sync transfers (card funding)", p.transfers, key=k + "transfers")
        rebates = st.checkbox("Sync rebates", p.rebates, key=k + "rebates")
    with right:
        first = p.start_date or setup_mod.default_start_date(today, conn.earliest_pex_activity(today))
        start = st.date_input(LABELS["pex.start_date"], first, key=k + "start", max_value=today,
                              help="At most 365 days back. A new setup starts at the first PEX activity of the last "
                                   "year this computer has read, else the first of the month three months back.")
        open_end = st.checkbox("Until the day of each sync (no end date)", p.end_date is None, key=k + "open_end")
        end = None if open_end else st.date_input(LABELS["pex.end_date"], p.end_date or today, key=k + "end")
        post = st.radio("Post by", setup_mod.POST_DATES, index=setup_mod.POST_DATES.index(p.post_date)
                        if p.post_date in setup_mod.POST_DATES else 0, key=k + "post",
                        format_func=lambda v: f"{v} date", horizontal=True)
    draft = replace(draft, pex=replace(p, purchases=purchases, approved_only=approved, fees=fees,
                                       transfers=transfers, rebates=rebates, start_date=start, end_date=end,
                                       post_date=post))
elif number == 3:
    x = draft.xero
    tag = pick("PEX dropdown tag that receives the Xero expense accounts", dropdown_tags, x.expense_accounts_tag,
               k + "expense_tag", optional=True)
    tracking = mapping_editor("Each Xero tracking category copied into a PEX dropdown tag (leave empty: not synced)",
                              x.tracking_tags, dropdown_tags, k + "tracking", "PEX dropdown tag")
    draft = replace(draft, xero=replace(x, expense_accounts_tag=tag, tracking_tags=tracking))
elif number == 4:
    a = draft.accounts
    left, right = st.columns(2)
    with left:
        source = pick(LABELS["accounts.source_cash"], bank_codes, a.source_cash, k + "source", names=label,
                      optional=True)
        pex_cash = pick(LABELS["accounts.pex_cash"], bank_codes, a.pex_cash, k + "pex_cash", names=label, optional=True)
        tag = pick(LABELS["accounts.purchase_account_tag"], dropdown_tags, a.purchase_account_tag, k + "tag",
                   optional=True)
    with right:
        default = pick(LABELS["accounts.purchase_default_account"], other_codes, a.purchase_default_account, k + "default",
                       names=label, optional=True)
        fee = pick(LABELS["accounts.fee_account"], other_codes, a.fee_account, k + "fee", names=label, optional=True)
        rebate = pick(LABELS["accounts.rebate_account"], other_codes, a.rebate_account, k + "rebate", names=label, optional=True)
    draft = replace(draft, accounts=replace(a, source_cash=source, pex_cash=pex_cash, purchase_account_tag=tag,
                                            purchase_default_account=default, fee_account=fee,
                                            rebate_account=rebate))
elif number == 5:
    u = draft.purchases
    attachments = st.checkbox("Attach PEX receipts to the Xero records", u.attachments, key=k + "attachments")
    amounts = st.radio("Line amounts", setup_mod.LINE_AMOUNTS, horizontal=True, key=k + "amounts",
                       index=setup_mod.LINE_AMOUNTS.index(u.line_amounts)
                       if u.line_amounts in setup_mod.LINE_AMOUNTS else 0)
    description = pick("Description from the PEX text tag (none: the PEX description)", text_tags,
                       u.description_tag, k + "description", optional=True)
    tracking = mapping_editor("Xero tracking on purchases, read from a PEX tag", u.tracking, dropdown_tags,
                              k + "tracking", "PEX tag")
    draft = replace(draft, purchases=replace(u, attachments=attachments, line_amounts=amounts,
                                             description_tag=description, tracking=tracking))
elif number == 6:
    c = draft.contacts
    mode = st.radio("Contact on purchases", setup_mod.CONTACT_MODES, horizontal=True, key=k + "mode",
                    index=setup_mod.CONTACT_MODES.index(c.mode) if c.mode in setup_mod.CONTACT_MODES else 0,
                    format_func={"per_merchant": "One contact per merchant", "single": "One contact for all"}.get)
    single = contact_pick(LABELS["contacts.single_contact"], c.single_contact, k + "single")
    standard = st.checkbox("Use PEX's standardised merchant names", c.standardize_merchant_names, key=k + "std")
    draft = replace(draft, contacts=replace(c, mode=mode, single_contact=single,
                                            standardize_merchant_names=standard))
elif number == 7:
    f = draft.fees
    contact = contact_pick(LABELS["fees.contact"], f.contact, k + "contact")
    options = sorted({o.name for c in categories for o in c.options if o.status == "ACTIVE"})
    tracking = mapping_editor("A fixed tracking option on every fee", f.tracking, options, k + "tracking",
                              "Tracking option")
    draft = replace(draft, fees=replace(f, contact=contact, tracking=tracking))

st.session_state.setup_draft = draft

# the checks of this step once it was checked, in the form's words, naming the field by its label
step_errors = [e for e in validate(draft, reference, today=today) if setup_mod.step_of(e.field) == number]
if number in checked:
    for error in step_errors:
        st.warning(widgets.plain(form_problem(error)))

# -------------------------------------------------------------------------------------- BACK/NEXT/SAVE

back, nxt, save, _ = st.columns([1, 1, 1, 5])
if back.button("BACK", disabled=number == 1, width="stretch"):
    st.session_state.setup_step = number - 1
    st.rerun()
if nxt.button("NEXT", disabled=number == len(STEPS), width="stretch"):
    checked.add(number)
    if not step_errors:  # a step with problems stays, showing them; the step picker above still moves freely
        st.session_state.setup_step = number + 1
    st.rerun()
if save.button("SAVE", type="primary", width="stretch"):
    checked.update(range(1, len(STEPS) + 1))
    problems = validate(draft, reference, today=today)
    if problems:
        st.error("Not saved. Fix these first:\n\n" + "\n".join(
            f"- Step {setup_mod.step_of(e.field) or '?'} · {widgets.plain(form_problem(e))}" for e in problems))
    else:
        conn.save_setup(draft)
        st.session_state.setup_notice = "Setup saved."
        st.rerun()

if st.button("Reload the lists from Xero and PEX", type="tertiary"):
    st.session_state.setup_reload_lists = True
    st.rerun()
