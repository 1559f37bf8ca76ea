"""Who and where: Slack user names and emails (users.info) and channel names
(conversations.info), cached, so policy and the audit can speak of ``alice`` in ``#ops``."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("opsroom.chat.slack")

USER_CACHE_SECONDS = 3600.0


class SlackDirectory:
    def __init__(self, client: AsyncWebClient, *, lookup_emails: bool) -> None:
        self.client = client
        self.lookup_emails = lookup_emails
        self._users: dict[str, tuple[float, str, str]] = {}  # id -> (fetched at, name, email)
        self.channel_names: dict[str, str] = {}

    async def user(self, user_id: str) -> tuple[str, str]:
        """(display name, email) from users.info, cached for an hour; ("", "") when unknown."""
        if not user_id:
            return "", ""
        cached = self._users.get(user_id)
        if cached and time.monotonic() - cached[0] < USER_CACHE_SECONDS:
            return cached[1], cached[2]
        name = email = ""
        try:
            info = await self.client.users_info(user=user_id)
            user = info.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or user.get("real_name") or user.get("name") or ""
            email = profile.get("email", "") if self.lookup_emails else ""
        except SlackApiError as exc:
            log.warning("slack: users.info for %s failed: %s", user_id, exc.response.get("error"))
        self._users[user_id] = (time.monotonic(), name, email)
        return name, email

    async def channel_name(self, channel: str) -> str:
        """``#name`` of a channel (conversations.info, cached), or "" when it is not known."""
        if not channel:
            return ""
        if channel in self.channel_names:
            return self.channel_names[channel]
        name = ""
        try:
            info = await self.client.conversations_info(channel=channel)
            raw = (info.get("channel") or {}).get("name")
            name = f"#{raw}" if raw else ""
        except SlackApiError as exc:
            log.info("slack: conversations.info for %s failed: %s", channel, exc.response.get("error"))
        self.channel_names[channel] = name
        return name
