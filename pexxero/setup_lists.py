"""The live lists the Setup page picks from, and the one write it makes: a new Xero contact.

The Setup page offers every Xero contact in a dropdown (step 6 and 7), so it reads Xero's whole contact list — one
call per 1,000 contacts (Xero's largest page) — where a preview or a sync looks up only the names the setup holds
(one call per 25 names). For a business with up to 1,000 contacts that is the same single call the by-name look-up
made; the Setup page keeps the lists five minutes, so paging through the steps reads nothing again.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Optional

from pexxero.errors import PexxeroError
from pexxero.models import ReferenceData, XeroContact
from pexxero.setup import CONTACT_NAME_MAX, Setup


class ContactNotCreated(PexxeroError):
    """Xero refused a new contact (or the name is not one Xero takes): its words say why."""


def setup_reference(conn, setup: Optional[Setup] = None) -> ReferenceData:
    """`Connection.reference` with all of Xero's contacts (archived included, so validation can say a picked
    contact was archived) in place of the setup's own names alone."""
    setup = setup or Setup()
    # no by-name look-up of the setup's contacts: the whole list below holds them
    ref = conn.reference(replace(setup, fees=replace(setup.fees, contact=""),
                                 contacts=replace(setup.contacts, single_contact="")))
    return replace(ref, contacts=tuple(conn.xero().contacts()))


def contact_choices(ref: ReferenceData) -> list[str]:
    """The names of Xero's active contacts, sorted as a reader looks for them (case ignored), each once."""
    names = {c.name for c in ref.contacts if c.status == "ACTIVE" and c.name}
    return sorted(names, key=lambda n: (n.casefold(), n))


def create_contact(conn, name: str) -> XeroContact:
    """Create the contact `name` in Xero, once: a second click (or a retry after a lost answer) carries the same
    Idempotency-Key, so Xero answers with the first contact instead of making another."""
    name = " ".join(name.split())
    if not name:
        raise ContactNotCreated("the contact has no name", "type the name of the new Xero contact")
    if len(name) > CONTACT_NAME_MAX:
        raise ContactNotCreated(f"the name is {len(name):,} characters long",
                                f"a Xero contact name is at most {CONTACT_NAME_MAX} characters: shorten it")
    xero = conn.xero()
    existing = [c for c in xero.contacts([name]) if c.name.casefold() == name.casefold()]
    if existing:
        return existing[0]
    key = "setup-contact-" + hashlib.sha256(f"{conn.tenant_id()}\n{name}".encode("utf-8")).hexdigest()[:32]
    (result,) = xero.create_contacts([name], key)
    if not result.ok or not result.xero_id:
        raise ContactNotCreated(f"Xero did not create the contact {name!r}",
                                "; ".join(result.messages) or "try again, or create it in Xero")
    return XeroContact(contact_id=result.xero_id, name=name)
