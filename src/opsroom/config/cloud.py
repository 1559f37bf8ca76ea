"""``integrations.aws`` and ``integrations.sql`` in opsroom.yaml: cloud environments and what
opsroom may touch in them, and the databases ``/sql`` may read.

Only named targets can be changed: a catalog command says ``service: "{service}"`` and the
value must be a name configured here, whose bounds (min/max) are checked before any call.
Credentials never live here: they come from the AWS standard chain (environment, profile,
an assumed role per environment); database URLs from environment variables.
"""

from __future__ import annotations

import re
from typing import Union

from pydantic import Field, field_validator, model_validator

from opsroom.clock import whole_seconds as duration_seconds
from opsroom.config.base import Section

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _names(value: dict[str, object], what: str) -> None:
    for name in value:
        if not _NAME.match(name):
            raise ValueError(f"{what} name {name!r}: use letters, digits, '_', '.', '-'")


class Bounded(Section):
    """A count opsroom may set, and the range it must stay in."""

    min: int = Field(0, ge=0)
    max: int = Field(ge=0, le=10_000)

    @model_validator(mode="after")
    def _ordered(self) -> Bounded:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class EcsService(Bounded):
    cluster: str = Field(description="ECS cluster name or ARN.")
    service: str = Field(description="ECS service name.")


class AutoScalingGroup(Bounded):
    group: str = Field(description="Auto Scaling group name.")


class KeyRotation(Section):
    """How an IAM access key is rotated: where the new key is stored, how long the old one stays
    (inactive) before opsroom deletes it."""

    grace_period: Union[str, int] = Field("7d", description="Old key is deleted this long after it is deactivated.")
    secret_name: str = Field(
        "opsroom/iam/{user}",
        description="Secrets Manager secret that receives the new key ({user} is the IAM user).",
    )
    users: list[str] = Field([], description="IAM users whose keys opsroom may rotate (empty: none).")
    verify_timeout: float = Field(30.0, gt=0, description="Seconds to wait for the new key to work.")

    @field_validator("grace_period")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        duration_seconds(value)
        return value

    @property
    def grace_seconds(self) -> int:
        return duration_seconds(self.grace_period)


class AwsEnvironment(Section):
    """One AWS account/region opsroom acts in. Credentials: the standard chain, or ``profile``;
    ``role_arn`` is assumed on top for this environment."""

    region: str = Field(description="AWS region, e.g. eu-west-1.")
    profile: str = Field("", description="Named profile from the shared AWS config files.")
    role_arn: str = Field("", description="Role assumed for this environment (sts:AssumeRole).")
    external_id_env: str = Field("", description="Environment variable holding the role's external id.")
    endpoint_url: str = Field("", description="Other endpoint for every service (VPC endpoints, local tests).")
    ecs_services: dict[str, EcsService] = {}
    autoscaling_groups: dict[str, AutoScalingGroup] = {}
    key_rotation: KeyRotation = KeyRotation()

    @field_validator("ecs_services", "autoscaling_groups")
    @classmethod
    def _target_names(cls, value: dict[str, object]) -> dict[str, object]:
        _names(value, "target")
        return value

    @field_validator("external_id_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if value and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("endpoint_url must start with http:// or https://")
        return value


class AwsSettings(Section):
    environments: dict[str, AwsEnvironment] = {}
    poll_interval: float = Field(5.0, gt=0, description="Seconds between progress checks of a deployment.")
    sweep_interval: float = Field(60.0, gt=0, description="Seconds between checks for old keys due for deletion.")

    @field_validator("environments")
    @classmethod
    def _env_names(cls, value: dict[str, AwsEnvironment]) -> dict[str, AwsEnvironment]:
        _names(value, "environment")  # type: ignore[arg-type]
        return value


class SqlDatabase(Section):
    """A database ``/sql`` may read. The URL comes from an environment variable (it usually
    carries a password); use a login that can only read, opsroom's checks are a second wall."""

    url_env: str = Field(description="Environment variable holding the SQLAlchemy URL.")
    statement_timeout: float = Field(10.0, gt=0, le=600, description="Seconds a query may run.")
    max_rows: int = Field(100, ge=1, le=10_000, description="Rows shown at most.")

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class SqlSettings(Section):
    databases: dict[str, SqlDatabase] = {}
    output: str = Field("chat", pattern="^(chat|private)$", description="private: results only in a DM.")
    max_cell_chars: int = Field(200, ge=10, le=10_000, description="Longer values are cut.")

    @field_validator("databases")
    @classmethod
    def _db_names(cls, value: dict[str, SqlDatabase]) -> dict[str, SqlDatabase]:
        _names(value, "database")  # type: ignore[arg-type]
        return value
