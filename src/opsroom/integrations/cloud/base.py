"""What a cloud provider supplies to opsroom. AWS implements it (aws.py); a GCP or Azure
provider implements the same methods and declares its own runner type with
``runner.CloudRunner`` (docs/integrations/aws.md, "A new provider").

Every method is async (SDKs that block run in a worker thread) and raises ``CloudError``
with a message fit for chat. Targets are names from the config, never raw identifiers typed
in chat: the provider resolves them and the runner checks the configured bounds first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from opsroom.errors import IntegrationError


class CloudError(IntegrationError):
    """A refusal or failure, worded for chat (no secrets, no stack)."""


@dataclass(frozen=True)
class Bounds:
    minimum: int
    maximum: int

    def check(self, kind: str, name: str, count: int) -> None:
        if not self.minimum <= count <= self.maximum:
            raise CloudError(
                f"{count} is outside the bounds of {kind} {name}: {self.minimum}–{self.maximum} (from opsroom's config)"
            )


@dataclass(frozen=True)
class Capacity:
    """A scalable thing now: how many are wanted and how many run."""

    name: str
    desired: int
    running: int
    detail: str = ""


@dataclass(frozen=True)
class Rollout:
    """A service's deployments at one moment; ``steady`` when one deployment serves all."""

    deployment_id: str
    desired: int
    running: int
    pending: int
    deployments: int
    state: str  # the provider's word: COMPLETED, IN_PROGRESS, FAILED…
    steady: bool
    failed: bool = False


@dataclass(frozen=True)
class Described:
    """A read-only view: one line per resource, fields for a table."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    status: str  # Active | Inactive
    created: str


class CloudProvider(Protocol):
    """One account/region (an opsroom "environment") of one provider."""

    name: str

    # -- scaling: a service (ECS service, Cloud Run service…) and a group of machines
    async def service_capacity(self, target: str) -> Capacity: ...
    async def scale_service(self, target: str, count: int) -> None: ...
    async def group_capacity(self, target: str) -> Capacity: ...
    async def scale_group(self, target: str, count: int) -> None: ...

    # -- restart: start a new deployment, then report on it until it settles
    async def restart_service(self, target: str) -> str: ...  # the new deployment's id
    async def rollout(self, target: str) -> Rollout: ...

    # -- read-only views
    async def describe(self, what: str) -> Described: ...
    async def can_describe(self, what: str) -> str: ...  # a dry run: the provider's own, where it has one

    # -- keys: create, store, verify, deactivate, delete; a managed secret's own rotation
    async def access_keys(self, user: str) -> Sequence[AccessKey]: ...
    async def create_access_key(self, user: str) -> tuple[str, str]: ...  # (key id, secret)
    async def store_key(self, user: str, key_id: str, secret: str) -> str: ...  # where it went
    async def verify_key(self, key_id: str, secret: str) -> None: ...
    async def set_key_status(self, user: str, key_id: str, active: bool) -> None: ...
    async def delete_access_key(self, user: str, key_id: str) -> None: ...
    async def rotate_secret(self, secret_id: str) -> str: ...  # the new version's id
