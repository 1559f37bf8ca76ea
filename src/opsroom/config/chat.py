"""The ``chat:`` section of opsroom.yaml: which chat platforms opsroom talks on.

Tokens are plain strings here; write them as ``${SLACK_BOT_TOKEN}`` and the config loader
fills them in from the environment, so no secret ever sits in the file. Token fields are
kept out of ``repr`` so a logged config never shows them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from opsroom.config.base import Section


class WebChatConfig(Section):
    """The built-in web chat and console (owned by the web chat module; docs/webchat.md)."""

    enabled: bool = True
    session_hours: float = Field(12, gt=0, le=24 * 30, description="How long a browser stays signed in.")
    signin_attempts_per_address: int = Field(
        20, ge=1, description="Sign-in attempts allowed per client address per signin_window_seconds."
    )
    signin_failures_per_user: int = Field(
        5, ge=1, description="Failed sign-ins allowed per user name per signin_window_seconds."
    )
    signin_window_seconds: float = Field(300, gt=0)


class SlackConfig(Section):
    enabled: bool = True
    mode: Literal["http", "socket"] = Field(
        "http", description="http: Events API to /slack/*; socket: Socket Mode, no public URL needed."
    )
    bot_token: str = Field(
        "", repr=False, description="xoxb-… bot token of the one workspace, e.g. ${SLACK_BOT_TOKEN}; or client_id."
    )
    client_id: str = Field(
        "",
        description="Multi-workspace: the app's client id. Workspaces install opsroom at install_path "
        "(OAuth v2); their tokens are kept encrypted in opsroom's database. Instead of bot_token.",
    )
    client_secret: str = Field("", repr=False, description="With client_id: ${SLACK_CLIENT_SECRET}.")
    scopes: list[str] = Field(
        [
            "app_mentions:read",
            "channels:history",
            "groups:history",
            "im:history",
            "channels:read",
            "groups:read",
            "channels:join",
            "chat:write",
            "commands",
            "users:read",
            "users:read.email",
        ],
        description="Bot scopes asked for at install (client_id only).",
    )
    install_path: str = Field("/slack/install", description="Where a workspace admin starts the install.")
    redirect_path: str = Field("/slack/oauth_redirect", description="The app's OAuth Redirect URL path.")
    workspaces: dict[str, str] = Field(
        {},
        description="Team id → the name policy and audit use for it (#ops@acme). Non-empty: only these "
        "workspaces may install, and only their emails map people to opsroom users.",
    )
    catch_up_messages: int = Field(
        100, ge=0, le=1000, description="Socket Mode: messages per channel fetched again after a reconnect (0: off)."
    )
    signing_secret: str = Field("", repr=False, description="Required in http mode: ${SLACK_SIGNING_SECRET}.")
    app_token: str = Field("", repr=False, description="Required in socket mode: xapp-… ${SLACK_APP_TOKEN}.")
    base_url: str = Field("https://slack.com/api/", description="Web API base URL (tests point it at a fake).")
    umbrella_command: str = Field(
        "/ops",
        description="`/ops deploy api` is handed on as `deploy api`; any other slash command "
        "is handed on with its own name: `/deploy api` → `deploy api`.",
    )
    channels: list[str] = Field(
        [],
        description="Channel ids whose plain messages are read (for `!cmd`); empty = every channel "
        "the bot is in. Mentions, DMs and slash commands are always read.",
    )
    echo_commands: bool = Field(
        True, description="Acknowledge slash commands in the channel, so everyone sees who ran what."
    )
    lookup_emails: bool = Field(True, description="Fetch senders' emails with users.info (users:read.email).")
    pace_seconds: float = Field(1.0, ge=0, description="Minimum gap between posts to one channel.")
    broadcast_final: bool = Field(
        True,
        description="When a run started in a thread ends, also show its final status in the "
        "channel (reply_broadcast), so the outcome is seen without opening the thread.",
    )
    max_rate_limit_retries: int = Field(3, ge=0, description="Retries after a 429, honouring Retry-After.")

    @model_validator(mode="after")
    def _tokens_for_mode(self) -> SlackConfig:
        if self.enabled and self.client_id and self.bot_token:
            raise ValueError("slack: set bot_token (one workspace) or client_id (installed per workspace), not both")
        if self.enabled and self.client_id and not self.client_secret:
            raise ValueError("slack: client_id needs client_secret (e.g. ${SLACK_CLIENT_SECRET})")
        if self.enabled and not (self.bot_token or self.client_id):
            raise ValueError("slack: bot_token is empty (is SLACK_BOT_TOKEN set in the environment?)")
        if self.enabled and self.mode == "http" and not self.signing_secret:
            raise ValueError("slack: mode http needs signing_secret (e.g. ${SLACK_SIGNING_SECRET})")
        if self.enabled and self.mode == "socket" and not self.app_token:
            raise ValueError("slack: mode socket needs app_token (xapp-…, e.g. ${SLACK_APP_TOKEN})")
        if not self.umbrella_command.startswith("/"):
            raise ValueError("slack: umbrella_command must start with '/', e.g. /ops")
        return self


class MattermostConfig(Section):
    enabled: bool = True
    url: str = Field(..., description="The Mattermost server, e.g. https://chat.example.com")
    bot_token: str = Field(..., repr=False, description="The bot account's access token: ${MATTERMOST_TOKEN}.")
    command_tokens: list[str] = Field(
        [], repr=False, description="Tokens of the slash commands that point at /mattermost/command."
    )
    actions_url: str = Field(
        "",
        description="URL Mattermost posts button clicks to; default <server.public_url>/mattermost/actions.",
    )
    site_url: str = Field(
        "",
        description="Mattermost's SiteURL when it differs from url (slash commands' response_url "
        "must start with it to be used); default: url.",
    )
    click_answer_seconds: float = Field(
        3.0,
        ge=0,
        le=25,
        description="How long a click waits for the engine's answer, so a refusal can go back as "
        "the click's ephemeral_text (below Mattermost's OutgoingIntegrationRequestsTimeout).",
    )
    umbrella_command: str = "/ops"
    channels: list[str] = Field([], description="Channel ids whose plain messages are read; empty = all.")
    lookup_emails: bool = True
    verify_tls: bool = True
    pace_seconds: float = Field(0.2, ge=0, description="Minimum gap between posts to one channel.")
    reconnect_min_seconds: float = Field(0.5, gt=0)
    reconnect_max_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> MattermostConfig:
        if self.enabled and not self.bot_token:
            raise ValueError("mattermost: bot_token is empty (is MATTERMOST_TOKEN set in the environment?)")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("mattermost: url must start with http:// or https://")
        if not self.umbrella_command.startswith("/"):
            raise ValueError("mattermost: umbrella_command must start with '/', e.g. /ops")
        return self


class MatrixConfig(Section):
    """A Matrix account for the bot (docs/adapters/matrix.md)."""

    enabled: bool = True
    homeserver: str = Field(..., description="The homeserver's client URL, e.g. https://matrix.example.org")
    user_id: str = Field(..., description="The bot's Matrix id, e.g. @opsroom:example.org")
    access_token: str = Field("", repr=False, description="${MATRIX_ACCESS_TOKEN}; or use password.")
    password: str = Field("", repr=False, description="${MATRIX_PASSWORD}: log in at start instead of a token.")
    device_id: str = Field(
        "", description="The device the access token belongs to (needed with access_token for encryption)."
    )
    device_name: str = "opsroom"
    rooms: list[str] = Field([], description="Room ids or aliases to join at start; invites to them are accepted.")
    invites_from_servers: list[str] = Field(
        [], description="Also accept invites from users of these homeservers (e.g. example.org); others are ignored."
    )
    channel_names: dict[str, str] = Field(
        {}, description="Room id → the name policies use (#ops); otherwise the room's own name."
    )
    encryption: bool = Field(
        True, description="Read and write in encrypted rooms (needs the matrix extra's vodozemac)."
    )
    trust: Literal["directory", "all"] = Field(
        "directory",
        description="Whose devices get the room keys in encrypted rooms: directory = only devices of "
        "users with a matrix identity in users:, all = every device in the room.",
    )
    store_path: str = Field(
        "", description="Where device keys and the sync token are kept; default <data folder>/matrix."
    )
    reactions: dict[str, str] = Field(
        {"✅": "Approve", "👍": "Approve", "❌": "Deny", "🛑": "Cancel", "☑️": "Confirm", "👀": "Ack"},
        description="Reacting with the emoji on a message clicks its button with this label.",
    )
    sync_timeout_seconds: float = Field(30.0, gt=0, le=120)

    @model_validator(mode="after")
    def _check(self) -> MatrixConfig:
        if not self.homeserver.startswith(("http://", "https://")):
            raise ValueError("matrix: homeserver must start with http:// or https://")
        if not self.user_id.startswith("@") or ":" not in self.user_id:
            raise ValueError("matrix: user_id must look like @opsroom:example.org")
        if self.enabled and not (self.access_token or self.password):
            raise ValueError("matrix: set access_token (${MATRIX_ACCESS_TOKEN}) or password (${MATRIX_PASSWORD})")
        return self


class TeamsConfig(Section):
    """A Microsoft Teams bot on the Microsoft 365 Agents SDK (docs/adapters/teams.md)."""

    enabled: bool = True
    app_id: str = Field("", description="The Entra app (client) id of the bot: the audience of incoming tokens.")
    app_password: str = Field("", repr=False, description="The app's client secret: ${TEAMS_APP_PASSWORD}.")
    tenant_id: str = Field("", description="Your Entra tenant id (single-tenant bots); empty = multi-tenant.")
    local_development_without_auth: bool = Field(
        False,
        description="Accept unauthenticated activities (Bot Framework Emulator on a laptop). Never in production: "
        "opsroom refuses to start with an empty app_id unless this is set.",
    )
    channel_names: dict[str, str] = Field(
        {}, description="Conversation id → the name policies use (#ops); otherwise the Teams channel's name."
    )
    store_path: str = Field("", description="Where conversation references are kept; default <data folder>/teams.")
    service_hosts: list[str] = Field(
        [],
        description="Hosts besides Microsoft's own that may appear as an activity's serviceUrl (sovereign "
        "clouds); any other is refused. The host must also match the token's serviceurl claim.",
    )
    local_service_urls: bool = Field(
        False,
        description="Accept http:// and private-address service URLs (Bot Framework Emulator, a local "
        "test connector). Off in production: only https Microsoft hosts (plus service_hosts).",
    )
    max_rate_limit_retries: int = Field(3, ge=0, description="Retries after a 429 from Teams, honouring Retry-After.")
    pace_seconds: float = Field(1.0, ge=0, description="Minimum gap between posts to one conversation.")

    @model_validator(mode="after")
    def _check(self) -> TeamsConfig:
        if self.enabled and not self.app_id and not self.local_development_without_auth:
            raise ValueError(
                "teams: app_id is empty; set it (the bot's Entra app id), or set "
                "local_development_without_auth: true for the Bot Framework Emulator on a laptop"
            )
        if self.app_id and not self.app_password:
            raise ValueError("teams: app_password is empty (is TEAMS_APP_PASSWORD set in the environment?)")
        return self


class ChatConfig(Section):
    web: WebChatConfig = WebChatConfig.model_validate({})
    slack: SlackConfig | None = None
    mattermost: MattermostConfig | None = None
    matrix: MatrixConfig | None = None
    teams: TeamsConfig | None = None
