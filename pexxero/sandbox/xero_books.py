"""One Xero organisation's books, in memory: reference data, records, and Xero's validation rules for writes.

Records are kept in Xero's JSON response shape (Decimal amounts, `/Date(…)/` dates) so reads are a copy away.
Writes run in two phases, as Xero's batch endpoints do: every element is validated against the books first
(no side effects), then the valid ones are committed in order. Messages are worded as Xero words them.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Callable, Optional

from pexxero.sandbox.xero_wire import iso_date_string, money, ms_date, ms_now, parse_date, parse_money

ZERO = Decimal("0")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # Xero documents 25 MB; what it takes through the API is 10 MB

# Xero's wording
MSG_RECONCILED = "This Bank Transaction cannot be edited as it has been reconciled with a Bank Statement."
MSG_NO_LINES = "A Bank Transaction must have at least one line item."
MSG_NO_CONTACT = "A Contact must be specified for this type of transaction"
MSG_NO_BANK_ACCOUNT = "A valid BankAccount must be specified."
MSG_TOTAL_MISMATCH = "The document total does not equal the sum of the lines."
MSG_ZERO_TOTAL = "The total of a bank transaction must be greater than zero."


def msg_archived_code(code: str) -> str:
    return f"Account code '{code}' has been archived, or has been deleted. Each line item must reference a valid account."


def msg_unknown_code(code: str) -> str:
    return f"Account code '{code}' is not a valid code for this document."


def msg_lock(kind: str, lock: date) -> str:
    return f"The document date cannot be before the {kind} lock date, currently set at {lock.strftime('%d-%b-%Y')}"


def msg_duplicate_contact(name: str) -> str:
    return (f"The contact name {name} is already assigned to another contact. "
            "The contact name must be unique across all active contacts.")


@dataclass
class Plan:
    """A validated element, ready to commit; `errors` non-empty means it must not be."""

    element: dict
    errors: list[str] = field(default_factory=list)
    record: Optional[dict] = None
    new_contact_name: Optional[str] = None  # a contact given by Name that Xero creates on commit
    existing_id: Optional[str] = None  # set for updates


class Books:
    def __init__(self, *, tenant_id: str, organisation: dict, accounts: list[dict], contacts: list[dict],
                 tracking: list[dict], clock: Callable[[], float]):
        self.tenant_id = tenant_id
        self.clock = clock
        self.organisation = copy.deepcopy(organisation)
        self.accounts = copy.deepcopy(accounts)
        self.contacts = [self._contact_record(c) for c in copy.deepcopy(contacts)]
        self.tracking = copy.deepcopy(tracking)
        self.bank_transactions: dict[str, dict] = {}  # id -> record, in creation order
        self.bank_transfers: dict[str, dict] = {}
        self.attachments: dict[str, list[dict]] = {}  # bank transaction id -> attachments incl. "Content"
        self.period_lock_date: Optional[date] = None
        self.end_of_year_lock_date: Optional[date] = None

    # --------------------------------------------------------------------------------------- lookups

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).date()

    def stamp(self) -> str:
        return ms_now(self.clock())

    def account(self, ref: dict | None) -> Optional[dict]:
        if not isinstance(ref, dict):
            return None
        if ref.get("AccountID"):
            return next((a for a in self.accounts if a["AccountID"].lower() == str(ref["AccountID"]).lower()), None)
        if ref.get("Code"):
            return next((a for a in self.accounts if a["Code"] == str(ref["Code"])), None)
        return None

    def contact_by_id(self, contact_id: str) -> Optional[dict]:
        return next((c for c in self.contacts if c["ContactID"].lower() == str(contact_id).lower()), None)

    def active_contact_named(self, name: str, *, excluding: str = "") -> Optional[dict]:
        folded = name.strip().casefold()
        return next(
            (c for c in self.contacts
             if c["ContactStatus"] == "ACTIVE" and c["Name"].casefold() == folded and c["ContactID"] != excluding),
            None,
        )

    def organisation_record(self) -> dict:
        org = copy.deepcopy(self.organisation)
        if self.period_lock_date:
            org["PeriodLockDate"] = ms_date(self.period_lock_date)
        if self.end_of_year_lock_date:
            org["EndOfYearLockDate"] = ms_date(self.end_of_year_lock_date)
        return org

    def _contact_record(self, contact: dict) -> dict:
        return {
            "ContactID": contact.get("ContactID") or str(uuid.uuid4()),
            "Name": contact["Name"],
            "ContactStatus": contact.get("ContactStatus", "ACTIVE"),
            "IsSupplier": bool(contact.get("IsSupplier", False)),
            "IsCustomer": bool(contact.get("IsCustomer", False)),
            "HasAttachments": False,
            "UpdatedDateUTC": ms_now(self.clock()),
        }

    def _lock_errors(self, when: date) -> list[str]:
        errors = []
        if self.period_lock_date and when <= self.period_lock_date:
            errors.append(msg_lock("period", self.period_lock_date))
        if self.end_of_year_lock_date and when <= self.end_of_year_lock_date:
            errors.append(msg_lock("end of year", self.end_of_year_lock_date))
        return errors

    def _bank_account_errors(self, account: Optional[dict], ref) -> list[str]:
        if not ref:
            return [MSG_NO_BANK_ACCOUNT]
        if account is None:
            return ["The BankAccount specified could not be found."]
        if account["Type"] != "BANK":
            return [f"Account code '{account['Code']}' is not a bank account."]
        if account["Status"] != "ACTIVE":
            return [f"The bank account '{account['Code']}' has been archived, or has been deleted."]
        return []

    # ------------------------------------------------------------------------------ bank transactions

    def plan_bank_transaction(self, element: dict) -> Plan:
        plan = Plan(element)
        if not isinstance(element, dict):
            plan.errors.append("Each element must be a BankTransaction object.")
            return plan
        existing = None
        if element.get("BankTransactionID"):
            existing = self.bank_transactions.get(str(element["BankTransactionID"]).lower())
            if existing is None:
                plan.errors.append("The BankTransaction with the specified BankTransactionID could not be found.")
                return plan
            plan.existing_id = existing["BankTransactionID"]
            if existing["IsReconciled"]:
                plan.errors.append(MSG_RECONCILED)
                return plan
            if existing["Type"] not in ("SPEND", "RECEIVE"):
                plan.errors.append("Transfer bank transactions cannot be edited; edit the BankTransfer instead.")
                return plan
            if str(element.get("Status", "")).upper() == "DELETED":
                plan.errors.extend(self._lock_errors(parse_date(existing["Date"])))  # a locked period stays as is
                if not plan.errors:
                    plan.record = {**copy.deepcopy(existing), "Status": "DELETED", "UpdatedDateUTC": self.stamp()}
                return plan
        merged = {**(copy.deepcopy(existing) if existing else {}), **element}
        errors = plan.errors

        type_ = str(merged.get("Type") or "")
        if type_ not in ("SPEND", "RECEIVE"):
            errors.append("Type must be SPEND or RECEIVE." if type_ else "The Type field is mandatory.")

        bank_ref = merged.get("BankAccount")
        bank = self.account(bank_ref)
        errors.extend(self._bank_account_errors(bank, bank_ref))

        contact, plan.new_contact_name = self._resolve_contact(merged.get("Contact"), errors)

        when = self.today()
        if merged.get("Date") not in (None, ""):
            try:
                when = parse_date(merged["Date"])
            except ValueError:
                errors.append("The Date is not a valid date.")
        errors.extend(self._lock_errors(when))

        bank_currency = (bank or {}).get("CurrencyCode") or self.organisation.get("BaseCurrency", "USD")
        currency = merged.get("CurrencyCode") or bank_currency
        if bank and currency != bank_currency:
            errors.append(f"The CurrencyCode '{currency}' does not match the currency of the bank account "
                          f"'{bank['Code']}' ({bank_currency}).")

        line_amount_types = merged.get("LineAmountTypes") or "Exclusive"
        if line_amount_types not in LINE_AMOUNT_TYPES:
            errors.append(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}.")

        lines = self._plan_lines(merged.get("LineItems"), errors)
        sub_total = sum((ln["LineAmount"] for ln in lines), ZERO)
        total_tax = sum((ln["TaxAmount"] for ln in lines), ZERO)
        if line_amount_types == "Inclusive":
            sub_total -= total_tax
        total = money(sub_total + total_tax)
        if lines and "Total" in element and element["Total"] is not None:
            try:
                if money(parse_money(element["Total"])) != total:
                    errors.append(MSG_TOTAL_MISMATCH)
            except ValueError:
                errors.append("The Total is not a valid amount.")
        if lines and total == ZERO:
            errors.append(MSG_ZERO_TOTAL)
        elif lines and total < ZERO:
            errors.append("The total of a bank transaction cannot be negative.")

        url = merged.get("Url") or ""
        if url and not str(url).lower().startswith(("http://", "https://")):
            errors.append("The Url must be a valid absolute URL (http or https).")

        if errors:
            return plan
        plan.record = {
            "BankTransactionID": existing["BankTransactionID"] if existing else str(uuid.uuid4()),
            "Type": type_,
            "Status": "AUTHORISED",
            "Contact": contact,
            "BankAccount": {"AccountID": bank["AccountID"], "Code": bank["Code"], "Name": bank["Name"]},
            "Date": ms_date(when),
            "DateString": iso_date_string(when),
            "Reference": str(merged.get("Reference") or ""),
            "Url": str(url),
            "IsReconciled": bool(merged.get("IsReconciled", False)),
            "HasAttachments": bool(existing and existing.get("HasAttachments")),
            "LineAmountTypes": line_amount_types,
            "LineItems": lines,
            "SubTotal": money(sub_total),
            "TotalTax": money(total_tax),
            "Total": total,
            "CurrencyCode": currency,
            "UpdatedDateUTC": self.stamp(),
        }
        return plan

    def _resolve_contact(self, ref, errors: list[str]) -> tuple[dict, Optional[str]]:
        if not isinstance(ref, dict) or not (ref.get("ContactID") or ref.get("Name")):
            errors.append(MSG_NO_CONTACT)
            return {}, None
        if ref.get("ContactID"):
            found = self.contact_by_id(ref["ContactID"])
            if found is None:
                errors.append(f"The contact with ContactID '{ref['ContactID']}' could not be found.")
                return {}, None
            return {"ContactID": found["ContactID"], "Name": found["Name"]}, None
        found = self.active_contact_named(str(ref["Name"]))
        if found:
            return {"ContactID": found["ContactID"], "Name": found["Name"]}, None
        return {"ContactID": "", "Name": str(ref["Name"]).strip()}, str(ref["Name"]).strip()  # created on commit

    def _plan_lines(self, items, errors: list[str]) -> list[dict]:
        if not isinstance(items, list) or not items:
            errors.append(MSG_NO_LINES)
            return []
        lines = []
        for item in items:
            if not isinstance(item, dict):
                errors.append("Each line item must be an object.")
                continue
            account = self._line_account(item, errors)
            try:
                quantity = parse_money(item["Quantity"]) if item.get("Quantity") is not None else Decimal("1")
                if item.get("LineAmount") is not None:
                    amount = parse_money(item["LineAmount"])
                    unit = parse_money(item["UnitAmount"]) if item.get("UnitAmount") is not None else amount
                else:
                    unit = parse_money(item["UnitAmount"]) if item.get("UnitAmount") is not None else ZERO
                    amount = quantity * unit
                tax = parse_money(item["TaxAmount"]) if item.get("TaxAmount") is not None else ZERO
            except ValueError:
                errors.append("A line item amount is not a valid number.")
                continue
            lines.append({
                "LineItemID": str(item.get("LineItemID") or uuid.uuid4()),
                "Description": str(item.get("Description") or ""),
                "Quantity": quantity,
                "UnitAmount": unit,
                "AccountCode": account["Code"] if account else "",
                "AccountID": account["AccountID"] if account else "",
                "TaxType": str(item.get("TaxType") or "NONE"),
                "TaxAmount": money(tax),
                "LineAmount": money(amount),
                "Tracking": self._line_tracking(item.get("Tracking") or [], errors),
            })
        return lines

    def _line_account(self, item: dict, errors: list[str]) -> Optional[dict]:
        code = item.get("AccountCode")
        if not code and not item.get("AccountID"):
            errors.append("Account code must be specified for each line item.")
            return None
        account = self.account({"Code": code} if code else {"AccountID": item["AccountID"]})
        shown = code or item.get("AccountID")
        if account is None:
            errors.append(msg_unknown_code(shown))
        elif account["Status"] != "ACTIVE":
            errors.append(msg_archived_code(account["Code"]))
        else:
            return account
        return None

    def _line_tracking(self, tracking, errors: list[str]) -> list[dict]:
        if not isinstance(tracking, list):
            errors.append("Tracking must be a list.")
            return []
        if len(tracking) > 2:
            errors.append("A line item can have a maximum of 2 tracking categories.")
        out = []
        for ref in tracking:
            ref = ref if isinstance(ref, dict) else {}
            category = next(
                (c for c in self.tracking if c["Status"] == "ACTIVE" and (
                    (ref.get("TrackingCategoryID") and c["TrackingCategoryID"] == str(ref["TrackingCategoryID"]).lower())
                    or (ref.get("Name") and c["Name"].casefold() == str(ref["Name"]).casefold()))),
                None,
            )
            shown_category = ref.get("Name") or ref.get("TrackingCategoryID") or ""
            if category is None:
                errors.append(f"The TrackingCategory '{shown_category}' does not exist or has been archived.")
                continue
            option = next(
                (o for o in category["Options"]
                 if (ref.get("TrackingOptionID") and o["TrackingOptionID"] == str(ref["TrackingOptionID"]).lower())
                 or (ref.get("Option") and o["Name"].casefold() == str(ref["Option"]).casefold())),
                None,
            )
            shown_option = ref.get("Option") or ref.get("TrackingOptionID") or ""
            if option is None:
                errors.append(f"The TrackingOption '{shown_option}' does not exist for TrackingCategory "
                              f"'{category['Name']}'.")
                continue
            if option["Status"] != "ACTIVE":
                errors.append(f"The TrackingOption '{option['Name']}' for TrackingCategory '{category['Name']}' "
                              "has been archived.")
                continue
            out.append({
                "TrackingCategoryID": category["TrackingCategoryID"], "TrackingOptionID": option["TrackingOptionID"],
                "Name": category["Name"], "Option": option["Name"],
            })
        return out

    def commit_bank_transaction(self, plan: Plan) -> dict:
        record = plan.record
        if plan.new_contact_name is not None:
            contact = self.active_contact_named(plan.new_contact_name) or self._add_contact(plan.new_contact_name)
            record["Contact"] = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
        self.bank_transactions[record["BankTransactionID"]] = record
        return copy.deepcopy(record)

    def _add_contact(self, name: str) -> dict:
        contact = self._contact_record({"Name": name})
        self.contacts.append(contact)
        return contact

    # --------------------------------------------------------------------------------------- transfers

    def plan_bank_transfer(self, element: dict) -> Plan:
        plan = Plan(element)
        errors = plan.errors
        if not isinstance(element, dict):
            errors.append("Each element must be a BankTransfer object.")
            return plan
        if element.get("BankTransferID"):
            errors.append("Bank transfers cannot be updated.")
            return plan
        source = self.account(element.get("FromBankAccount"))
        target = self.account(element.get("ToBankAccount"))
        for ref, account, side in ((element.get("FromBankAccount"), source, "From"),
                                   (element.get("ToBankAccount"), target, "To")):
            errors.extend(m.replace("BankAccount", f"{side}BankAccount") for m in self._bank_account_errors(account, ref))
        if source and target and source["AccountID"] == target["AccountID"]:
            errors.append("The FromBankAccount and ToBankAccount must be different accounts.")
        try:
            amount = money(parse_money(element.get("Amount")))
            if amount <= ZERO:
                errors.append("The Amount must be greater than zero.")
        except ValueError:
            errors.append("The Amount field is mandatory." if element.get("Amount") is None else
                          "The Amount is not a valid amount.")
            amount = ZERO
        when = self.today()
        if element.get("Date") not in (None, ""):
            try:
                when = parse_date(element["Date"])
            except ValueError:
                errors.append("The Date is not a valid date.")
        errors.extend(self._lock_errors(when))
        if source and target and source.get("CurrencyCode") != target.get("CurrencyCode") \
                and not element.get("CurrencyRate"):
            errors.append("A CurrencyRate must be specified for a transfer between accounts in different currencies.")
        if errors:
            return plan
        stamp = self.stamp()
        plan.record = {
            "BankTransferID": str(uuid.uuid4()),
            "FromBankAccount": {"AccountID": source["AccountID"], "Code": source["Code"], "Name": source["Name"]},
            "ToBankAccount": {"AccountID": target["AccountID"], "Code": target["Code"], "Name": target["Name"]},
            "Amount": amount,
            "Date": ms_date(when),
            "DateString": iso_date_string(when),
            "Reference": str(element.get("Reference") or ""),
            "CurrencyRate": Decimal(str(element.get("CurrencyRate") or "1.0")),
            "FromBankTransactionID": str(uuid.uuid4()),
            "ToBankTransactionID": str(uuid.uuid4()),
            "FromIsReconciled": False,
            "ToIsReconciled": False,
            "HasAttachments": False,
            "CreatedDateUTC": stamp,
            "Status": "AUTHORISED",
        }
        return plan

    def commit_bank_transfer(self, plan: Plan) -> dict:
        record = plan.record
        self.bank_transfers[record["BankTransferID"]] = record
        # Xero books a transfer as two bank transactions, which GET /BankTransactions lists too
        for side, type_, account in (("From", "SPEND-TRANSFER", "FromBankAccount"),
                                     ("To", "RECEIVE-TRANSFER", "ToBankAccount")):
            txn_id = record[f"{side}BankTransactionID"]
            self.bank_transactions[txn_id] = {
                "BankTransactionID": txn_id, "Type": type_, "Status": "AUTHORISED", "Contact": {},
                "BankAccount": dict(record[account]), "Date": record["Date"], "DateString": record["DateString"],
                "Reference": record["Reference"], "Url": "", "IsReconciled": False, "HasAttachments": False,
                "LineAmountTypes": "NoTax", "LineItems": [], "SubTotal": record["Amount"],
                "TotalTax": money(ZERO), "Total": record["Amount"],
                "CurrencyCode": self._currency_of(record[account]["AccountID"]),
                "UpdatedDateUTC": record["CreatedDateUTC"],
            }
        return copy.deepcopy(record)

    def _currency_of(self, account_id: str) -> str:
        account = self.account({"AccountID": account_id}) or {}
        return account.get("CurrencyCode") or self.organisation.get("BaseCurrency", "USD")

    # ---------------------------------------------------------------------------------------- contacts

    def plan_contact(self, element: dict, batch_names: set[str]) -> Plan:
        plan = Plan(element)
        errors = plan.errors
        if not isinstance(element, dict):
            errors.append("Each element must be a Contact object.")
            return plan
        existing = None
        if element.get("ContactID"):
            existing = self.contact_by_id(element["ContactID"])
            if existing is None:
                errors.append(f"The contact with ContactID '{element['ContactID']}' could not be found.")
                return plan
            plan.existing_id = existing["ContactID"]
        name = str(element.get("Name") if element.get("Name") is not None else (existing or {}).get("Name", ""))
        name = name.strip()
        status = str(element.get("ContactStatus") or (existing or {}).get("ContactStatus") or "ACTIVE")
        if not name:
            errors.append("The contact name must be specified.")
        elif status == "ACTIVE" and (self.active_contact_named(name, excluding=plan.existing_id or "")
                                     or name.casefold() in batch_names):
            errors.append(msg_duplicate_contact(name))
        if status not in ("ACTIVE", "ARCHIVED"):
            errors.append("ContactStatus must be ACTIVE or ARCHIVED.")
        if errors:
            return plan
        batch_names.add(name.casefold())
        record = copy.deepcopy(existing) if existing else self._contact_record({"Name": name})
        for key in ("IsSupplier", "IsCustomer"):
            if key in element:
                record[key] = bool(element[key])
        record.update({"Name": name, "ContactStatus": status, "UpdatedDateUTC": self.stamp()})
        plan.record = record
        return plan

    def commit_contact(self, plan: Plan) -> dict:
        if plan.existing_id:
            index = next(i for i, c in enumerate(self.contacts) if c["ContactID"] == plan.existing_id)
            self.contacts[index] = plan.record
        else:
            self.contacts.append(plan.record)
        return copy.deepcopy(plan.record)

    # ------------------------------------------------------------------------------------- attachments

    def put_attachment(self, bank_transaction_id: str, file_name: str, content_type: str, content: bytes,
                       base_url: str) -> dict | str:
        """Store (or replace, by file name) one attachment; returns its record or an error message."""
        record = self.bank_transactions.get(bank_transaction_id.lower())
        if record is None:
            return "not found"
        files = self.attachments.setdefault(record["BankTransactionID"], [])
        existing = next((a for a in files if a["FileName"].casefold() == file_name.casefold()), None)
        if not content:
            return "The attachment content must not be empty."
        if len(content) > MAX_ATTACHMENT_BYTES:
            return "The attachment exceeds the maximum size of 10MB."
        if existing is None and len(files) >= MAX_ATTACHMENTS:
            return f"A document can have at most {MAX_ATTACHMENTS} attachments."
        attachment_id = existing["AttachmentID"] if existing else str(uuid.uuid4())
        attachment = {
            "AttachmentID": attachment_id,
            "FileName": file_name,
            "Url": f"{base_url}/api.xro/2.0/BankTransactions/{record['BankTransactionID']}/Attachments/{file_name}",
            "MimeType": content_type or "application/octet-stream",
            "ContentLength": len(content),
            "IncludeOnline": False,
            "Content": bytes(content),
        }
        if existing:
            files[files.index(existing)] = attachment
        else:
            files.append(attachment)
        record["HasAttachments"] = True
        record["UpdatedDateUTC"] = self.stamp()
        return attachment

    # --------------------------------------------------------------------------------- test-only edits

    def load_seed(self, seed: dict) -> None:
        """Records already in Xero (the demo's history), loaded as stored: ids kept, contacts created by name.

        History may use accounts or options archived since, so they count as active while it loads.
        """
        archived = [a for a in self.accounts if a["Status"] != "ACTIVE"]
        archived += [o for c in self.tracking for o in c["Options"] if o["Status"] != "ACTIVE"]
        for thing in archived:
            thing["Status"] = "ACTIVE"
        try:
            for element in seed.get("bank_transactions") or []:
                plan = self.plan_bank_transaction({k: v for k, v in element.items()
                                                   if k not in ("BankTransactionID", "Status")})
                if plan.errors:
                    raise ValueError(f"seed bank transaction invalid: {plan.errors} in {element}")
                plan.record["BankTransactionID"] = str(element.get("BankTransactionID")
                                                       or plan.record["BankTransactionID"]).lower()
                plan.record["Status"] = element.get("Status") or "AUTHORISED"
                self.commit_bank_transaction(plan)
            for element in seed.get("bank_transfers") or []:
                plan = self.plan_bank_transfer({k: v for k, v in element.items() if k != "BankTransferID"})
                if plan.errors:
                    raise ValueError(f"seed bank transfer invalid: {plan.errors} in {element}")
                for key in ("BankTransferID", "FromBankTransactionID", "ToBankTransactionID"):
                    if element.get(key):
                        plan.record[key] = str(element[key]).lower()
                self.commit_bank_transfer(plan)
        finally:
            for thing in archived:
                thing["Status"] = "ARCHIVED"
        if seed.get("period_lock_date"):
            self.period_lock_date = parse_date(seed["period_lock_date"])
        if seed.get("end_of_year_lock_date"):
            self.end_of_year_lock_date = parse_date(seed["end_of_year_lock_date"])
