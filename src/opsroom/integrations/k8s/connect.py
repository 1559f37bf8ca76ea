"""Connecting to a Kubernetes API server and calling it with retries and clear errors.

We use ``kubernetes_asyncio`` (the asyncio port of the official client) rather than raw REST:
its kubeconfig loader handles what real clusters use (client certificates, CA bundles, bearer
tokens, ``exec`` credential plugins such as ``aws eks get-token`` / ``gke-gcloud-auth-plugin``,
OIDC refresh) and in-cluster service-account config, and that is the part most worth not
re-implementing. It talks to any API server URL, including the plain-HTTP fake on 127.0.0.1
that the tests run against.

What it lacks, we add here: retries with back-off on 5xx, 429 (API Priority and Fairness
sends ``Retry-After``) and connection errors, and errors that say what failed in words.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from opsroom.errors import IntegrationError
from opsroom.integrations.http import describe_status

VENDOR = "Kubernetes"
T = TypeVar("T")


@dataclass(frozen=True)
class ClusterSettings:
    kubeconfig: str = ""  # "" = $KUBECONFIG or ~/.kube/config
    context: str = ""
    in_cluster: bool | None = None  # None: in-cluster when running in a pod with no kubeconfig
    timeout: float = 30.0
    retries: int = 4
    retry_backoff: float = 0.5
    max_retry_after: float = 120.0


async def connect(settings: ClusterSettings) -> client.ApiClient:
    """An ApiClient for the configured cluster (the caller closes it)."""
    cfg = client.Configuration()
    try:
        if _use_in_cluster(settings):
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(
                config_file=os.path.expanduser(settings.kubeconfig) if settings.kubeconfig else None,
                context=settings.context or None,
                client_configuration=cfg,
            )
    except (ConfigException, OSError) as exc:
        where = (
            "in-cluster service account"
            if _use_in_cluster(settings)
            else f"kubeconfig {settings.kubeconfig or '(default)'}"
        )
        raise IntegrationError(f"cannot load the Kubernetes {where}: {exc}") from None
    return client.ApiClient(cfg)


def _use_in_cluster(settings: ClusterSettings) -> bool:
    if settings.in_cluster is not None:
        return settings.in_cluster
    if settings.kubeconfig or os.environ.get("KUBECONFIG"):
        return False
    return "KUBERNETES_SERVICE_HOST" in os.environ and not os.path.exists(os.path.expanduser("~/.kube/config"))


def _detail(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message).split())[:200] if message else ""


def _retry_after(exc: ApiException) -> float | None:
    headers: Any = exc.headers or {}
    value = str(headers.get("Retry-After", ""))
    return float(value) if value.isdigit() else None


async def call(
    settings: ClusterSettings, what: str, request: Callable[[], Awaitable[T]], *, repeatable: bool = True
) -> T:
    """Run ``request()`` (one API call), retrying what is transient. ``what`` completes
    "Kubernetes says the service account cannot …" (e.g. "patch deployments in prod")."""
    attempt = 0
    while True:
        attempt += 1
        last = attempt > settings.retries
        try:
            # Not wait_for: on Python 3.11 it drops a cancellation that arrives as the call
            # completes, so a run's Cancel or timeout was lost while following a rollout
            # (≈ 3 in 100 cancels); asyncio.timeout keeps it.
            async with asyncio.timeout(settings.timeout):
                return await request()
        except ApiException as exc:
            status = int(exc.status or 0)
            transient = status == 429 or status >= 500
            if transient and not last:
                wait = _retry_after(exc) if status == 429 else None
                if wait is not None and wait > settings.max_retry_after:
                    raise IntegrationError(
                        f"Kubernetes is rate-limiting us and asks to wait {wait:.0f}s "
                        f"before we {what}; try again later (429)",
                        status=429,
                    ) from None
                await asyncio.sleep(wait if wait is not None else _backoff(settings, attempt))
                continue
            raise IntegrationError(
                describe_status(VENDOR, what, status, _detail(exc), attempts=attempt, who="the service account"),
                status=status,
            ) from None
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            timed_out = isinstance(exc, asyncio.TimeoutError) or isinstance(exc, aiohttp.ServerTimeoutError)
            if last or (timed_out and not repeatable):
                if timed_out:
                    raise IntegrationError(
                        f"Kubernetes did not answer within {settings.timeout:g}s while trying to {what}"
                    ) from None
                raise IntegrationError(
                    f"could not reach the Kubernetes API server to {what}: {type(exc).__name__}"
                ) from None
            await asyncio.sleep(_backoff(settings, attempt))


def _backoff(settings: ClusterSettings, attempt: int) -> float:
    base = min(30.0, settings.retry_backoff * 2 ** (attempt - 1))
    return float(base * (0.5 + random.random() / 2))  # noqa: S311 — jitter, not security


def plain(api: client.ApiClient, obj: Any) -> Any:
    """A model object as the JSON the API server speaks (camelCase keys)."""
    return api.sanitize_for_serialization(obj)
