"""GitHub Issues as a ticket provider (REST API 2022-11-28). Priority becomes a label
(``priority:p2``); closing posts the resolution as a comment, then closes as completed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from opsroom.config.tickets import GitHubIssuesConfig
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
from opsroom.integrations.tickets.base import (
    Comment,
    NewTicket,
    Ticket,
    TicketError,
    TicketNotFound,
    check_priority,
)

VENDOR = "GitHub"
_MARKER = re.compile(r"\s*<!-- opsroom:[0-9a-zA-Z_-]+ -->")


class GitHubIssues:
    def __init__(
        self,
        cfg: GitHubIssuesConfig,
        *,
        name: str = "github",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.transport = transport
        self.token = secret(cfg.token_env, cfg.token_file, "GitHub token")

    def _api(self) -> ApiClient:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Authorization": f"Bearer {self.token.read()}",
        }
        return ApiClient(VENDOR, self.cfg.url, http_settings(self.cfg), headers=headers, transport=self.transport)

    @staticmethod
    def _number(ticket_id: str) -> int:
        text = ticket_id.strip().lstrip("#")
        if not text.isdigit() or len(text) > 12:
            raise TicketNotFound(f"{ticket_id!r} is not an issue number")
        return int(text)

    def _missing(self, number: int) -> str:
        return f"there is no issue #{number} in {self.cfg.repo} (or the token may not see it)"

    async def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        async with self._api() as api:
            try:
                return await api.json(method, f"/repos/{self.cfg.repo}{path}", what=what, **kwargs)
            except IntegrationError as exc:
                if exc.status == 410:
                    raise TicketError(f"issues are disabled in {self.cfg.repo}") from None
                raise

    def _ticket(self, data: Mapping[str, Any], comments: tuple[Comment, ...] = ()) -> Ticket:
        labels = [text_of(label.get("name")) for label in data.get("labels") or [] if isinstance(label, Mapping)]
        priority = next((label.split(":", 1)[1] for label in labels if label.startswith("priority:")), "")
        state = text_of(data.get("state"))
        return Ticket(
            id=str(data.get("number")),
            title=text_of(data.get("title")),
            status=state,
            url=text_of(data.get("html_url")),
            priority=priority,
            body=_MARKER.sub("", text_of(data.get("body"))).rstrip(),
            provider=self.name,
            closed=state == "closed",
            author=text_of((data.get("user") or {}).get("login")),
            comments=comments,
        )

    async def create(self, ticket: NewTicket) -> Ticket:
        priority = check_priority(ticket.priority)
        # GitHub issues have no field for an outside id: the dedup key goes in an HTML comment
        # (invisible when rendered), and a lost create answer is found by listing new issues.
        marker = f"<!-- opsroom:{dedup_key(ticket)} -->"
        body = ticket.body + (f"\n\nChat thread: {ticket.thread_link}" if ticket.thread_link else "")
        labels = list(dict.fromkeys([*self.cfg.labels, f"priority:{priority}", *ticket.labels]))
        payload = {"title": single_line(ticket.title, 256), "body": f"{body}\n\n{marker}", "labels": labels}

        async def post() -> Mapping[str, Any]:
            return require_mapping(
                await self._call("POST", "/issues", f"create issues in {self.cfg.repo}", json=payload),
                VENDOR,
                "create an issue",
            )

        async def find() -> Mapping[str, Any] | None:
            recent = await self._call(
                "GET",
                "/issues",
                f"read issues in {self.cfg.repo}",
                params={"state": "all", "sort": "created", "direction": "desc", "per_page": "30"},
            )
            for issue in recent if isinstance(recent, list) else []:
                if isinstance(issue, Mapping) and marker in text_of(issue.get("body")):
                    return issue
            return None

        data = await create_once(post, find, self.cfg, where=f"https://github.com/{self.cfg.repo}/issues")
        return self._ticket(data)

    async def get(self, ticket_id: str) -> Ticket:
        number = self._number(ticket_id)
        data = require_mapping(
            await not_found_as(
                self._call("GET", f"/issues/{number}", f"read issues in {self.cfg.repo}"),
                self._missing(number),
            ),
            VENDOR,
            "read an issue",
        )
        raw = await self._call(
            "GET", f"/issues/{number}/comments", f"read issues in {self.cfg.repo}", params={"per_page": "20"}
        )
        comments = tuple(
            Comment(text_of((c.get("user") or {}).get("login")), text_of(c.get("body")))
            for c in (raw if isinstance(raw, list) else [])
            if isinstance(c, Mapping)
        )
        return self._ticket(data, comments)

    async def comment(self, ticket_id: str, text: str, *, author: str = "") -> None:
        number = self._number(ticket_id)
        body = f"**{author}** (via opsroom): {text}" if author else text
        await not_found_as(
            self._call(
                "POST",
                f"/issues/{number}/comments",
                f"comment on issues in {self.cfg.repo}",
                json={"body": body},
            ),
            self._missing(number),
        )

    async def close(self, ticket_id: str, *, resolution: str = "", author: str = "") -> Ticket:
        number = self._number(ticket_id)
        if resolution:
            await self.comment(str(number), resolution, author=author)
        data = require_mapping(
            await not_found_as(
                self._call(
                    "PATCH",
                    f"/issues/{number}",
                    f"close issues in {self.cfg.repo}",
                    json={"state": "closed", "state_reason": "completed"},
                ),
                self._missing(number),
            ),
            VENDOR,
            "close an issue",
        )
        return self._ticket(data)
