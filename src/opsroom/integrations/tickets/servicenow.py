"""ServiceNow as a ticket provider, over the Table API: incidents for tickets, and
change_request records for change review.

Values are read raw (``sysparm_display_value=false``): states are numbers, dates are UTC
``YYYY-MM-DD HH:MM:SS``. Incident states: 1 New, 2 In Progress, 3 On Hold, 6 Resolved,
7 Closed, 8 Canceled. Change states: -5 New, -4 Assess, -3 Authorize, -2 Scheduled,
-1 Implement, 0 Review, 3 Closed, 4 Canceled.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from opsroom.config.tickets import ServiceNowConfig
from opsroom.integrations.http import ApiClient, require_mapping
from opsroom.integrations.tickets._remote import create_once, dedup_key, http_settings, secret, single_line, text_of
from opsroom.integrations.tickets.base import (
    Change,
    NewTicket,
    Ticket,
    TicketError,
    TicketNotFound,
    check_priority,
)

VENDOR = "ServiceNow"
_NUMBER = re.compile(r"^[A-Z]{2,8}[0-9]{4,12}$")
# opsroom priority -> (impact, urgency); ServiceNow's default matrix turns these into P1…P4.
IMPACT_URGENCY = {"p1": ("1", "1"), "p2": ("1", "2"), "p3": ("2", "2"), "p4": ("2", "3")}
INCIDENT_STATES = {
    "1": "New",
    "2": "In Progress",
    "3": "On Hold",
    "6": "Resolved",
    "7": "Closed",
    "8": "Canceled",
}
CHANGE_STATES = {
    "-5": "New",
    "-4": "Assess",
    "-3": "Authorize",
    "-2": "Scheduled",
    "-1": "Implement",
    "0": "Review",
    "3": "Closed",
    "4": "Canceled",
}
RESOLVED = "6"


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


class ServiceNowTickets:
    def __init__(
        self,
        cfg: ServiceNowConfig,
        *,
        name: str = "servicenow",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.transport = transport
        self.token = (
            secret(cfg.token_env, cfg.token_file, "ServiceNow token") if (cfg.token_env or cfg.token_file) else None
        )
        self.user = secret(cfg.username_env, "", "ServiceNow user name") if cfg.username_env else None
        self.password = (
            secret(cfg.password_env, cfg.password_file, "ServiceNow password")
            if (cfg.password_env or cfg.password_file)
            else None
        )

    def _api(self) -> ApiClient:
        headers = {"Accept": "application/json"}
        auth: tuple[str, str] | None = None
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.read()}"
        elif self.user is not None and self.password is not None:
            auth = (self.user.read(), self.password.read())
        return ApiClient(
            VENDOR,
            self.cfg.url,
            http_settings(self.cfg),
            headers=headers,
            auth=auth,
            transport=self.transport,
        )

    def url(self, table: str, sys_id: str) -> str:
        return f"{self.cfg.url}/nav_to.do?uri={quote(f'{table}.do?sys_id={sys_id}', safe='')}"

    @staticmethod
    def _number(value: str, what: str) -> str:
        number = value.strip().upper()
        if not _NUMBER.match(number):
            raise TicketNotFound(f"{value!r} is not a ServiceNow {what} number (like INC0010001)")
        return number

    async def _find(self, api: ApiClient, table: str, number: str, fields: str) -> Mapping[str, Any]:
        # The number is checked against _NUMBER, so it cannot add conditions to the query.
        data = require_mapping(
            await api.json(
                "GET",
                f"/api/now/table/{table}",
                params={
                    "sysparm_query": f"number={number}",
                    "sysparm_limit": "1",
                    "sysparm_fields": fields,
                    "sysparm_display_value": "false",
                    "sysparm_exclude_reference_link": "true",
                },
                what=f"read {table} records",
            ),
            VENDOR,
            f"read {table}",
        )
        rows = data.get("result")
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], Mapping):
            what = "change" if table == "change_request" else "incident"
            raise TicketNotFound(f"there is no {what} {number} in ServiceNow (or the account may not see it)")
        return rows[0]

    def _ticket(self, row: Mapping[str, Any]) -> Ticket:
        state = text_of(row.get("state"))
        return Ticket(
            id=text_of(row.get("number")),
            title=text_of(row.get("short_description")),
            status=INCIDENT_STATES.get(state, state),
            url=self.url(self.cfg.table, text_of(row.get("sys_id"))),
            priority=text_of(row.get("priority")),
            body=text_of(row.get("description")),
            provider=self.name,
            closed=state in ("6", "7", "8"),
        )

    async def create(self, ticket: NewTicket) -> Ticket:
        impact, urgency = IMPACT_URGENCY[check_priority(ticket.priority)]
        # correlation_id is the task field ServiceNow keeps for an outside system's id: the
        # dedup key goes there, so a lost create answer is found instead of creating twice.
        key = f"opsroom-{dedup_key(ticket)}"
        record: dict[str, str] = {
            "short_description": single_line(ticket.title, 160),
            "description": ticket.body,
            "impact": impact,
            "urgency": urgency,
            "correlation_id": key,
            "correlation_display": "opsroom",
        }
        if ticket.thread_link:
            record["work_notes"] = f"Chat thread: {ticket.thread_link}"
        if self.cfg.assignment_group:
            record["assignment_group"] = self.cfg.assignment_group
        if self.cfg.caller_id:
            record["caller_id"] = self.cfg.caller_id
        table = self.cfg.table
        async with self._api() as api:

            async def post() -> Mapping[str, Any]:
                data = require_mapping(
                    await api.json(
                        "POST",
                        f"/api/now/table/{table}",
                        params={"sysparm_display_value": "false"},
                        json=record,
                        what=f"create {table} records",
                    ),
                    VENDOR,
                    "create an incident",
                )
                row = data.get("result")
                if not isinstance(row, Mapping) or not row.get("number"):
                    raise TicketError("ServiceNow created nothing we can show (no number in its answer)")
                return row

            async def find() -> Mapping[str, Any] | None:
                data = require_mapping(
                    await api.json(
                        "GET",
                        f"/api/now/table/{table}",
                        params={
                            "sysparm_query": f"correlation_id={key}",
                            "sysparm_limit": "1",
                            "sysparm_display_value": "false",
                        },
                        what=f"read {table} records",
                    ),
                    VENDOR,
                    f"read {table}",
                )
                rows = data.get("result")
                return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], Mapping) else None

            row = await create_once(post, find, self.cfg, where=f"{self.cfg.url}/{table}_list.do")
        return self._ticket(row)

    async def get(self, ticket_id: str) -> Ticket:
        number = self._number(ticket_id, "incident")
        async with self._api() as api:
            row = await self._find(
                api, self.cfg.table, number, "sys_id,number,short_description,description,state,priority"
            )
        return self._ticket(row)

    async def _patch(self, number: str, values: Mapping[str, str], what: str) -> Mapping[str, Any]:
        async with self._api() as api:
            row = await self._find(api, self.cfg.table, number, "sys_id,number")
            sys_id = text_of(row.get("sys_id"))
            data = require_mapping(
                await api.json(
                    "PATCH",
                    f"/api/now/table/{self.cfg.table}/{sys_id}",
                    params={"sysparm_display_value": "false"},
                    json=dict(values),
                    what=what,
                ),
                VENDOR,
                what,
            )
        result = data.get("result")
        return result if isinstance(result, Mapping) else {}

    async def comment(self, ticket_id: str, text: str, *, author: str = "") -> None:
        number = self._number(ticket_id, "incident")
        await self._patch(
            number,
            {"work_notes": f"{author}: {text}" if author else text},
            f"update {self.cfg.table} records",
        )

    async def close(self, ticket_id: str, *, resolution: str = "", author: str = "") -> Ticket:
        number = self._number(ticket_id, "incident")
        notes = resolution or "Resolved from opsroom."
        row = await self._patch(
            number,
            {
                "state": RESOLVED,
                "close_code": self.cfg.close_code,
                "close_notes": f"{notes} ({author})" if author else notes,
            },
            f"resolve {self.cfg.table} records",
        )
        if row and text_of(row.get("state")) not in ("6", "7"):
            raise TicketError(
                f"ServiceNow kept {number} in state {INCIDENT_STATES.get(text_of(row.get('state')), row.get('state'))}"
            )
        return await self.get(number)

    async def get_change(self, change_id: str) -> Change:
        number = self._number(change_id, "change")
        async with self._api() as api:
            row = await self._find(
                api,
                "change_request",
                number,
                "sys_id,number,short_description,approval,state,start_date,end_date",
            )
        state = text_of(row.get("state"))
        approval = text_of(row.get("approval"))
        return Change(
            id=number,
            title=text_of(row.get("short_description")),
            approved=approval == "approved",
            approval=approval,
            state=CHANGE_STATES.get(state, state),
            in_state_to_run=state in self.cfg.change_states,
            start=parse_time(row.get("start_date")),
            end=parse_time(row.get("end_date")),
            url=self.url("change_request", text_of(row.get("sys_id"))),
        )
