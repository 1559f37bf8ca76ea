"""The ``alerts:`` section of opsroom.yaml: intake sources, grouping timers, routes,
anti-fatigue limits and the buttons shown on alert messages."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from opsroom.clock import config_seconds as parse_duration
from opsroom.config.base import Section

Duration = Annotated[float, BeforeValidator(parse_duration)]

LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class GenericMapping(Section):
    """How a generic JSON payload maps onto an alert. Values are dotted paths into the JSON
    (``data.title``, ``labels.service``); ``alerts`` points at a list when one payload holds
    several alerts (empty: the payload is one alert)."""

    alerts: str = ""
    title: str = "title"
    severity: str = "severity"
    fingerprint: str = ""  # empty: derived from the labels and title
    status: str = "status"
    labels: str = "labels"
    annotations: str = ""
    description: str = ""
    runbook_url: str = ""
    url: str = ""
    starts_at: str = ""
    resolved_values: list[str] = ["resolved", "ok", "closed", "recovered", "false"]


class SourceConfig(Section):
    """One intake source. Either a bearer token or an HMAC-SHA256 secret is required; both
    come from environment variables so they never live in the file."""

    type: Literal["alertmanager", "grafana", "generic"]
    token_env: str = Field("", description="Env var holding the bearer token callers send.")
    hmac_secret_env: str = Field("", description="Env var holding the HMAC-SHA256 secret.")
    signature_header: str = "X-Opsroom-Signature"
    timestamp_header: str = Field("", description="If set, the signed text is '<timestamp>:<body>' (Grafana's scheme).")
    mapping: GenericMapping | None = None
    # Alertmanager to create silences in; empty: the payload's externalURL.
    alertmanager_url: str = ""

    @model_validator(mode="after")
    def _needs_auth(self) -> SourceConfig:
        if not self.token_env and not self.hmac_secret_env:
            raise ValueError("every alert source needs token_env or hmac_secret_env")
        if self.type == "generic" and self.mapping is None:
            raise ValueError("a generic source needs a mapping")
        return self


class GroupingConfig(Section):
    group_by: list[str] = ["alertname"]
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval: Duration = 4 * 3600.0


class RouteConfig(Section):
    """Label matchers → channels. ``match`` compares exactly, ``match_re`` with a full regex
    match. ``mention`` maps a severity (or ``"*"``) to users or ``oncall:<schedule>``."""

    name: str = ""
    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    channels: list[str] = []
    mention: dict[str, list[str]] = {}
    escalation: str = ""  # name of an oncall escalation policy
    group_by: list[str] | None = None
    scheduled_digest: bool = False  # collect into the scheduled digest instead of live posts
    continue_: bool = Field(False, alias="continue")

    model_config = Section.model_config | {"populate_by_name": True}

    @field_validator("match_re")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"match_re.{key}: {exc}") from None
        return value


class BudgetConfig(Section):
    """At most ``max_messages`` new top-level posts per channel per ``window``; past it, new
    groups collapse into one digest message kept up to date."""

    max_messages: int = Field(default=20, ge=1)
    window: Duration = 600.0


class FlappingConfig(Section):
    max_changes: int = Field(default=4, ge=2, description="status changes within window that make it flap")
    window: Duration = 1800.0


class DigestConfig(Section):
    """The scheduled digest for low-severity groups."""

    severities: list[str] = ["info", "low", "none"]
    interval: Duration = 3600.0


class DiagnosticButton(Section):
    label: str
    command: str  # e.g. "logs {service}"; shown only when every {label} is on the group


class AlertsConfig(Section):
    sources: dict[str, SourceConfig] = {}
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_alerts_per_request: int = Field(1000, ge=1)
    platform: str = Field("web", description="Platform of channels not listed under `channels:`.")
    default_channel: str = "#alerts"
    grouping: GroupingConfig = GroupingConfig()
    routes: list[RouteConfig] = []
    budget: BudgetConfig = BudgetConfig()
    flapping: FlappingConfig = FlappingConfig()
    digest: DigestConfig = DigestConfig()
    silence_durations: list[Duration] = [3600.0, 4 * 3600.0]
    max_silence: Duration = 7 * 86400.0
    diagnostics: list[DiagnosticButton] = []
    runbooks_dir: str = ""
    prometheus_url: str = ""
    alertmanager_url: str = ""  # default Alertmanager for silences
    tick: Duration = 1.0
    # Alertmanager sends nothing about silenced alerts, not even their resolution, so for a
    # group silenced there opsroom asks it this often which of the group's alerts are active.
    silenced_poll: Duration = Field(default=30.0, gt=0)
