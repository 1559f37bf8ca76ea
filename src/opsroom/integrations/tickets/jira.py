"""Jira as a ticket provider, over the REST API: v3 on Jira Cloud (descriptions and comments
in Atlassian Document Format), v2 on Jira Server / Data Center (plain text).

Auth: Cloud uses basic auth with the account e-mail and an API token; Server / Data Center
uses a personal access token as a bearer token. Closing runs the workflow transition named in
``close_transition`` (found by its name or the name of the status it leads to).

Creating an issue carries a dedup label (``opsroom-<key>``): when the create answer is lost
(a 5xx from a proxy after Jira made the issue) we search for the label instead of creating a
second issue. Jira's own rules are applied before sending, so a hook's title cannot be
refused for them: the summary is one line of at most 255 characters, labels have no spaces,
and the priority is only sent when ``priorities`` maps it (``priorities: {}`` for projects
whose create screen has no priority).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from opsroom.config.tickets import JiraConfig
from opsroom.errors import IntegrationError
from opsroom.integrations.http import ApiClient, require_mapping
from opsroom.integrations.tickets._remote import (
    create_once,
    dedup_key,
    http_settings,
    not_found_as,
    secret,
    single_line,
    text_of,
)
from opsroom.integrations.tickets.base import NewTicket, Ticket, TicketError, TicketNotFound, check_priority

VENDOR = "Jira"
_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}-[0-9]{1,12}$")
#: Jira's limit on a summary: https://support.atlassian.com/jira-cloud-administration/docs/what-are-issue-fields/
SUMMARY_MAX = 255
LABEL_MAX = 255


def label(text: str) -> str:
    """A Jira label: no whitespace (Jira refuses labels with spaces), at most 255 characters."""
    return "-".join(text.split())[:LABEL_MAX]


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per line (ADF has
    no empty text nodes, so blank lines are dropped)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in text.splitlines() if line
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_text(value: Any) -> str:
    """Plain text back from an ADF document (or a v2 string)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        return ""
    if value.get("type") == "text":
        return text_of(value.get("text"))
    parts = [adf_text(child) for child in value.get("content") or []]
    return ("\n" if value.get("type") == "doc" else "").join(parts)


