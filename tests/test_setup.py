"""The setup TOML (import/export) and its validation against the live Xero and PEX lists."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pexxero.models import (
    ReferenceData,
    TagDefinition,
    TagOption,
    XeroAccount,
    XeroContact,
    XeroOrganisation,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from pexxero.sandbox import demo
from pexxero.setup import (
    STEPS,
    AccountOptions,
    ContactOptions,
    FeeOptions,
    FieldError,
    PexOptions,
    PurchaseOptions,
    Setup,
    SetupError,
    XeroOptions,
    step,
    step_of,
)
from pexxero.setup_checks import validate
from pexxero.setup_toml import from_toml, to_toml

TODAY = date(2026, 7, 1)


# ------------------------------------------------------------------ reference data from the demo JSON


def reference_from_json(accounts: list[dict], contacts: list[dict], tracking: list[dict], tags: list[dict],
                        organisation: dict | None = None) -> ReferenceData:
    """Xero and PEX JSON (as the doubles serve it) -> ReferenceData, so tests can edit the JSON first."""
    org = organisation or demo.organisation()
    return ReferenceData(
        accounts=tuple(
            XeroAccount(a["AccountID"], a["Code"], a["Name"], a["Type"], a.get("Status", "ACTIVE"),
                        a.get("CurrencyCode", ""), a.get("TaxType", ""))
            for a in accounts
        ),
        contacts=tuple(XeroContact(c["ContactID"], c["Name"], c.get("ContactStatus", "ACTIVE")) for c in contacts),
        tracking=tuple(
            XeroTrackingCategory(
                c["TrackingCategoryID"], c["Name"], c.get("Status", "ACTIVE"),
                tuple(XeroTrackingOption(o["TrackingOptionID"], o["Name"], o.get("Status", "ACTIVE"))
                      for o in c.get("Options", [])),
            )
            for c in tracking
        ),
        tags=tuple(
            TagDefinition(
                t["Id"], t["Name"], t["Type"], t.get("IsEnabled", True), t.get("IsDeleted", False),
                t.get("IsRequired", False),
                tuple(TagOption(o["Name"], o["Value"], o.get("Order", 0), o.get("IsEnabled", True))
                      for o in t.get("Options", [])),
                t.get("ConcurrencyKey", ""), raw=t,
            )
            for t in tags
        ),
        organisation=XeroOrganisation(org["OrganisationID"], org["Name"], org["BaseCurrency"]),
    )


def demo_json() -> dict:
    return {
        "accounts": demo.accounts(),
        "contacts": demo.contacts(),
        "tracking": demo.tracking_categories(),
        "tags": demo.pex_tag_definitions(),
    }


def demo_reference(edit=None) -> ReferenceData:
    """The demo business's lists; `edit(json)` may change the JSON first (archive an account, delete a tag)."""
    data = demo_json()
    if edit is not None:
        edit(data)
    return reference_from_json(**data)


def sandbox_toml(start_date: date) -> str:
    return demo.SANDBOX_SETUP_TOML.format(start_date=start_date.isoformat(), tenant_id=demo.TENANT_ID)


def good_setup() -> Setup:
    return from_toml(sandbox_toml(TODAY - timedelta(days=30)))


def _by(items: list[dict], key: str, value: str) -> dict:
    return next(i for i in items if i[key] == value)


# ------------------------------------------------------------------------------------------- parsing


def test_the_sandbox_toml_parses_into_the_seven_steps():
    s = good_setup()
    assert s.pex == PexOptions(start_date=TODAY - timedelta(days=30))
    assert s.xero == XeroOptions(demo.TENANT_ID, "EXPENSE TYPE", {"PROJECTS": "PROJECTS"})
    assert s.accounts == AccountOptions("090", "091", "EXPENSE TYPE", "429", "404", "260")
    assert s.purchases == PurchaseOptions(True, "NoTax", "ITEM NOTES", {"PROJECTS": "PROJECTS"})
    assert s.contacts == ContactOptions("per_merchant", "PEX", True)
    assert s.fees == FeeOptions("PEX TX FEES", {"PROJECTS": "Overhead"})


