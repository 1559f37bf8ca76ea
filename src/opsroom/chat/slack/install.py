"""The multi-workspace install: slack_sdk's installation and OAuth state stores over opsroom's
own database (``tables``), so installs survive restarts, are shared by every replica and are
backed up with the rest.

- Bot tokens and refresh tokens are encrypted with Fernet (``cryptography``) under a key
  derived from the server's secret key (``server.secret_key`` / the state folder's key): a
  copy of the database alone does not give away any workspace. They never reach a log or an
  audit row (and the system redactor masks ``xox…`` shapes everywhere anyway).
- ``workspaces`` in the config, when not empty, is the list of workspaces allowed to
  install: any other is refused at the redirect (its fresh token revoked with
  ``auth.revoke``, nothing stored) and audited.
- Installs, refusals and uninstalls (``app_uninstalled``, ``tokens_revoked``) are audited.

The database is synchronous; every call runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, insert, select

from opsroom.chat.slack.tables import slack_installations, slack_oauth_states
from opsroom.clock import utcnow

log = logging.getLogger("opsroom.chat.slack")

STATE_SECONDS = 600  # an install started in a browser must finish within ten minutes


def token_cipher(secret_key: bytes) -> Fernet:
    digest = hashlib.sha256(b"opsroom-slack-installations\0" + secret_key).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class DbInstallationStore(AsyncInstallationStore):
    """Bot-only installations (opsroom asks for no user scopes), one per workspace.

    ``on_change(team_id)`` is called after a save or a delete, so the adapter drops the
    clients it keeps per workspace."""

    def __init__(
        self,
        *,
        allowed: dict[str, str] | None = None,
        on_change: Callable[[str], None] | None = None,
        revoke: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.db: Any = None
        self.audit: Any = None
        self._cipher: Fernet | None = None
        self.allowed = dict(allowed or {})
        self.on_change = on_change
        self.revoke = revoke  # gives a refused install's fresh token back (auth.revoke)

    def bind(self, db: Any, audit: Any, secret_key: bytes) -> None:
        """The database, audit log and key, once the system has them (the adapter is built first)."""
        self.db, self.audit, self._cipher = db, audit, token_cipher(secret_key)

    @property
    def cipher(self) -> Fernet:
        if self._cipher is None:
            raise BoltError("the Slack installation store is not bound to a database yet")
        return self._cipher

    @property
    def logger(self) -> logging.Logger:
        return log

    # -- writing -----------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        team = installation.team_id or ""
        if installation.is_enterprise_install or not team:
            await self._refuse(installation, "an organization-wide (Enterprise Grid) install")
        if self.allowed and team not in self.allowed:
            await self._refuse(installation, "a workspace not listed in chat.slack.workspaces")
        await self.async_save_bot(installation.to_bot(), installer=installation.user_id or "", installed=True)

    async def async_save_bot(self, bot: Bot, *, installer: str = "", installed: bool = False) -> None:
        """A new install (audited), or the same workspace's rotated token (not audited)."""
        team = bot.team_id or ""
        row = {
            "team_id": team,
            "team_name": bot.team_name or "",
            "enterprise_id": bot.enterprise_id or "",
            "app_id": bot.app_id or "",
            "bot_id": bot.bot_id or "",
            "bot_user_id": bot.bot_user_id or "",
            "bot_scopes": ",".join(bot.bot_scopes or []),
            "bot_token": self._seal(bot.bot_token or ""),
            "bot_refresh_token": self._seal(bot.bot_refresh_token or ""),
            "bot_token_expires_at": (
                dt.datetime.fromtimestamp(bot.bot_token_expires_at, dt.UTC) if bot.bot_token_expires_at else None
            ),
            "installer_user_id": installer,
            "is_enterprise_install": bool(bot.is_enterprise_install),
            "installed_at": utcnow(),
        }

        def write() -> None:
            with self.db.begin() as conn:
                old = conn.execute(
                    select(slack_installations.c.installer_user_id, slack_installations.c.installed_at).where(
                        slack_installations.c.team_id == team
                    )
                ).first()
                if old is not None and not installed:  # a rotated token: the same install
                    row["installer_user_id"], row["installed_at"] = old[0], old[1]
                conn.execute(delete(slack_installations).where(slack_installations.c.team_id == team))
                conn.execute(insert(slack_installations).values(**row))
                if installed:
                    self.audit.append(
                        conn,
                        actor=f"slack:{installer}" if installer else "slack",
                        action="slack.installed",
                        platform="slack",
                        summary=f"opsroom installed in Slack workspace {bot.team_name or team} ({team})",
                        detail={"team_id": team, "team_name": bot.team_name or "", "scopes": row["bot_scopes"]},
                    )

        await asyncio.to_thread(write)
        self._changed(team)

    async def _refuse(self, installation: Installation, why: str) -> None:
        team = installation.team_id or installation.enterprise_id or ""

        def write() -> None:
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=f"slack:{installation.user_id}" if installation.user_id else "slack",
                    action="slack.install_refused",
                    platform="slack",
                    summary=f"install into Slack {installation.team_name or team} ({team}) refused: {why}",
                    detail={"team_id": team, "reason": why},
                )

        await asyncio.to_thread(write)
        log.warning("slack: install into %s refused: %s", team, why)
        if self.revoke is not None and installation.bot_token:
            try:
                await self.revoke(installation.bot_token)
            except Exception as exc:  # noqa: BLE001 - refused either way; the token is not kept
                log.warning("slack: revoking the refused install's token failed: %s", type(exc).__name__)
        raise BoltError(f"install refused: {why}")

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.remove(team_id or "", reason="deleted")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # opsroom keeps no user tokens: only the workspace's install goes
            await self.remove(team_id or "", reason="deleted")

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.remove(team_id or "", reason="deleted")

    async def remove(self, team_id: str, *, reason: str) -> bool:
        """Forget a workspace's install (audited); False when there was none."""

        def write() -> bool:
            with self.db.begin() as conn:
                gone = conn.execute(delete(slack_installations).where(slack_installations.c.team_id == team_id))
                if not gone.rowcount:
                    return False
                self.audit.append(
                    conn,
                    actor="slack",
                    action="slack.uninstalled",
                    platform="slack",
                    summary=f"Slack workspace {team_id} removed: {reason}",
                    detail={"team_id": team_id, "reason": reason},
                )
                return True

        removed = await asyncio.to_thread(write)
        self._changed(team_id)
        return removed

    def _changed(self, team_id: str) -> None:
        if self.on_change is not None:
            self.on_change(team_id)

    # -- reading -----------------------------------------------------------------------

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        if not team_id or is_enterprise_install:
            return None

        def read() -> Any:
            with self.db.read() as conn:
                return conn.execute(select(slack_installations).where(slack_installations.c.team_id == team_id)).first()

        row = await asyncio.to_thread(read)
        if row is None:
            return None
        m = row._mapping
        expires = m["bot_token_expires_at"]
        return Bot(
            app_id=m["app_id"] or None,
            enterprise_id=m["enterprise_id"] or None,
            team_id=m["team_id"],
            team_name=m["team_name"] or None,
            bot_token=self._open(m["bot_token"]),
            bot_refresh_token=self._open(m["bot_refresh_token"]) or None,
            bot_token_expires_at=int(expires.timestamp()) if expires else None,
            bot_id=m["bot_id"],
            bot_user_id=m["bot_user_id"],
            bot_scopes=m["bot_scopes"],
            is_enterprise_install=bool(m["is_enterprise_install"]),
            installed_at=m["installed_at"].timestamp(),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        if bot is None or user_id is not None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at,
            user_id="",
            installed_at=bot.installed_at,
        )

    def teams(self) -> list[str]:
        """Every installed workspace's team id (synchronous: for start-up and the tests)."""
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(select(slack_installations.c.team_id).order_by("team_id"))]

    # -- the tokens at rest ------------------------------------------------------------

    def _seal(self, token: str) -> str:
        return self.cipher.encrypt(token.encode()).decode() if token else ""

    def _open(self, sealed: str) -> str:
        if not sealed:
            return ""
        try:
            return self.cipher.decrypt(sealed.encode()).decode()
        except InvalidToken:
            # The secret key changed since the install: the workspace has to install again.
            log.error("slack: a stored token cannot be decrypted (was server.secret_key changed?)")
            return ""


class DbStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values: random, single use, ten minutes."""

    def __init__(self, expiration_seconds: int = STATE_SECONDS) -> None:
        self.db: Any = None  # bound with the installation store
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        now = utcnow()

        def write() -> None:
            with self.db.begin() as conn:
                conn.execute(delete(slack_oauth_states).where(slack_oauth_states.c.expires_at < now))
                conn.execute(
                    insert(slack_oauth_states).values(
                        state=state, expires_at=now + dt.timedelta(seconds=self.expiration_seconds)
                    )
                )

        await asyncio.to_thread(write)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state or len(state) > 100:
            return False
        now = utcnow()

        def write() -> bool:
            with self.db.begin() as conn:
                row = conn.execute(
                    select(slack_oauth_states.c.expires_at).where(slack_oauth_states.c.state == state)
                ).first()
                conn.execute(delete(slack_oauth_states).where(slack_oauth_states.c.state == state))
                return row is not None and row[0] > now

        return await asyncio.to_thread(write)
