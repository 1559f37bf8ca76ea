"""A fake ServiceNow Table API for ``incident`` and ``change_request``.

Shapes from ServiceNow's docs:
- Table API: https://developer.servicenow.com/dev.do#!/reference/api/latest/rest/c_TableAPI
  (POST /api/now/table/{table} → 201 ``{"result": {…record…}}``; GET with ``sysparm_query``
  → 200 ``{"result": [ … ]}``; PATCH /api/now/table/{table}/{sys_id} → 200 ``{"result": {…}}``)
- errors: ``{"error": {"message", "detail"}, "status": "failure"}`` (403 "Operation Failed" /
  "ACL Exception Insert Failed due to security constraints" without the table's create ACL,
  as the Table API reference's error examples show); 401 "User Not
  Authenticated"; 429 with Retry-After under rate limiting:
  https://docs.servicenow.com/bundle/latest/page/integrate/inbound-rest/concept/inbound-REST-API-rate-limiting.html
- incident states (1 New … 6 Resolved, 7 Closed) and change_request ``approval``
  (not requested/requested/approved/rejected), ``state`` (-5 New … -2 Scheduled, -1 Implement,
  0 Review, 3 Closed, 4 Canceled), ``start_date``/``end_date`` as UTC ``YYYY-MM-DD HH:MM:SS``
  with ``sysparm_display_value=false``:
  https://docs.servicenow.com/bundle/latest/page/product/change-management/concept/c_ChangeStateModel.html
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor


def _error(status: int, message: str, detail: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "detail": detail}, "status": "failure"}, status_code=status)


def _journal(changes: dict[str, Any], row: dict[str, Any]) -> None:
    """Journal fields (work notes, comments) are appended entries, not values that replace."""
    for journal in ("work_notes", "comments"):
        if journal in changes:
            row.setdefault(f"_{journal}", []).append(changes.pop(journal))


class FakeServiceNow(FakeVendor):
    def __init__(self, *, user: str = "opsroom", password: str = "sn-pass") -> None:
        super().__init__()
        self.user, self.password = user, password
        self.tables: dict[str, dict[str, dict[str, Any]]] = {"incident": {}, "change_request": {}}
        self.next = {"incident": 10000, "change_request": 12340}
        #: The integration user lacks the ACL to insert into the table (role missing).
        self.insert_denied = False
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/api/now/table/{table}", self.collection, methods=["GET", "POST"]),
                    Route("/api/now/table/{table}/{sys_id}", self.record, methods=["GET", "PATCH"]),
                ]
            )
        )

    def add_change(self, *, approval: str, state: str, start: str, end: str) -> str:
        self.next["change_request"] += 1
        number = f"CHG{self.next['change_request']:07d}"
        sys_id = uuid.uuid4().hex
        self.tables["change_request"][sys_id] = {
            "sys_id": sys_id,
            "number": number,
            "short_description": "rotate certs",
            "approval": approval,
            "state": state,
            "start_date": start,
            "end_date": end,
        }
        return number

    async def _pre(self, request: Request) -> Response | None:
        early = await self.intercept(request)
        if early is not None:
            return early
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if request.headers.get("authorization") != basic:
            return _error(401, "User Not Authenticated")
        if request.path_params["table"] not in self.tables:
            return _error(400, "Invalid table")
        return None

    async def collection(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        table = self.tables[request.path_params["table"]]
        if request.method == "POST":
            if self.insert_denied:
                return _error(403, "Operation Failed", "ACL Exception Insert Failed due to security constraints")
            record = dict(await request.json())
            _journal(record, record)
            self.next["incident"] += 1
            sys_id = uuid.uuid4().hex
            record.update(
                sys_id=sys_id,
                number=f"INC{self.next['incident']:07d}",
                state="1",
                priority=str(
                    {("1", "1"): 1, ("1", "2"): 2, ("2", "2"): 3}.get((record.get("impact"), record.get("urgency")), 4)
                ),
            )
            table[sys_id] = record
            return JSONResponse({"result": record}, status_code=201)
        # Encoded queries of one ``field=value`` term are all opsroom sends:
        # https://www.servicenow.com/docs/bundle/latest/page/use/common-ui-elements/reference/r_OpAvailableFiltersQueries.html
        field, _, value = request.query_params.get("sysparm_query", "").partition("=")
        rows = [r for r in table.values() if field and str(r.get(field, "")) == value]
        limit = int(request.query_params.get("sysparm_limit", "10000"))
        return JSONResponse({"result": rows[:limit]})

    async def record(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        table = self.tables[request.path_params["table"]]
        row = table.get(request.path_params["sys_id"])
        if row is None:
            return _error(404, "No Record found")
        if request.method == "PATCH":
            changes = dict(await request.json())
            _journal(changes, row)
            row.update(changes)
        return JSONResponse({"result": row})