class JiraTickets:
    def __init__(self, cfg: JiraConfig, *, name: str = "jira", transport: httpx.AsyncBaseTransport | None = None):
        self.cfg = cfg
        self.name = name
        self.version = cfg.api_version or (3 if cfg.edition == "cloud" else 2)
        self.token = secret(cfg.token_env, cfg.token_file, "Jira token")
        self.email = secret(cfg.email_env, "", "Jira account e-mail") if cfg.email_env else None
        self.transport = transport

    def _api(self) -> ApiClient:
        headers = {"Accept": "application/json"}
        auth: tuple[str, str] | None = None
        if self.cfg.edition == "cloud" and self.email is not None:
            auth = (self.email.read(), self.token.read())
        else:
            headers["Authorization"] = f"Bearer {self.token.read()}"
        return ApiClient(
            VENDOR,
            self.cfg.url,
            http_settings(self.cfg),
            headers=headers,
            auth=auth,
            transport=self.transport,
        )

    def _path(self, rest: str) -> str:
        return f"/rest/api/{self.version}/{rest}"

    def _text(self, text: str) -> Any:
        return adf(text) if self.version == 3 else text

    def _key(self, ticket_id: str) -> str:
        key = ticket_id.strip().upper()
        if not _KEY.match(key):
            raise TicketNotFound(f"{ticket_id!r} is not a Jira issue key (like {self.cfg.project}-123)")
        return key

    def url(self, key: str) -> str:
        return f"{self.cfg.url}/browse/{key}"

    async def create(self, ticket: NewTicket) -> Ticket:
        priority = check_priority(ticket.priority)
        body = ticket.body + (f"\n\nChat thread: {ticket.thread_link}" if ticket.thread_link else "")
        marker = label(f"opsroom-{dedup_key(ticket)}")
        labels = [x for x in dict.fromkeys(label(x) for x in (*self.cfg.labels, *ticket.labels, marker)) if x]
        fields: dict[str, Any] = {
            "project": {"key": self.cfg.project},
            "summary": single_line(ticket.title, SUMMARY_MAX),
            "description": self._text(body),
            "issuetype": {"name": self.cfg.issue_type},
            "labels": labels,
        }
        if self.cfg.priorities.get(priority):
            fields["priority"] = {"name": self.cfg.priorities[priority]}
        what = f"create issues in project {self.cfg.project}"
        async with self._api() as api:

            async def post() -> str:
                data = require_mapping(
                    await api.json("POST", self._path("issue"), json={"fields": fields}, what=what),
                    VENDOR,
                    "create an issue",
                )
                return text_of(data.get("key"))

            async def find() -> str | None:
                jql = f'project = "{self.cfg.project}" AND labels = "{marker}"'
                search = "search/jql" if self.version == 3 else "search"
                data = require_mapping(
                    await api.json(
                        "GET",
                        self._path(search),
                        params={"jql": jql, "fields": "summary", "maxResults": 2},
                        what=f"search issues in project {self.cfg.project}",
                    ),
                    VENDOR,
                    "search issues",
                )
                found = [text_of(i.get("key")) for i in data.get("issues") or [] if isinstance(i, Mapping)]
                return found[0] if found else None

            key = await create_once(post, find, self.cfg, where=f"{self.cfg.url}/issues/?jql=labels={marker}")
            if ticket.thread_link.startswith(("http://", "https://")):
                await self._remote_link(api, key, ticket.thread_link)
        return Ticket(
            id=key,
            title=ticket.title,
            status="created",
            url=self.url(key),
            priority=priority,
            body=body,
            provider=self.name,
            author=ticket.author,
            thread_link=ticket.thread_link,
        )

    async def _remote_link(self, api: ApiClient, key: str, link: str) -> None:
        await api.json(
            "POST",
            self._path(f"issue/{key}/remotelink"),
            json={"object": {"url": link, "title": "Chat thread (opsroom)"}},
            what=f"add links to {key}",
        )

    async def get(self, ticket_id: str) -> Ticket:
        key = self._key(ticket_id)
        async with self._api() as api:
            data = require_mapping(
                await not_found_as(
                    api.json(
                        "GET",
                        self._path(f"issue/{key}"),
                        params={"fields": "summary,status,priority,description"},
                        what=f"read {key}",
                    ),
                    f"there is no Jira issue {key} (or the token may not see it)",
                ),
                VENDOR,
                "read an issue",
            )
        fields = data.get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        return Ticket(
            id=key,
            title=text_of(fields.get("summary")),
            status=text_of(status.get("name")),
            url=self.url(key),
            priority=text_of((fields.get("priority") or {}).get("name")),
            body=adf_text(fields.get("description")),
            provider=self.name,
            closed=category == "done",
        )

    async def comment(self, ticket_id: str, text: str, *, author: str = "") -> None:
        key = self._key(ticket_id)
        body = f"{author}: {text}" if author else text
        async with self._api() as api:
            await not_found_as(
                api.json(
                    "POST",
                    self._path(f"issue/{key}/comment"),
                    json={"body": self._text(body)},
                    what=f"comment on {key}",
                ),
                f"there is no Jira issue {key} (or the token may not see it)",
            )

    async def close(self, ticket_id: str, *, resolution: str = "", author: str = "") -> Ticket:
        key = self._key(ticket_id)
        wanted = self.cfg.close_transition.lower()
        async with self._api() as api:
            data = require_mapping(
                await not_found_as(
                    api.json("GET", self._path(f"issue/{key}/transitions"), what=f"transition {key}"),
                    f"there is no Jira issue {key} (or the token may not see it)",
                ),
                VENDOR,
                "list transitions",
            )
            transitions = [t for t in data.get("transitions") or [] if isinstance(t, Mapping)]
            chosen = next(
                (
                    t
                    for t in transitions
                    if text_of(t.get("name")).lower() == wanted
                    or text_of((t.get("to") or {}).get("name")).lower() == wanted
                ),
                None,
            )
            if chosen is None:
                names = ", ".join(text_of(t.get("name")) for t in transitions) or "none"
                raise TicketError(
                    f"{key} has no transition {self.cfg.close_transition!r} from its current status "
                    f"(available: {names}); set tickets.providers.{self.name}.close_transition"
                )
            if resolution:
                body = f"{author}: {resolution}" if author else resolution
                await api.json(
                    "POST",
                    self._path(f"issue/{key}/comment"),
                    json={"body": self._text(body)},
                    what=f"comment on {key}",
                )
            try:
                await api.request(
                    "POST",
                    self._path(f"issue/{key}/transitions"),
                    json={"transition": {"id": text_of(chosen.get("id"))}},
                    what=f"transition {key}",
                )
            except IntegrationError as exc:
                raise TicketError(f"Jira refused to close {key}: {exc}") from None
        return await self.get(key)
