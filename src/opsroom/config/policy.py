"""The ``policy:`` section of opsroom.yaml: YAML shorthand rules plus raw Cedar files.

The shorthand covers the common grants ("sre may deploy anything", "developers may deploy to
dev and staging from #deploys", "no production deploys at weekends"); everything else is
written in Cedar. Both end up in one Cedar policy set (see opsroom.policy and docs/policy.md).
A rule is a plain record so later features (approvals, confirmation) can add keys to it.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Union

from pydantic import Field, field_validator, model_validator

from opsroom.config.base import Section
from opsroom.config.guardrails import ApprovalSpec, ConfirmSpec

RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")

Scalar = Union[bool, int, str]


class ValueRange(Section):
    """A condition on an argument value that is not a plain list of values.

    ``not``: any value except these; ``min``/``max``: inclusive bounds for int arguments.
    """

    not_: Union[Scalar, list[Scalar], None] = Field(None, alias="not")
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _something(self) -> ValueRange:
        if self.not_ is None and self.min is None and self.max is None:
            raise ValueError("give at least one of not, min, max")
        if self.not_ is not None and (self.min is not None or self.max is not None):
            raise ValueError("use either not or min/max, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


ValueCondition = Union[Scalar, list[Scalar], ValueRange]


def _as_list(value: object) -> object:
    """Let users write ``allow: deploy`` as well as ``allow: [deploy]``."""
    return [value] if isinstance(value, str) else value


class PolicyRule(Section):
    """One shorthand rule: exactly one of ``allow`` / ``deny``, who, and optional conditions."""

    id: str = Field(description="Rule id; shown to users and written to the audit log.")
    allow: list[str] | None = Field(None, description='Command names, or "*" for every command.')
    deny: list[str] | None = Field(None, description='Command names, or "*" for every command.')
    roles: list[str] = Field([], description='Roles; "*" = every configured user.')
    groups: list[str] = []
    users: list[str] = Field([], description='User names; "*" = everyone, unknown senders too.')
    when: dict[str, ValueCondition] = Field(
        {}, description="Argument name -> a value, a list of values, or {not: …} / {min:, max:}."
    )
    channels: list[str] = Field([], description='Channel names ("#ops"); "dm" = direct messages.')
    platforms: list[str] = Field([], description="Chat platforms (slack, web, …).")
    during: list[str] = Field([], description='Time windows, e.g. "Sat-Sun" or "Mon-Fri 18:00-08:00".')
    outside: list[str] = Field([], description="The rule applies outside these time windows.")
    reason: str = Field("", max_length=200, description="Shown to the user when this rule denies.")
    description: str = ""
    # Guardrails (docs/guardrails.md): what an allow still needs before the run starts.
    require_approval: ApprovalSpec | None = Field(None, description="e.g. {count: 1, roles: [sre-lead], expires: 30m}")
    confirm: ConfirmSpec = Field(False, description='true (a button), "typed" or {typed: ARG}.')

    _lists = field_validator(
        "allow",
        "deny",
        "roles",
        "groups",
        "users",
        "channels",
        "platforms",
        "during",
        "outside",
        mode="before",
    )(_as_list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError(
                f"rule id {value!r} must start with a letter or digit and hold only letters, "
                "digits and _ . : - (at most 100 characters)"
            )
        return value

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("reason must be one line")
        return value

    @model_validator(mode="after")
    def _shape(self) -> PolicyRule:
        if (self.allow is None) == (self.deny is None):
            raise ValueError(f"rule {self.id}: give exactly one of allow or deny")
        if not self.commands:
            raise ValueError(f'rule {self.id}: name at least one command (or "*")')
        if self.allow is not None and not (self.roles or self.groups or self.users):
            raise ValueError(
                f'rule {self.id}: say who it allows with roles, groups or users (users: ["*"] for everyone)'
            )
        if self.during and self.outside:
            raise ValueError(f"rule {self.id}: use either during or outside, not both")
        if self.allow is None and (self.require_approval is not None or self.confirm):
            raise ValueError(f"rule {self.id}: require_approval and confirm belong on allow rules")
        return self

    @property
    def effect(self) -> str:
        return "permit" if self.allow is not None else "forbid"

    @property
    def commands(self) -> list[str]:
        return self.allow if self.allow is not None else (self.deny or [])


class PolicyConfig(Section):
    """``policy:`` in opsroom.yaml. With no rule and no file, everything is allowed (with a
    warning at start); as soon as either is given, whatever no rule allows is denied."""

    files: list[str] = Field([], description="Globs of .cedar files, relative to opsroom.yaml.")
    rules: list[PolicyRule] = []
    timezone: str = Field("UTC", description="Time zone for time windows and context.hour etc.")

    _files = field_validator("files", mode="before")(_as_list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Berlin)") from err
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id} is used twice")
            seen.add(rule.id)
        return self

    @property
    def configured(self) -> bool:
        return bool(self.rules or self.files)
