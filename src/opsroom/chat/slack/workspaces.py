"""Which Slack workspace a place is in, and the client (token) that speaks there.

One workspace (``bot_token`` in the config): places are Slack's own channel ids (``C0123``),
channel names ``#ops`` — exactly as before multi-workspace existed.

Several workspaces (``client_id``: each workspace installs the app): a place's channel is
``T…:C…`` (the workspace's team id, then the channel id), so a reply, an edit or a progress
message goes back to the workspace it came from with that workspace's token; and its name is
``#ops@<workspace>`` — the label from ``chat.slack.workspaces`` or else the team id — so
policy rules, ``channels:`` entries and the audit tell ``#ops`` of one workspace from ``#ops``
of another. A token from one workspace is never used for another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from opsroom.chat.slack_directory import SlackDirectory
from opsroom.errors import ConfigError

TOKEN_CACHE_SECONDS = 60.0  # another replica's uninstall or rotation is seen within a minute
ROTATE_MINUTES_BEFORE = 120  # Bolt's default: refresh a rotating token two hours before it expires


class NotInstalled(ConfigError, LookupError):
    """No install of opsroom in that workspace (never installed, or uninstalled since)."""


@dataclass
class Workspace:
    team_id: str  # "" with a single bot token
    client: AsyncWebClient
    directory: SlackDirectory
    bot_user_id: str
    fetched: float


class Workspaces:
    def __init__(self, config: Any, make_client: Callable[[str], AsyncWebClient]) -> None:
        self.config = config
        self.multi = bool(config.client_id)
        self._make_client = make_client
        self._cache: dict[str, Workspace] = {}
        self.store: Any = None  # install.DbInstallationStore, bound when the system starts
        self._rotator = (
            AsyncTokenRotator(client_id=config.client_id, client_secret=config.client_secret, client=make_client(""))
            if self.multi
            else None
        )

    # -- places ------------------------------------------------------------------------

    def channel_key(self, team: str, channel: str) -> str:
        """The ``Place.channel`` of a Slack channel in workspace ``team``."""
        return f"{team}:{channel}" if self.multi and team else channel

    def split(self, key: str) -> tuple[str, str]:
        """(team id, Slack channel id) of a ``Place.channel``."""
        if self.multi and ":" in key:
            team, channel = key.split(":", 1)
            return team, channel
        return "", key

    def label(self, team: str) -> str:
        return str(self.config.workspaces.get(team, team))

    def channel_name(self, team: str, name: str) -> str:
        """``#ops``, or ``#ops@acme`` when several workspaces share opsroom."""
        if not name or not self.multi:
            return name
        return f"{name}@{self.label(team)}"

    def trusts_emails(self, team: str) -> bool:
        """Emails map people to opsroom users only where the workspace is trusted: with one
        token, or a workspace listed in ``chat.slack.workspaces`` (anyone installing the app
        in a workspace of their own could give a user any email)."""
        return self.config.lookup_emails and (not self.multi or team in self.config.workspaces)

    # -- clients -----------------------------------------------------------------------

    def single(self, client: AsyncWebClient, bot_user_id: str) -> None:
        """The one workspace of a ``bot_token`` config (after auth.test)."""
        self._cache[""] = Workspace(
            "", client, SlackDirectory(client, lookup_emails=self.config.lookup_emails), bot_user_id, float("inf")
        )

    async def get(self, team: str) -> Workspace:
        """The workspace's client and directory; raises ``NotInstalled``."""
        if not self.multi:
            return self._cache[""]
        cached = self._cache.get(team)
        if cached is not None and time.monotonic() - cached.fetched < TOKEN_CACHE_SECONDS:
            return cached
        if self.store is None or not team:
            raise NotInstalled(team)
        bot = await self.store.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None or not bot.bot_token:
            self._cache.pop(team, None)
            raise NotInstalled(team)
        if self._rotator is not None and bot.bot_refresh_token:
            rotated = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE
            )
            if rotated is not None:
                await self.store.async_save_bot(rotated)
                bot = rotated
        if cached is not None and cached.client.token == bot.bot_token:
            cached.fetched = time.monotonic()
            return cached
        client = self._make_client(bot.bot_token)
        found = Workspace(
            team,
            client,
            SlackDirectory(client, lookup_emails=self.trusts_emails(team)),
            bot.bot_user_id or "",
            time.monotonic(),
        )
        self._cache[team] = found
        return found

    def forget(self, team: str) -> None:
        """Drop a workspace's client (its install changed or went away)."""
        if self.multi:
            self._cache.pop(team, None)

    def known(self) -> list[Workspace]:
        """The workspaces with a client right now (for the catch-up after a reconnect)."""
        return list(self._cache.values())
