"""The ``aws`` runner against moto's server with IAM enforced: scaling within and outside the
configured bounds, a restart followed to steady state, read-only describes and dry runs,
and what a denied permission looks like."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.fakes.runctx import collect, final, make_ctx

from opsroom.config.cloud import AwsSettings
from opsroom.core import OutputChunk
from opsroom.integrations.cloud.plugin import bounds, providers, rotation
from opsroom.integrations.cloud.runner import CloudRunner

from .conftest import Aws, login


def runner(aws: Aws, **options: Any) -> CloudRunner:
    settings = AwsSettings.model_validate({"environments": {"prod": aws.environment()}, "poll_interval": 0.05})
    options = {"environment": "{env}", **options}
    return CloudRunner("aws", options, providers(settings), bounds(settings), rotation(settings), poll_interval=0.05)


async def run(r: CloudRunner, *, dry_run: bool = False, **args: Any) -> tuple[list[OutputChunk], str]:
    chunks = await collect(r, make_ctx({"env": "prod", **args}, dry_run=dry_run, timeout=60))
    # as the run's output shows it: progress lines are part of it
    return chunks, "".join(c.text if c.text.endswith("\n") else c.text + "\n" for c in chunks if c.text)


def desired(aws: Aws) -> int:
    svc = aws.admin("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    return int(svc["desiredCount"])


async def test_scaling_a_service_within_its_bounds_follows_it_to_steady(aws: Aws) -> None:
    chunks, out = await run(
        runner(aws, action="scale_service", target="{service}", count="{count}"), service="web", count=4
    )
    assert final(chunks).exit_code == 0, out
    assert "desired 2 → 4" in out and "4/4 running" in out and "web is steady: scaled to 4" in out
    assert any(c.stream == "progress" for c in chunks)
    assert desired(aws) == 4


@pytest.mark.parametrize("count, bounds_text", [(7, "1–6"), (0, "1–6")])
async def test_scaling_outside_the_bounds_is_refused_before_any_call(aws: Aws, count: int, bounds_text: str) -> None:
    chunks, out = await run(
        runner(aws, action="scale_service", target="{service}", count="{count}"), service="web", count=count
    )
    assert final(chunks).exit_code == 1
    assert f"{count} is outside the bounds of service web: {bounds_text}" in out
    assert desired(aws) == 2


async def test_an_unconfigured_target_or_environment_is_refused(aws: Aws) -> None:
    r = runner(aws, action="scale_service", target="{service}", count="{count}")
    _, out = await run(r, service="payments", count=2)
    assert "no service named 'payments' in prod (configured: web)" in out
    chunks = await collect(r, make_ctx({"env": "staging", "service": "web", "count": 2}))
    assert "no AWS environment named 'staging' (configured: prod)" in final(chunks).text


async def test_scaling_an_auto_scaling_group_within_and_outside_its_bounds(aws: Aws) -> None:
    r = runner(aws, action="scale_group", target="{group}", count="{count}")
    chunks, out = await run(r, group="workers", count=3)
    assert final(chunks).exit_code == 0, out
    groups = aws.admin("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["workers-asg"])
    assert groups["AutoScalingGroups"][0]["DesiredCapacity"] == 3
    chunks, out = await run(r, group="workers", count=9)
    assert final(chunks).exit_code == 1 and "outside the bounds of group workers: 1–8" in out
    groups = aws.admin("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["workers-asg"])
    assert groups["AutoScalingGroups"][0]["DesiredCapacity"] == 3


async def test_a_dry_run_describes_the_plan_and_changes_nothing(aws: Aws) -> None:
    chunks, out = await run(
        runner(aws, action="scale_service", target="{service}", count="{count}"), dry_run=True, service="web", count=5
    )
    assert final(chunks).exit_code == 0
    assert "dry run: would scale service web in prod: desired 2 → 5" in out
    assert desired(aws) == 2


async def test_a_restart_starts_a_new_deployment_and_reports_until_steady(aws: Aws) -> None:
    before = aws.admin("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    old = before["deployments"][0]["id"]
    chunks, out = await run(runner(aws, action="restart_service", target="{service}"), service="web")
    assert final(chunks).exit_code == 0, out
    after = aws.admin("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    new = after["deployments"][0]["id"]
    assert new != old
    assert f"new deployment {new} of web in prod (was {old})" in out
    assert f"web is steady: restarted (deployment {new})" in out
    progress = [c.text for c in chunks if c.stream == "progress"]
    assert progress[0] == f"new deployment {new} of web in prod (was {old})" and "2/2 running" in progress[-1]


async def test_describe_is_a_table_and_its_dry_run_asks_ec2_with_dryrun(aws: Aws) -> None:
    r = runner(aws, action="describe", what="{what}")
    chunks, out = await run(r, what="services")
    assert final(chunks).exit_code == 0
    header, _, row = out.splitlines()[:3]
    assert header.split("|")[0].strip() == "service" and row.split("|")[0].strip() == "web"
    chunks, out = await run(r, what="groups")
    row = next(line for line in out.splitlines() if line.startswith("workers"))
    assert [cell.strip() for cell in row.split("|")] == ["workers", "0", "10", "2", "2"]
    chunks, out = await run(r, what="instances")
    assert "bastion" in out and "t3.micro" in out
    chunks, out = await run(r, dry_run=True, what="instances")
    assert "EC2 DryRun: DescribeInstances would be allowed" in out


async def test_a_permission_the_iam_user_lacks_is_a_clear_refusal(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch, aws, "opsroom-no-ec2")
    r = runner(aws, action="describe", what="{what}")
    chunks, out = await run(r, what="instances")
    assert final(chunks).exit_code == 1
    assert out.startswith("ec2:DescribeInstances: ") and ("AccessDenied" in out or "Unauthorized" in out), out
    _, out = await run(r, dry_run=True, what="instances")
    assert "AccessDenied" in out or "Unauthorized" in out, out


async def test_an_unknown_access_key_is_refused_by_aws(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN12")
    chunks, out = await run(runner(aws, action="describe", what="{what}"), what="services")
    assert final(chunks).exit_code == 1
    assert "InvalidClientTokenId" in out or "UnrecognizedClient" in out, out


async def test_an_environment_assumes_its_role_on_top_of_the_standard_chain(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = aws.admin("iam")
    user = iam.create_user(UserName="assumer")["User"]
    iam.put_user_policy(
        UserName="assumer",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="assumer")["AccessKey"]
    aws.creds["assumer"] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    role = iam.create_role(
        RoleName="opsroom-prod",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}],
            }
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName="opsroom-prod",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": "*"}],
            }
        ),
    )
    login(monkeypatch, aws, "assumer")
    _, out = await run(runner(aws, action="describe", what="{what}"), what="services")
    assert "ecs:DescribeServices: AccessDenied" in out, "the user alone may not describe"
    settings = AwsSettings.model_validate({"environments": {"prod": aws.environment(role_arn=role["Arn"])}})
    r = CloudRunner(
        "aws",
        {"environment": "prod", "action": "describe", "what": "services"},
        providers(settings),
        bounds(settings),
        rotation(settings),
    )
    chunks, out = await run(r)
    assert final(chunks).exit_code == 0, out
    assert out.splitlines()[2].split("|")[0].strip() == "web"


async def test_a_secrets_manager_rotation_is_started_and_refused_without_permission(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.admin("secretsmanager").create_secret(Name="db/password", SecretString="hunter2-initial")
    r = runner(aws, action="rotate_secret", secret="{secret}")
    chunks, out = await run(r, secret="db/password")
    assert final(chunks).exit_code == 0, out
    versions = aws.admin("secretsmanager").list_secret_version_ids(SecretId="db/password")["Versions"]
    newest = [v["VersionId"] for v in versions if v["VersionId"] in out]
    assert len(versions) == 2 and newest, out
    assert "hunter2" not in out
    login(monkeypatch, aws, "opsroom-no-secrets")
    chunks, out = await run(r, secret="db/password")
    assert final(chunks).exit_code == 1 and "secretsmanager:RotateSecret: AccessDenied" in out, out
    chunks, out = await run(r, secret="db/password; rm -rf /")
    assert "is not a secret name or ARN" in out
