"""The ``integrations:`` section of opsroom.yaml: settings shared by every command that uses
a provider (SSH inventories and keys, supervisord endpoints, Ansible project), so a catalog
entry only names them.

Secrets are never written here: a key file is named by path and its passphrase, like every
password or token, by the name of the environment variable that holds it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from opsroom.config.base import Section
from opsroom.config.cloud import AwsSettings, SqlSettings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str) -> str:
    if value and not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


class SshKey(Section):
    """A private key file opsroom uses to log in; ``passphrase_env`` names the variable holding
    its passphrase, if it has one."""

    file: str
    passphrase_env: str = ""

    @field_validator("passphrase_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return _env_name(value)


class SshHost(Section):
    address: str = Field(description="Host name or IP address to connect to.")
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str = ""
    key: str = Field(default="", description="Name of a key under integrations.ssh.keys.")


class SshInventory(Section):
    """A named set of hosts. Host-level values override the inventory defaults."""

    user: str = ""
    port: int = Field(default=22, ge=1, le=65535)
    key: str = ""
    hosts: dict[str, SshHost] = {}

    @field_validator("hosts", mode="before")
    @classmethod
    def _short_hosts(cls, value: Any) -> Any:
        # ``web1: 10.0.0.5`` is short for ``web1: {address: 10.0.0.5}``.
        if isinstance(value, dict):
            return {k: ({"address": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, value: dict[str, SshHost]) -> dict[str, SshHost]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"host name {name!r}: use letters, digits, '_', '.', '-'")
        return value


class SshSettings(Section):
    known_hosts: str = Field(
        default="~/.ssh/known_hosts",
        description="known_hosts file; a host whose key is not in it is refused. There is no "
        "switch to turn the check off.",
    )
    connect_timeout: float = Field(default=15.0, gt=0)
    keys: dict[str, SshKey] = {}
    inventories: dict[str, SshInventory] = {}

    @model_validator(mode="after")
    def _keys_exist(self) -> SshSettings:
        for inv_name, inv in self.inventories.items():
            names = [inv.key] + [h.key for h in inv.hosts.values()]
            for key in names:
                if key and key not in self.keys:
                    raise ValueError(f"inventory {inv_name!r} uses key {key!r}, which is not under ssh.keys")
        return self


class SupervisorEndpoint(Section):
    url: str = Field(description="XML-RPC URL of supervisord, e.g. http://127.0.0.1:9001/RPC2")
    username_env: str = ""
    password_env: str = ""
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("username_env", "password_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return _env_name(value)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("supervisor url must start with http:// or https://")
        return value


class SupervisorSettings(Section):
    endpoints: dict[str, SupervisorEndpoint] = {}


class AnsibleSettings(Section):
    project_dir: str = Field(default=".", description="Directory playbook paths are relative to.")
    inventory: str = Field(default="", description="Default inventory file (relative to project_dir).")
    playbook_binary: str = Field(
        default="",
        description="ansible-playbook to run; default: found next to the Python running opsroom, then on PATH.",
    )
    envvars: dict[str, str] = Field(
        default={}, description="Extra environment for ansible-playbook (ANSIBLE_* settings)."
    )
    keep_artifacts: bool = False


class IntegrationsConfig(Section):
    ssh: SshSettings = SshSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    ansible: AnsibleSettings = AnsibleSettings()
    aws: AwsSettings = AwsSettings()
    sql: SqlSettings = SqlSettings()
    # Owned by the CI/CD and Kubernetes providers; each replaces its placeholder with its model.
    github_actions: dict[str, Any] = {}
    gitlab: dict[str, Any] = {}
    jenkins: dict[str, Any] = {}
    argocd: dict[str, Any] = {}
    kubernetes: dict[str, Any] = {}
