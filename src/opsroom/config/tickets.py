"""The ``tickets:`` section of opsroom.yaml: which ticket systems opsroom talks to.

The built-in store (tickets in opsroom's own database) is always there under the name
``builtin``; other providers are named entries with a ``type``. ``default`` is the one
``/ticket`` and hooks use when they do not name a provider; ``changes`` is the one that
confirms change tickets given with ``--change``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from opsroom.config.base import Section

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PRIORITIES = ("p1", "p2", "p3", "p4")


def _env_name(value: str) -> str:
    if value and not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _one_secret(env: str, file: str, label: str) -> None:
    if bool(env) == bool(file):
        raise ValueError(f"give exactly one of {label}_env or {label}_file")


class _Remote(Section):
    url: str = Field(description="Base URL of the service.")
    timeout: float = Field(default=20.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10, description="Retries on 429, 5xx and connection errors.")
    retry_backoff: float = Field(default=0.5, ge=0, description="First back-off (s); doubles each retry.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value.rstrip("/")


class BuiltinTicketsConfig(Section):
    type: Literal["builtin"] = "builtin"


class JiraConfig(_Remote):
    type: Literal["jira"]
    edition: Literal["cloud", "server"] = "cloud"
    api_version: Literal[2, 3] | None = Field(default=None, description="Default: 3 on cloud, 2 on server.")
    email_env: str = Field(default="", description="Cloud: variable holding the account e-mail.")
    token_env: str = Field(default="", description="Cloud: API token; server: personal access token.")
    token_file: str = Field(default="", description="A file holding the token, instead of token_env.")
    project: str = Field(description="Project key, e.g. OPS.")
    issue_type: str = "Task"
    priorities: dict[str, str] = Field(
        default={"p1": "Highest", "p2": "High", "p3": "Medium", "p4": "Low"},
        description="opsroom priority -> Jira priority name.",
    )
    close_transition: str = Field(default="Done", description="Name of the transition (or target status) that closes.")
    labels: list[str] = ["opsroom"]

    @field_validator("email_env", "token_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return _env_name(value)

    @model_validator(mode="after")
    def _cloud_email(self) -> JiraConfig:
        _one_secret(self.token_env, self.token_file, "token")
        if self.edition == "cloud" and not self.email_env:
            raise ValueError("Jira cloud needs email_env (the API token belongs to an account)")
        return self


class ServiceNowConfig(_Remote):
    type: Literal["servicenow"]
    username_env: str = ""
    password_env: str = ""
    password_file: str = ""
    token_env: str = Field(default="", description="OAuth bearer token instead of user/password.")
    token_file: str = ""
    table: Literal["incident"] = "incident"
    assignment_group: str = ""
    caller_id: str = ""
    close_code: str = Field(default="Solution provided", description="close_code set when resolving.")
    # change_request states in which a change may be carried out (-2 Scheduled, -1 Implement).
    change_states: list[str] = ["-2", "-1"]

    @field_validator("username_env", "password_env", "token_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return _env_name(value)

    @model_validator(mode="after")
    def _some_auth(self) -> ServiceNowConfig:
        token = self.token_env or self.token_file
        if not token and not (self.username_env and (self.password_env or self.password_file)):
            raise ValueError(
                "ServiceNow needs username_env and password_env (or password_file), or token_env (or token_file)"
            )
        return self


class GitHubIssuesConfig(_Remote):
    type: Literal["github"]
    url: str = "https://api.github.com"
    repo: str = Field(description="owner/name")
    token_env: str = ""
    token_file: str = ""
    labels: list[str] = ["opsroom"]

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return _env_name(value)

    @model_validator(mode="after")
    def _secret(self) -> GitHubIssuesConfig:
        _one_secret(self.token_env, self.token_file, "token")
        return self

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", value):
            raise ValueError("repo must look like owner/name")
        return value


ProviderConfig = Annotated[
    Union[BuiltinTicketsConfig, JiraConfig, ServiceNowConfig, GitHubIssuesConfig],
    Field(discriminator="type"),
]


class TicketsConfig(Section):
    default: str = "builtin"
    changes: str = Field(default="builtin", description="Provider that confirms --change tickets.")
    providers: dict[str, ProviderConfig] = {}

    @model_validator(mode="after")
    def _known(self) -> TicketsConfig:
        names = set(self.providers) | {"builtin"}
        for key in ("default", "changes"):
            value = getattr(self, key)
            if value not in names:
                raise ValueError(f"tickets.{key}: no provider named {value!r} (have: {', '.join(sorted(names))})")
        if "builtin" in self.providers and self.providers["builtin"].type != "builtin":
            raise ValueError("the name 'builtin' is reserved for the built-in ticket store")
        return self


PRIORITIES = _PRIORITIES
