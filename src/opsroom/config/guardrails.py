"""The ``guardrails:`` section of opsroom.yaml, and the approval / confirmation shapes that
policy rules and command ``options`` share.

Guardrails are what stands between an allowed command and its run: approvals, confirmation,
change freezes, break-glass, rate limits, private output, redaction and roles from groups.
See docs/guardrails.md.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Literal, Union

from pydantic import ConfigDict, Field, field_validator, model_validator

from opsroom.clock import whole_seconds as duration_seconds
from opsroom.config.base import Section


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Berlin)") from err
    return value


class ApprovalSpec(Section):
    """``require_approval:`` on a policy rule, or ``options.approval`` on a command."""

    count: int = Field(1, ge=1, le=10, description="How many distinct approvers are needed.")
    roles: list[str] = Field([], description="Approvers must have one of these roles…")
    users: list[str] = Field([], description="…or be one of these users.")
    expires: Union[str, int] = Field("30m", description="The request expires after this long.")
    allow_requester_team: bool = Field(
        True, description="False: nobody sharing a group (team) with the requester may approve."
    )

    _lists = field_validator("roles", "users", mode="before")(_as_list)

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: str | int) -> str | int:
        duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _who(self) -> ApprovalSpec:
        if not self.roles and not self.users:
            raise ValueError("say who may approve with roles or users")
        return self

    @property
    def expires_seconds(self) -> int:
        return duration_seconds(self.expires)


class TypedConfirm(Section):
    """``confirm: {typed: service}``: the requester types the value of that argument."""

    typed: str = Field(min_length=1)


# true = a Confirm button; "typed" = type the value of the command's first argument;
# {typed: ARG} = type the value of ARG.
ConfirmSpec = Union[bool, Literal["typed"], TypedConfirm]


class CommandGuards(Section):
    """What a command may declare under its ``options:`` (checked at start)."""

    confirm: ConfirmSpec = False
    approval: ApprovalSpec | None = None
    output: Literal["chat", "private"] = "chat"
    model_config = ConfigDict(extra="ignore", frozen=True)  # other features own other option keys


class FreezeWindow(Section):
    """A change freeze. Either fixed dates (``from``/``until``) or recurring ``every`` windows
    (policy window syntax: ``"Fri 15:00-24:00"``, ``"Sat-Sun"``), in ``timezone``."""

    name: str = Field(min_length=1, max_length=100)
    commands: list[str] = Field([], description='Frozen commands; empty or "*" = every command that changes something.')
    when: dict[str, list[Union[str, int, bool]]] = Field(
        {}, description="Only when these arguments have one of these values, e.g. {env: [production]}."
    )
    # A bare date starts at its midnight (``from``) or ends at the next one (``until``).
    from_: dt.date | dt.datetime | None = Field(None, alias="from")
    until: dt.date | dt.datetime | None = None
    every: list[str] = []
    timezone: str = "UTC"
    reason: str = Field("", max_length=200)

    _lists = field_validator("commands", "every", mode="before")(_as_list)

    @field_validator("when", mode="before")
    @classmethod
    def _when_lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @model_validator(mode="after")
    def _shape(self) -> FreezeWindow:
        dated = self.from_ is not None or self.until is not None
        if dated == bool(self.every):
            raise ValueError(f"freeze {self.name!r}: give either from/until dates or every windows")
        if dated and self.until is None:
            raise ValueError(f"freeze {self.name!r}: a dated freeze needs until")
        from opsroom.policy.windows import WindowError, parse_window

        for text in self.every:
            try:
                parse_window(text)
            except WindowError as err:
                raise ValueError(f"freeze {self.name!r}: {err}") from None
        return self


class FreezesConfig(Section):
    windows: list[FreezeWindow] = []
    # Commands a freeze switched on from chat covers when it names none.
    default_commands: list[str] = Field([], description="Empty = every command that is not read_only.")
    timezone: str = Field("UTC", description="Time zone for `/freeze … until friday`.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)


class BreakGlassConfig(Section):
    roles: list[str] = Field([], description="Who may use --break-glass; empty = nobody.")
    users: list[str] = []
    channel: str = Field("", description='Where every break-glass use is posted, e.g. "#war-room".')
    platform: str = Field("", description="Platform of that channel; default: where it was used.")
    min_reason_chars: int = Field(10, ge=1, le=200)

    _lists = field_validator("roles", "users", mode="before")(_as_list)


class RateLimit(Section):
    """At most ``limit`` runs of these commands per ``window``, counted per user (``per:
    user``) or for everyone together (``per: command``)."""

    commands: list[str] = Field(["*"], description='"*" = every command that is not read_only.')
    per: Literal["user", "command"] = "user"
    limit: int = Field(ge=1, le=100_000)
    window: Union[str, int]
    exempt_roles: list[str] = []

    _lists = field_validator("commands", "exempt_roles", mode="before")(_as_list)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | int) -> str | int:
        duration_seconds(value)
        return value

    @property
    def window_seconds(self) -> int:
        return duration_seconds(self.window)


class RedactionConfig(Section):
    """Added to the root ``secrets:`` (env var names) and the built-in token shapes."""

    env: list[str] = Field([], description="More environment variables whose values are secret.")
    patterns: list[str] = Field([], description="Extra regular expressions to redact.")
    env_name_patterns: list[str] = Field(
        ["*_TOKEN", "*_SECRET", "*_PASSWORD", "*_API_KEY"],
        description="Environment variables whose names match are treated as secret too.",
    )

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"redaction pattern {pattern!r}: {err}") from None
        return value


class GuardrailsConfig(Section):
    confirmations_expire: Union[str, int] = Field("5m", description="Expiry of confirmation requests.")
    sweep_interval: float = Field(15.0, gt=0, description="Seconds between checks for expired requests.")
    freezes: FreezesConfig = FreezesConfig()
    break_glass: BreakGlassConfig = BreakGlassConfig()
    rate_limits: list[RateLimit] = []
    redaction: RedactionConfig = RedactionConfig()
    private_output_roles: list[str] = Field(
        [], description="Besides the requester, who may read the output of `output: private` commands."
    )
    group_roles: dict[str, list[str]] = Field(
        {}, description="Platform or identity-provider group -> roles its members get."
    )

    @field_validator("confirmations_expire")
    @classmethod
    def _durations(cls, value: str | int) -> str | int:
        duration_seconds(value)
        return value

    @property
    def confirmations_expire_seconds(self) -> int:
        return duration_seconds(self.confirmations_expire)
