"""The pydantic model of opsroom.yaml. Each section lives in its own module in this package;
this file only puts them together. ``opsroom config schema`` prints the JSON schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from opsroom.config.alerts import AlertsConfig
from opsroom.config.audit import AuditConfig
from opsroom.config.base import Section
from opsroom.config.chat import ChatConfig
from opsroom.config.cluster import ClusterConfig
from opsroom.config.desk import DeskConfig, KbConfig
from opsroom.config.guardrails import GuardrailsConfig
from opsroom.config.incidents import IncidentsConfig
from opsroom.config.integrations import IntegrationsConfig
from opsroom.config.oncall import OncallConfig
from opsroom.config.policy import PolicyConfig
from opsroom.config.runbooks import RunbooksConfig
from opsroom.config.tickets import TicketsConfig


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = Field("", description="URL people reach opsroom at (links in chat).")
    # Secret used to sign button action ids and sessions; taken from the environment.
    secret_key: str = Field("${OPSROOM_SECRET_KEY:-}", description="Set via OPSROOM_SECRET_KEY.")
    metrics_token_env: str = Field(
        "",
        description="Env var holding the bearer token Prometheus sends to /metrics; "
        "empty: /metrics answers callers on this machine only.",
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Largest request body any HTTP endpoint accepts (chunked bodies "
        "too); larger ones get 413 before anything reads them.",
    )
    trusted_proxies: list[str] = Field(
        [],
        description="Addresses (or networks, e.g. 10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto opsroom believes; from anyone else those headers are "
        "ignored (the sign-in limiter counts the connecting address).",
    )


class DatabaseConfig(Section):
    url: str = Field("sqlite:///opsroom.db", description="sqlite:///path.db or postgresql://…")
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"


class UserConfig(Section):
    display_name: str = ""
    roles: list[str] = []
    groups: list[str] = []
    # platform name -> the user's id there: slack: U0123, mattermost: alice, email: a@x.io
    identities: dict[str, str] = {}
    password_hash: str = ""  # web chat sign-in (argon2/bcrypt hash), see `opsroom user passwd`


class ChannelConfig(Section):
    name: str  # "#ops"
    platform: str = "web"
    id: str = ""  # the platform's channel id; defaults to the name
    members: list[str] = []  # users or "role:sre"; empty = everyone
    description: str = ""
    # Errors, denials and help are answered to the asker only ("only you can see this") where
    # the platform can; false answers them to the whole channel.
    private_answers: bool = True


class ListConfig(Section):
    """A dynamic list for ``choice`` arguments: fixed values, or read from a JSON file."""

    values: list[str] = []
    file: str = ""  # JSON file
    path: str = ""  # dotted key inside the JSON file whose keys/items are the values


class OpsroomConfig(Section):
    """Root of opsroom.yaml."""

    demo: bool = False
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    cluster: ClusterConfig = ClusterConfig()
    audit: AuditConfig = AuditConfig()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    users: dict[str, UserConfig] = {}
    channels: list[ChannelConfig] = []
    lists: dict[str, ListConfig] = {}
    commands: dict[str, dict[str, Any]] = {}  # validated by opsroom.commands.catalog
    include: list[str] = []  # globs of YAML files merged into `commands`
    # Section models owned by other modules; each replaces its placeholder with its own
    # model from opsroom/config/<section>.py.
    policy: PolicyConfig = PolicyConfig()
    chat: ChatConfig = ChatConfig()
    alerts: AlertsConfig = AlertsConfig()
    oncall: OncallConfig = OncallConfig()
    integrations: IntegrationsConfig = IntegrationsConfig()
    tickets: TicketsConfig = TicketsConfig()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    kb: KbConfig = KbConfig()
    desk: DeskConfig = DeskConfig()
    runbooks: RunbooksConfig = RunbooksConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    secrets: list[str] = Field([], description="Names of environment variables whose values are secret.")

    @model_validator(mode="after")
    def _mattermost_buttons_reachable(self) -> OpsroomConfig:
        """Mattermost button URLs must be absolute: a relative one makes every click fail
        silently in the person's client."""
        mm = self.chat.mattermost
        if mm is not None and mm.enabled and not (mm.actions_url or self.server.public_url):
            raise ValueError(
                "chat.mattermost: buttons need a URL Mattermost can reach — set server.public_url "
                "(e.g. https://opsroom.example.com) or chat.mattermost.actions_url"
            )
        if mm is not None and mm.actions_url and not mm.actions_url.startswith(("http://", "https://")):
            raise ValueError("chat.mattermost.actions_url must start with http:// or https://")
        return self

    @model_validator(mode="after")
    def _cluster_needs_postgresql(self) -> OpsroomConfig:
        if self.cluster.enabled and not self.database.url.startswith("postgresql"):
            raise ValueError(
                "cluster.enabled needs PostgreSQL (database.url: postgresql://…): replicas share "
                "one database, and SQLite is one file on one machine"
            )
        return self
