"""The PEX double's tag, receipt and note endpoints (a mixin of PexDouble), each answering for the business whose
token the front door accepted."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Optional

from starlette.requests import Request
from starlette.responses import Response

from pexxero.sandbox import demo, receipts
from pexxero.sandbox.pex_business import PexBusiness
from pexxero.sandbox.pex_wire import PexJSON, _dropdown_problem, message


def _business(request: Request) -> PexBusiness:
    """The business whose token the front door accepted for this call."""
    return request.scope["pexxero.business"]


def _query(request: Request, name: str) -> Optional[str]:
    """A query parameter by name, case-insensitively (ASP.NET binds them that way)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name.lower():
            return value
    return None


class BusinessRoutes:
    """Tags, receipts and notes of the calling business. Needs `attachments_404_when_none` and `_key_version`."""

    # ------------------------------------------------------------------------------------ tags
    def _tags_off(self, request: Request) -> Optional[Response]:
        enabled = _business(request).tags_enabled
        return None if enabled else message(403, "Tags are not enabled for this business.")

    def _find_tag(self, request: Request) -> Optional[dict]:
        tag_id = request.path_params["tag_id"].lower()
        return next((t for t in _business(request).tag_definitions if t["Id"].lower() == tag_id), None)

    async def _tags(self, request: Request) -> Response:
        return self._tags_off(request) or PexJSON(_business(request).tag_definitions)

    async def _tag(self, request: Request) -> Response:
        definition = self._find_tag(request)
        if definition is None:
            return message(404, "Tag not found.")
        return self._tags_off(request) or PexJSON(definition)

    async def _put_dropdown(self, request: Request) -> Response:
        off = self._tags_off(request)
        if off:
            return off
        stored = self._find_tag(request)
        if stored is None or stored["Type"] != "Dropdown":
            return message(404, "Dropdown tag not found.")
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return message(400, "The request body is not valid JSON.")
        problem = _dropdown_problem(body)
        if problem:
            return message(400, problem)
        self._key_version += 1
        stored["Options"] = [
            {"Name": o["Name"], "Value": o["Value"], "Order": int(o.get("Order") or 0),
             "IsEnabled": bool(o.get("IsEnabled", True))}
            for o in body["Options"]
        ]
        for name in ("Name", "Description", "Order", "IsRequired", "IsEnabled"):
            if name in body and body[name] is not None:
                stored[name] = body[name]
        stored["ConcurrencyKey"] = demo.pex_id("ck", stored["Id"], self._key_version)
        stored["UpdatedDateUtc"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return PexJSON(stored)

    # ----------------------------------------------------------------------------- attachments
    def _attachment_json(self, request: Request, tx_id: int, attachment: dict) -> dict:
        out = {k: v for k, v in attachment.items() if k != "Content"}
        out["Link"] = {"related": f"{request.base_url}v4/Transactions/{tx_id}/Attachment/{attachment['AttachmentId']}"}
        return out

    async def _attachment_list(self, request: Request) -> Response:
        tx_id = request.path_params["tx_id"]
        row = _business(request).row(tx_id)
        files = _business(request).attachments.get(tx_id) or []
        if row is None or (not files and self.attachments_404_when_none):
            return message(404, "Not Found")
        return PexJSON({"Attachments": [self._attachment_json(request, tx_id, a) for a in files],
                        "ApprovalStatus": row.get("MetadataApprovalStatus")})

    async def _attachment(self, request: Request) -> Response:
        tx_id, wanted = request.path_params["tx_id"], request.path_params["attachment_id"]
        row = _business(request).row(tx_id)
        files = _business(request).attachments.get(tx_id) or []
        found = next((a for a in files if a["AttachmentId"].lower() == wanted.lower()), None)
        if row is None or found is None:
            return message(404, "Not Found")
        link_type = (_query(request, "AttachmentLinkType") or "LinkUrl").lower()
        out = self._attachment_json(request, tx_id, found)
        if found.get("Content") is None:  # not Loaded: nothing to hand out
            out["Content"] = None
        elif link_type == "full":
            out["Content"] = found["Content"]
        elif link_type in ("thumbnail", "preview"):
            out["Content"] = base64.b64encode(receipts.png_receipt(lines=2, width=12, height=16)).decode("ascii")
        else:
            out["Content"] = out["Link"]["related"] + "?AttachmentLinkType=Full"
        out["ApprovalStatus"] = row.get("MetadataApprovalStatus")
        return PexJSON(out)

    # ----------------------------------------------------------------------------------- notes
    async def _add_note(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            tx_id, text = int(body["TransactionId"]), str(body["NoteText"])
        except (ValueError, KeyError, TypeError):
            return message(400, "TransactionId and NoteText are required.")
        row = _business(request).row(tx_id)
        if row is None:
            return message(404, "Transaction not found.")
        note_id, self._next_note_id = self._next_note_id, self._next_note_id + 1
        row.setdefault("TransactionNotes", []).append({
            "NoteId": note_id, "NoteText": text, "UserName": "sandbox.admin", "UserFirstName": "Sandbox",
            "UserLastName": "Admin", "NoteDate": datetime.now(demo.EASTERN).strftime(demo.PEX_TIME_FORMAT),
            "UpdatedDate": None, "SystemGenerated": bool(body.get("SystemGenerated", False)),
        })
        return PexJSON({"NoteId": note_id}, status_code=201)

    async def _edit_note(self, request: Request) -> Response:
        note_id = request.path_params["note_id"]
        for ledger in _business(request).transactions.values():
            for row in ledger:
                for note in row.get("TransactionNotes") or []:
                    if note["NoteId"] == note_id:
                        if request.method == "DELETE":
                            row["TransactionNotes"].remove(note)
                        else:
                            body = json.loads(await request.body() or b"{}")
                            note["NoteText"] = str(body.get("NoteText", note["NoteText"]))
                            note["UpdatedDate"] = datetime.now(demo.EASTERN).strftime(demo.PEX_TIME_FORMAT)
                        return Response(status_code=200)
        return message(404, "Note not found.")
