"""AWS behind ``CloudProvider``, through boto3 (called in a worker thread: boto3 blocks).

Credentials come from boto3's standard chain (environment, shared config, container or
instance role), or the environment's ``profile``; ``role_arn`` is then assumed for the
environment. ``endpoint_url`` points every client elsewhere (VPC endpoints, a local test
server). Errors become ``CloudError`` with AWS's code and message, never the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from opsroom.config.cloud import AwsEnvironment
from opsroom.integrations.cloud.base import AccessKey, Capacity, CloudError, Described, Rollout

T = TypeVar("T")
_CONFIG = botocore.config.Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=10, read_timeout=30)
DESCRIBABLE = ("services", "groups", "instances")

# botocore's DEBUG records carry whole request and response bodies — CreateAccessKey's new
# secret, PutSecretValue's SecretString — so opsroom never lets them be created, whatever
# level the root logger is at (tests/integration/cloud/test_key_rotation.py logs at DEBUG).
for _name in ("botocore", "boto3", "s3transfer"):
    logging.getLogger(_name).setLevel(max(logging.INFO, logging.getLogger(_name).level))
INSTANCE_LIMIT = 50


# An error body botocore could not parse for the service's protocol (a proxy's page, or a
# query-style XML error where JSON was expected) arrives as the HTTP status and the raw body.
_XML_ERROR = re.compile(r"<Code>([^<]{1,100})</Code>.*?<Message>([^<]{0,500})</Message>", re.S)


def _error(action: str, err: Exception) -> CloudError:
    if isinstance(err, botocore.exceptions.ClientError):
        info = err.response.get("Error", {})
        code, message = str(info.get("Code", "error")), str(info.get("Message", ""))
        if code.isdigit():
            found = _XML_ERROR.search(message)
            code, message = (found.group(1), found.group(2)) if found else (f"HTTP {code}", message[:200])
        return CloudError(f"{action}: {code}: {message}".rstrip(": "))
    if isinstance(err, botocore.exceptions.NoCredentialsError):
        return CloudError(f"{action}: no AWS credentials found (environment variables, profile or role)")
    return CloudError(f"{action}: {type(err).__name__}: {err}")


class AwsProvider:
    name = "aws"

    def __init__(self, environment: str, settings: AwsEnvironment, env: dict[str, str] | None = None) -> None:
        self.environment = environment
        self.settings = settings
        self._env = os.environ if env is None else env
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}

    # -- plumbing --------------------------------------------------------------------------
    def _make_session(self) -> boto3.Session:
        s = self.settings
        session = boto3.Session(profile_name=s.profile or None, region_name=s.region)
        if not s.role_arn:
            return session
        params: dict[str, Any] = {"RoleArn": s.role_arn, "RoleSessionName": f"opsroom-{self.environment}"[:64]}
        if s.external_id_env:
            params["ExternalId"] = self._env.get(s.external_id_env, "")
        sts = session.client("sts", endpoint_url=s.endpoint_url or None, config=_CONFIG)
        creds = sts.assume_role(**params)["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=s.region,
        )

    async def _client(self, service: str) -> Any:
        if self._session is None:  # assuming a role is a network call: off the event loop
            try:
                self._session = await asyncio.to_thread(self._make_session)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
                raise _error(f"credentials for {self.environment}", err) from None
        if service not in self._clients:
            session: Any = self._session
            self._clients[service] = session.client(
                service, endpoint_url=self.settings.endpoint_url or None, config=_CONFIG
            )
        return self._clients[service]

    async def _call(self, action: str, fn: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return fn()
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
                raise _error(action, err) from None

        return await asyncio.to_thread(guarded)

    async def _ecs(self, target: str) -> tuple[Any, str, str]:
        svc = self.settings.ecs_services.get(target)
        if svc is None:
            raise CloudError(
                f"no ECS service named {target!r} in {self.environment} "
                f"(configured: {', '.join(sorted(self.settings.ecs_services)) or 'none'})"
            )
        return await self._client("ecs"), svc.cluster, svc.service

    def _group(self, target: str) -> str:
        group = self.settings.autoscaling_groups.get(target)
        if group is None:
            raise CloudError(
                f"no Auto Scaling group named {target!r} in {self.environment} "
                f"(configured: {', '.join(sorted(self.settings.autoscaling_groups)) or 'none'})"
            )
        return group.group

    # -- scaling ---------------------------------------------------------------------------
    async def _service(self, target: str) -> dict[str, Any]:
        ecs, cluster, service = await self._ecs(target)
        found = await self._call(
            "ecs:DescribeServices", lambda: ecs.describe_services(cluster=cluster, services=[service])
        )
        if not found.get("services"):
            raise CloudError(f"ECS service {service} not found in cluster {cluster}")
        return found["services"][0]  # type: ignore[no-any-return]

    async def service_capacity(self, target: str) -> Capacity:
        svc = await self._service(target)
        return Capacity(
            target,
            int(svc.get("desiredCount", 0)),
            int(svc.get("runningCount", 0)),
            f"pending {svc.get('pendingCount', 0)}, status {svc.get('status', '?')}",
        )

    async def scale_service(self, target: str, count: int) -> None:
        ecs, cluster, service = await self._ecs(target)
        await self._call(
            "ecs:UpdateService", lambda: ecs.update_service(cluster=cluster, service=service, desiredCount=count)
        )

    async def _asg(self, target: str) -> dict[str, Any]:
        name = self._group(target)
        asg = await self._client("autoscaling")
        found = await self._call(
            "autoscaling:DescribeAutoScalingGroups",
            lambda: asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name]),
        )
        if not found.get("AutoScalingGroups"):
            raise CloudError(f"Auto Scaling group {name} not found")
        return found["AutoScalingGroups"][0]  # type: ignore[no-any-return]

    async def group_capacity(self, target: str) -> Capacity:
        group = await self._asg(target)
        in_service = sum(1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService")
        return Capacity(
            target, int(group["DesiredCapacity"]), in_service, f"group min {group['MinSize']}, max {group['MaxSize']}"
        )

    async def scale_group(self, target: str, count: int) -> None:
        name = self._group(target)
        asg = await self._client("autoscaling")
        await self._call(
            "autoscaling:SetDesiredCapacity",
            lambda: asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=count, HonorCooldown=False),
        )

    # -- restart ---------------------------------------------------------------------------
    async def restart_service(self, target: str) -> str:
        ecs, cluster, service = await self._ecs(target)
        updated = await self._call(
            "ecs:UpdateService", lambda: ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
        )
        return str(_primary(updated["service"]).get("id", ""))

    async def rollout(self, target: str) -> Rollout:
        svc = await self._service(target)
        deployments = svc.get("deployments", [])
        primary = _primary(svc)
        state = str(primary.get("rolloutState") or "COMPLETED")
        desired, running = int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0))
        # The ECS `services_stable` waiter's test: one deployment left, all tasks running.
        steady = len(deployments) == 1 and running == desired and state == "COMPLETED"
        return Rollout(
            str(primary.get("id", "")),
            desired,
            running,
            int(svc.get("pendingCount", 0)),
            len(deployments),
            state,
            steady,
            failed=state == "FAILED",
        )

    # -- read-only -------------------------------------------------------------------------
    async def describe(self, what: str) -> Described:
        rows: list[tuple[str, ...]] = []
        if what == "services":
            for name in sorted(self.settings.ecs_services):
                svc = await self._service(name)
                rows.append(
                    (
                        name,
                        svc.get("clusterArn", "").rsplit("/", 1)[-1],
                        str(svc.get("status", "")),
                        str(svc.get("desiredCount", 0)),
                        str(svc.get("runningCount", 0)),
                        str(svc.get("pendingCount", 0)),
                        str(svc.get("taskDefinition", "")).rsplit("/", 1)[-1],
                    )
                )
            return Described(
                ("service", "cluster", "status", "desired", "running", "pending", "task definition"), tuple(rows)
            )
        if what == "groups":
            for name in sorted(self.settings.autoscaling_groups):
                g = await self._asg(name)
                in_service = sum(1 for i in g.get("Instances", []) if i.get("LifecycleState") == "InService")
                rows.append((name, str(g["MinSize"]), str(g["MaxSize"]), str(g["DesiredCapacity"]), str(in_service)))
            return Described(("group", "min", "max", "desired", "in service"), tuple(rows))
        if what == "instances":
            ec2 = await self._client("ec2")
            found = await self._call("ec2:DescribeInstances", lambda: ec2.describe_instances(MaxResults=INSTANCE_LIMIT))
            for reservation in found.get("Reservations", []):
                for i in reservation.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                    rows.append(
                        (
                            i["InstanceId"],
                            tags.get("Name", ""),
                            i.get("InstanceType", ""),
                            i.get("State", {}).get("Name", ""),
                            i.get("Placement", {}).get("AvailabilityZone", ""),
                        )
                    )
            return Described(("instance", "name", "type", "state", "zone"), tuple(rows[:INSTANCE_LIMIT]))
        raise CloudError(f"cannot describe {what!r}: one of {', '.join(DESCRIBABLE)}")

    async def can_describe(self, what: str) -> str:
        if what != "instances":
            return f"{what}: ECS and Auto Scaling have no DryRun; would call their Describe operations read-only"
        ec2 = await self._client("ec2")

        def dry() -> str:
            try:
                ec2.describe_instances(DryRun=True)
            except botocore.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") == "DryRunOperation":
                    return "EC2 DryRun: DescribeInstances would be allowed"
                raise
            return "EC2 DryRun: no answer"

        return await self._call("ec2:DescribeInstances (DryRun)", dry)

    # -- keys ------------------------------------------------------------------------------
    async def access_keys(self, user: str) -> Sequence[AccessKey]:
        iam = await self._client("iam")
        found = await self._call("iam:ListAccessKeys", lambda: iam.list_access_keys(UserName=user))
        return [
            AccessKey(k["AccessKeyId"], k["Status"], str(k.get("CreateDate", "")))
            for k in found.get("AccessKeyMetadata", [])
        ]

    async def create_access_key(self, user: str) -> tuple[str, str]:
        iam = await self._client("iam")
        made = await self._call("iam:CreateAccessKey", lambda: iam.create_access_key(UserName=user))
        return made["AccessKey"]["AccessKeyId"], made["AccessKey"]["SecretAccessKey"]

    async def store_key(self, user: str, key_id: str, secret: str) -> str:
        sm = await self._client("secretsmanager")
        name = self.settings.key_rotation.secret_name.replace("{user}", user)
        value = json.dumps({"aws_access_key_id": key_id, "aws_secret_access_key": secret})

        def put() -> str:
            try:
                sm.put_secret_value(SecretId=name, SecretString=value)
            except botocore.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                sm.create_secret(
                    Name=name, SecretString=value, Description=f"AWS access key of IAM user {user}, rotated by opsroom"
                )
            return name

        stored: str = await self._call("secretsmanager:PutSecretValue", put)
        return stored

    async def verify_key(self, key_id: str, secret: str) -> None:
        """The new key must authenticate (IAM takes a few seconds to accept a new key)."""
        sts = boto3.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=self.settings.region
        ).client("sts", endpoint_url=self.settings.endpoint_url or None, config=_CONFIG)
        deadline = time.monotonic() + self.settings.key_rotation.verify_timeout

        def check() -> None:
            while True:
                try:
                    sts.get_caller_identity()
                    return
                except botocore.exceptions.ClientError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1.0)

        await self._call("sts:GetCallerIdentity with the new key", check)

    async def set_key_status(self, user: str, key_id: str, active: bool) -> None:
        iam = await self._client("iam")
        await self._call(
            "iam:UpdateAccessKey",
            lambda: iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Active" if active else "Inactive"),
        )

    async def delete_access_key(self, user: str, key_id: str) -> None:
        iam = await self._client("iam")
        await self._call("iam:DeleteAccessKey", lambda: iam.delete_access_key(UserName=user, AccessKeyId=key_id))

    async def rotate_secret(self, secret_id: str) -> str:
        sm = await self._client("secretsmanager")
        done = await self._call("secretsmanager:RotateSecret", lambda: sm.rotate_secret(SecretId=secret_id))
        return str(done.get("VersionId", ""))


def _primary(service: dict[str, Any]) -> dict[str, Any]:
    deployments = service.get("deployments", [])
    return next((d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else {})