def test_the_sandbox_setup_is_valid_against_the_demo_business():
    assert validate(good_setup(), demo_reference(), today=TODAY) == []


def test_an_empty_file_is_the_default_setup():
    assert from_toml("") == Setup()


def test_dates_may_be_written_as_strings_and_empty_means_none():
    s = from_toml('[pex]\nstart_date = "2026-06-01"\nend_date = ""\n')
    assert (s.pex.start_date, s.pex.end_date) == (date(2026, 6, 1), None)


def test_invalid_toml_is_refused_with_its_line_number():
    text = "[pex]\npurchases = true\nstart_date = 2026-13-45\n"
    with pytest.raises(SetupError) as caught:
        from_toml(text)
    assert "line 3" in str(caught.value)
    assert "not valid TOML" in str(caught.value)


@pytest.mark.parametrize(
    "text, field_name, fragment",
    [
        ("[pex]\npurchases = \"yes\"\n", "pex.purchases", "true/false"),
        ("[pex]\nstart_date = 2026-06-01T10:00:00\n", "pex.start_date", "date"),
        ("[pex]\nstart_date = \"June 1\"\n", "pex.start_date", "date"),
        ("[pex]\nstrat_date = 2026-06-01\n", "pex.strat_date", "unknown setting"),
        ("[acounts]\npex_cash = \"091\"\n", "acounts", "unknown section"),
        ("[accounts]\npex_cash = 91\n", "accounts.pex_cash", "text"),
        ("[fees]\ntracking = { PROJECTS = 1 }\n", "fees.tracking", "table of names"),
        ("pex = 1\n", "pex", "[table]"),
        ("[pex]\npost_date = \"posted\"\n", "pex.post_date", "'settlement'"),
        ("[purchases]\nline_amounts = \"Exclusive\"\n", "purchases.line_amounts", "'Inclusive'"),
        ("[contacts]\nmode = \"each\"\n", "contacts.mode", "'per_merchant'"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_naming_the_field(text, field_name, fragment):
    with pytest.raises(SetupError) as caught:
        from_toml(text)
    assert [e.field for e in caught.value.errors] == [field_name]
    assert fragment in caught.value.errors[0].message


def test_setup_error_lists_every_error():
    with pytest.raises(SetupError) as caught:
        from_toml("[pex]\npurchases = 1\nfees = 2\n")
    assert str(caught.value).splitlines() == [str(e) for e in caught.value.errors]
    assert {e.field for e in caught.value.errors} == {"pex.purchases", "pex.fees"}


# ------------------------------------------------------------------------------------------ exporting


def test_export_uses_the_product_format():
    text = to_toml(good_setup())
    sections = [line for line in text.splitlines() if line.startswith("[")]
    assert [s.split("]")[0] + "]" for s in sections] == [
        "[pex]", "[xero]", "[xero_fields]", "[accounts]", "[purchases]", "[contacts]", "[fees]",
    ]
    assert 'expense_accounts = "EXPENSE TYPE"' in text
    assert 'end_date = ""' in text  # None is written as an empty string, meaning "not set"
    assert f"start_date = {(TODAY - timedelta(days=30)).isoformat()}" in text  # a real TOML date


names = st.text(min_size=0, max_size=20)
maps = st.dictionaries(st.text(min_size=1, max_size=12), names, max_size=3)
dates = st.none() | st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
setups = st.builds(
    Setup,
    pex=st.builds(PexOptions, purchases=st.booleans(), approved_only=st.booleans(), fees=st.booleans(),
                  transfers=st.booleans(), rebates=st.booleans(), start_date=dates, end_date=dates,
                  post_date=st.sampled_from(["transaction", "settlement"])),
    xero=st.builds(XeroOptions, tenant_id=names, expense_accounts_tag=names, tracking_tags=maps),
    accounts=st.builds(AccountOptions, source_cash=names, pex_cash=names, purchase_account_tag=names,
                       purchase_default_account=names, fee_account=names, rebate_account=names),
    purchases=st.builds(PurchaseOptions, attachments=st.booleans(), line_amounts=st.sampled_from(["NoTax", "Inclusive"]),
                        description_tag=names, tracking=maps),
    contacts=st.builds(ContactOptions, mode=st.sampled_from(["per_merchant", "single"]), single_contact=names,
                       standardize_merchant_names=st.booleans()),
    fees=st.builds(FeeOptions, contact=names, tracking=maps),
)


@settings(max_examples=150, deadline=None)
@given(setups)
def test_export_then_import_gives_back_the_same_setup(setup):
    assert from_toml(to_toml(setup)) == setup


# ----------------------------------------------------------------------------------------- validation


def _refusals(setup: Setup, ref: ReferenceData | None = None, today: date = TODAY) -> dict[str, str]:
    return {e.field: e.message for e in validate(setup, ref or demo_reference(), today=today)}


def _accounts(**changes) -> Setup:
    s = good_setup()
    return replace(s, accounts=replace(s.accounts, **changes))


@pytest.mark.parametrize(
    "setup, field_name, fragment",
    [
        (_accounts(fee_account="477"), "accounts.fee_account", "477 (Old Fuel Account) is archived"),
        (_accounts(rebate_account="999"), "accounts.rebate_account", "no Xero account has the code '999'"),
        (_accounts(purchase_default_account=""), "accounts.purchase_default_account", "required"),
        (_accounts(pex_cash="092"), "accounts.pex_cash", "is in EUR: PEX Cash must be a USD bank account"),
        (_accounts(pex_cash="429"), "accounts.pex_cash", "is a EXPENSE account: pick a bank account"),
        (_accounts(source_cash="453"), "accounts.source_cash", "pick a bank account"),
        (_accounts(source_cash="091"), "accounts.pex_cash", "same account as accounts.source_cash"),
        (_accounts(purchase_account_tag="ITEM NOTES"), "accounts.purchase_account_tag", "needs a dropdown tag"),
        (_accounts(purchase_account_tag="EXPENSES"), "accounts.purchase_account_tag", "no PEX tag is named"),
    ],
)
def test_account_options_are_checked_against_the_chart_of_accounts(setup, field_name, fragment):
    refused = _refusals(setup)
    assert field_name in refused, refused
    assert fragment in refused[field_name]


def test_archiving_an_account_in_xero_refuses_the_setup_that_uses_it():
    ref = demo_reference(lambda d: _by(d["accounts"], "Code", "091").update(Status="ARCHIVED"))
    refused = _refusals(good_setup(), ref)
    assert list(refused) == ["accounts.pex_cash"]
    assert "archived" in refused["accounts.pex_cash"] and "091" in refused["accounts.pex_cash"]


def test_a_deleted_tag_is_refused_everywhere_it_is_used():
    ref = demo_reference(lambda d: _by(d["tags"], "Name", "EXPENSE TYPE").update(IsDeleted=True))
    refused = _refusals(good_setup(), ref)
    assert set(refused) == {"xero_fields.expense_accounts", "accounts.purchase_account_tag"}
    assert all("'EXPENSE TYPE' is deleted" in m for m in refused.values())


def test_accounts_not_needed_by_switched_off_kinds_are_not_required():
    s = good_setup()
    s = replace(s, pex=replace(s.pex, transfers=False, fees=False, rebates=False),
                accounts=replace(s.accounts, source_cash="", fee_account="", rebate_account=""),
                fees=replace(s.fees, contact=""))
    assert _refusals(s) == {}


def _purchases(**changes) -> Setup:
    s = good_setup()
    return replace(s, purchases=replace(s.purchases, **changes))


@pytest.mark.parametrize(
    "setup, field_name, fragment",
    [
        (_purchases(description_tag="PROJECTS"), "purchases.description_tag", "is a Dropdown tag: this field needs a text tag"),
        (_purchases(description_tag="item notes"), "purchases.description_tag", "did you mean 'ITEM NOTES'?"),
        (_purchases(tracking={"REGION": "PROJECTS"}), "purchases.tracking.REGION", "no Xero tracking category is named 'REGION'"),
        (_purchases(tracking={"FUEL": "ITEM NOTES"}), "purchases.tracking.FUEL", "needs a dropdown tag"),
        (_purchases(tracking={"FUEL": ""}), "purchases.tracking.FUEL", "required"),
        (_purchases(tracking={"Cost Centre": "PROJECTS"}), 'purchases.tracking."Cost Centre"', "tracking category"),
    ],
)
def test_purchase_options_are_checked_against_tags_and_tracking(setup, field_name, fragment):
    refused = _refusals(setup)
    assert field_name in refused, refused
    assert fragment in refused[field_name]


def test_xero_fields_need_known_categories_and_dropdown_tags():
    s = good_setup()
    s = replace(s, xero=replace(s.xero, expense_accounts_tag="RECEIPT OK", tracking_tags={"FUEL": "FUEL", "SITE": "PROJECTS"}))
    refused = _refusals(s)
    assert set(refused) == {"xero_fields.expense_accounts", "xero_fields.tracking.SITE"}
    assert "YesNo" in refused["xero_fields.expense_accounts"]


@pytest.mark.parametrize(
    "contacts, fees, field_name, fragment",
    [
        (ContactOptions(mode="single", single_contact=""), None, "contacts.single_contact", "required"),
        (ContactOptions(mode="single", single_contact="Ghost"), None, "contacts.single_contact", "no Xero contact is named 'Ghost'"),
        (None, FeeOptions(contact=""), "fees.contact", "required"),
        (None, FeeOptions(contact="pex tx fees"), "fees.contact", "did you mean 'PEX TX FEES'?"),
        (None, FeeOptions(contact="PEX TX FEES", tracking={"PROJECTS": "Gamma Site"}), "fees.tracking.PROJECTS",
         "'Gamma Site' is not an option of Xero tracking category 'PROJECTS': pick one of Alpha Site, Beta Site, Overhead"),
        (None, FeeOptions(contact="PEX TX FEES", tracking={"SITE": "Overhead"}), "fees.tracking.SITE", "no Xero tracking category"),
    ],
)
def test_contacts_and_fee_options_are_checked(contacts, fees, field_name, fragment):
    s = good_setup()
    s = replace(s, contacts=contacts or s.contacts, fees=fees or s.fees)
    refused = _refusals(s)
    assert list(refused) == [field_name]
    assert fragment in refused[field_name]


def test_an_archived_contact_or_tracking_option_is_refused():
    def edit(d):
        _by(d["contacts"], "Name", "PEX TX FEES").update(ContactStatus="ARCHIVED")
        _by(_by(d["tracking"], "Name", "PROJECTS")["Options"], "Name", "Overhead").update(Status="ARCHIVED")

    refused = _refusals(good_setup(), demo_reference(edit))
    assert set(refused) == {"fees.contact", "fees.tracking.PROJECTS"}
    assert "archived" in refused["fees.contact"] and "archived" in refused["fees.tracking.PROJECTS"]


def _dates(start, end=None) -> Setup:
    s = good_setup()
    return replace(s, pex=replace(s.pex, start_date=start, end_date=end))


def test_start_date_is_required_and_at_most_365_days_back():
    assert "required" in _refusals(_dates(None))["pex.start_date"]
    assert _refusals(_dates(TODAY - timedelta(days=365))) == {}
    refused = _refusals(_dates(TODAY - timedelta(days=366)))
    assert list(refused) == ["pex.start_date"]
    assert f"pick {TODAY - timedelta(days=365)} or later" in refused["pex.start_date"]


def test_a_start_date_after_today_is_refused():
    assert _refusals(_dates(TODAY)) == {}
    refused = _refusals(_dates(TODAY + timedelta(days=1)))
    assert list(refused) == ["pex.start_date"]
    assert f"is after today ({TODAY})" in refused["pex.start_date"]


@pytest.mark.parametrize("field_name", ["purchase_default_account", "fee_account", "rebate_account"])
@pytest.mark.parametrize("code", ["091", "090"], ids=["pex-cash-itself", "another-bank-account"])
def test_a_bank_account_is_refused_as_a_line_account(field_name, code):
    refused = _refusals(_accounts(**{field_name: code}))
    assert list(refused) == [f"accounts.{field_name}"], refused
    assert "is a bank account" in refused[f"accounts.{field_name}"]
    assert ("PEX Cash itself" in refused[f"accounts.{field_name}"]) == (code == "091")


@pytest.mark.parametrize("section, fields, field_name, limit", [
    ("contacts", {"mode": "single", "single_contact": "C" * 100_000}, "contacts.single_contact", 255),
    ("fees", {"contact": "F" * 256}, "fees.contact", 255),
    ("accounts", {"fee_account": "4" * 11}, "accounts.fee_account", 10),
    ("xero", {"tenant_id": "t" * 100_000}, "xero.tenant_id", 36),
    ("purchases", {"description_tag": "T" * 100_000}, "purchases.description_tag", 255),
    ("fees", {"tracking": {"PROJECTS": "O" * 101}}, "fees.tracking.PROJECTS", 100),
])
def test_a_value_longer_than_xero_takes_is_refused_naming_the_field(section, fields, field_name, limit):
    s = good_setup()
    setup = replace(s, **{section: replace(getattr(s, section), **fields)})
    refused = _refusals(setup)
    assert list(refused) == [field_name], refused
    assert f"at most {limit} characters" in refused[field_name]
    assert len(refused[field_name]) < 200  # the value itself is not repeated in full


def test_end_date_before_start_is_refused():
    refused = _refusals(_dates(TODAY - timedelta(days=10), TODAY - timedelta(days=11)))
    assert list(refused) == ["pex.end_date"]


def test_enum_values_are_checked_on_a_setup_built_in_code():
    s = good_setup()
    s = replace(s, pex=replace(s.pex, post_date="posted"), contacts=replace(s.contacts, mode="one"))
    assert set(_refusals(s)) == {"pex.post_date", "contacts.mode"}


def test_field_errors_print_as_field_and_message():
    assert str(FieldError("accounts.pex_cash", "is archived")) == "accounts.pex_cash: is archived"


# -------------------------------------------------------------------------------------- the seven steps


def test_the_seven_steps_are_the_vendor_guides():
    assert [s.title for s in STEPS] == [
        "Xero Connection", "PEX Sync Options", "Xero Sync Options", "Account Options", "Purchase Options",
        "Purchase Contact Options", "Fee Options",
    ]
    assert step(4).fields[1] == "accounts.pex_cash"
    with pytest.raises(ValueError):
        step(8)


def test_every_setting_of_the_toml_belongs_to_exactly_one_step():
    import tomllib

    exported = tomllib.loads(to_toml(good_setup()))
    fields = [f"{section}.{key}" for section, keys in exported.items() for key in keys]
    assert sorted(fields) == sorted(f for s in STEPS for f in s.fields)
    assert step_of("fees.tracking.PROJECTS") == 7
    assert step_of("xero_fields.tracking.FUEL") == 3
    assert step_of("nonsense") == 0


def test_validate_does_not_mutate_reference_data():
    data = demo_json()
    before = copy.deepcopy(data)
    validate(good_setup(), reference_from_json(**data), today=TODAY)
    assert data == before


def test_the_start_date_defaults_to_three_months_back_or_the_first_pex_activity_of_the_year():
    from pexxero.setup import default_start_date

    assert default_start_date(date(2026, 12, 1)) == date(2026, 9, 1)
    assert default_start_date(date(2026, 2, 15)) == date(2025, 11, 1)  # across the new year
    assert default_start_date(date(2026, 2, 15), date(2025, 6, 3)) == date(2025, 6, 3)  # PEX activity known
    assert default_start_date(date(2026, 2, 15), date(2024, 1, 1)) == date(2025, 11, 1)  # beyond a year: ignored


def test_problems_in_the_forms_words_name_the_fields_label():
    from pexxero.models import ReferenceData
    from pexxero.setup import Setup
    from pexxero.setup_checks import form_problem, validate

    problems = {e.field: e for e in validate(Setup(), ReferenceData(), today=date(2026, 6, 1))}
    pex_cash = problems["accounts.pex_cash"]
    assert "enter the code" in pex_cash.message  # the TOML file's words, for config import
    assert form_problem(pex_cash) == ("PEX cash account: required: pick the Xero bank account that stands for the "
                                      "PEX balance")
    assert form_problem(problems["fees.contact"]).startswith("Contact on fees: required: pick a Xero contact")
