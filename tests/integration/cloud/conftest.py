"""A real local AWS API: moto's standalone server (``python -m moto.server``) on 127.0.0.1 and
a port the OS picks, one per test module, reset before each test.

Each test gets an account laid out while authentication is off (an ECS cluster and service,
an Auto Scaling group, IAM users with inline policies), then IAM enforcement is switched on
(``/moto-api/reset-auth``): from there every call must be signed by a known access key and
allowed by that user's policy, as in AWS. opsroom reaches it through boto3's standard
credential chain (environment variables) and ``endpoint_url``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
import sqlalchemy as sa

REGION = "eu-west-1"
ADMIN = {"aws_access_key_id": "AKIAADMINADMINADMIN1", "aws_secret_access_key": "admin-secret-not-checked"}

# What opsroom's own IAM user may do; "no-secrets" is the same minus Secrets Manager writes,
# "no-ec2" the same minus EC2 describes.
OPSROOM_ACTIONS = [
    "ecs:DescribeServices",
    "ecs:UpdateService",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:SetDesiredCapacity",
    "ec2:DescribeInstances",
    "iam:ListAccessKeys",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "secretsmanager:PutSecretValue",
    "secretsmanager:CreateSecret",
    "secretsmanager:RotateSecret",
    "sts:GetCallerIdentity",
]


@dataclass
class Aws:
    endpoint: str
    creds: dict[str, dict[str, str]]  # IAM user -> its access key (id, secret)
    old_key: str  # ci-deployer's key before any rotation

    def client(self, service: str, user: str | None = None) -> Any:
        keys = (
            ADMIN
            if user is None
            else {"aws_access_key_id": self.creds[user]["id"], "aws_secret_access_key": self.creds[user]["secret"]}
        )
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint, **keys)

    def admin(self, service: str) -> Any:
        """Reads for assertions, with enforcement briefly off so they need no policy."""
        return _AdminClient(self, service)

    def environment(self, **extra: Any) -> dict[str, Any]:
        """An ``integrations.aws.environments`` entry for this server."""
        env = {
            "region": REGION,
            "endpoint_url": self.endpoint,
            "ecs_services": {"web": {"cluster": "prod", "service": "web", "min": 1, "max": 6}},
            "autoscaling_groups": {"workers": {"group": "workers-asg", "min": 1, "max": 8}},
            "key_rotation": {"users": ["ci-deployer"], "grace_period": "7d", "verify_timeout": 5},
        }
        env.update(extra)
        return env


class _AdminClient:
    def __init__(self, aws: Aws, service: str) -> None:
        self._aws, self._client = aws, aws.client(service)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            _auth(self._aws.endpoint, "inf")
            try:
                return method(**kwargs)
            finally:
                _auth(self._aws.endpoint, "0")

        return call


def _auth(endpoint: str, after: str) -> None:
    """Enforce IAM after ``after`` more requests ("0": now, "inf": never)."""
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=after, timeout=10).raise_for_status()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    env = {"MOTO_ECS_SERVICE_RUNNING": "2", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        endpoint = ""
        while not endpoint and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            endpoint = found.group(1) if found else ""
            if not line and proc.poll() is not None:
                raise RuntimeError("moto_server exited")
        assert endpoint, "moto_server did not start"
        # keep draining its request log so the pipe never fills
        import threading

        threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _policy(user: str, actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    _auth(moto_endpoint, "inf")
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    box = Aws(moto_endpoint, {}, "")
    ecs = box.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}])
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web", desiredCount=2)
    ec2 = box.client("ec2")
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "bastion"}]}],
    )
    asg = box.client("autoscaling")
    asg.create_launch_configuration(
        LaunchConfigurationName="workers-lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="workers-asg",
        LaunchConfigurationName="workers-lc",
        MinSize=0,
        MaxSize=10,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
    )
    iam = box.client("iam")
    for user, actions in (
        ("opsroom", OPSROOM_ACTIONS),
        ("opsroom-no-secrets", [a for a in OPSROOM_ACTIONS if not a.startswith("secretsmanager:")]),
        ("opsroom-no-ec2", [a for a in OPSROOM_ACTIONS if not a.startswith("ec2:")]),
        ("ci-deployer", ["sts:GetCallerIdentity"]),
    ):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="ops", PolicyDocument=_policy(user, actions))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        box.creds[user] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    box.old_key = box.creds["ci-deployer"]["id"]
    _auth(moto_endpoint, "0")
    # opsroom's process finds its credentials the standard way: environment variables
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    login(monkeypatch, box, "opsroom")
    yield box
    _auth(moto_endpoint, "inf")


def login(monkeypatch: pytest.MonkeyPatch, aws: Aws, user: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", aws.creds[user]["id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws.creds[user]["secret"])


@pytest.fixture
def shop(db_url: str) -> Iterator[str]:
    """A database with an ``orders`` table of 30 rows (and, on PostgreSQL, a sequence and a
    function that writes)."""
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total NUMERIC)"))
        for i in range(1, 31):
            conn.execute(
                sa.text("INSERT INTO orders VALUES (:i, :c, :t)"), {"i": i, "c": f"customer-{i % 7}", "t": i * 10}
            )
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("CREATE SEQUENCE order_numbers"))
            conn.execute(
                sa.text(
                    "CREATE FUNCTION add_order() RETURNS integer LANGUAGE plpgsql AS "
                    "$$ BEGIN INSERT INTO orders VALUES (999, 'sneaky', 0); RETURN 1; END $$"
                )
            )
    engine.dispose()
    yield db_url
