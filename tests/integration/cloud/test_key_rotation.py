"""Rotating an IAM user's access key from chat, end to end against moto's server with IAM
enforced: approval first, then create → verify → store in Secrets Manager → deactivate the
old key → a persisted deletion that a restarted opsroom carries out. The new secret never
shows in chat, the audit export or the logs; a failure midway leaves the old key active."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from tests.support.system import demo_data, make_system

from opsroom.integrations.cloud.tables import key_deletions

from .conftest import Aws, login

SECRET_NAME = "opsroom/iam/ci-deployer"


def config(aws: Aws, grace: str = "2s") -> dict[str, Any]:
    data = demo_data()
    rotation = {"users": ["ci-deployer"], "grace_period": grace, "verify_timeout": 5}
    data["integrations"] = {
        "aws": {"environments": {"prod": aws.environment(key_rotation=rotation)}, "sweep_interval": 0.2}
    }
    data["commands"]["rotate-key"] = {
        "summary": "Rotate an IAM user's access key",
        "args": [{"name": "user", "type": "string", "pattern": r"[\w+=,.@-]{1,64}"}],
        "runner": {"type": "aws", "action": "rotate_access_key", "environment": "prod", "user": "{user}"},
    }
    data["policy"]["rules"].append(
        {
            "id": "sre-rotates-keys",
            "allow": ["rotate-key", "key-deletions"],
            "roles": ["sre"],
            "require_approval": {"count": 1, "roles": ["sre-lead"]},
        }
    )
    return data


def keys(aws: Aws) -> dict[str, str]:
    found = aws.admin("iam").list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in found}


def everything_shown(chat: Any, system: Any) -> str:
    out = io.StringIO()
    system.audit.export(out)
    posted = "\n".join(m.as_text() + repr(m.blocks) for p in chat.posts for m in p.versions)
    return posted + "\n" + out.getvalue()


async def until(check: Any, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_rotation_needs_approval_stores_the_key_and_a_restart_deletes_the_old_one(
    tmp_path: Path,
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = "sqlite:///" + str(tmp_path / "opsroom.db")
    system, chat = make_system(tmp_path, url, config(aws, grace="3s"), monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rotate-key ci-deployer")
        await system.runs.drain()
        assert "needs approval" in chat.transcript()
        assert keys(aws) == {aws.old_key: "Active"}, "nothing happens before the approval"
        await chat.say("carol", "/approve 1")
        await until(lambda: "succeeded" in chat.texts()[-1] or "failed" in chat.texts()[-1])
        await system.runs.drain()
        now = keys(aws)
        assert now[aws.old_key] == "Inactive" and len(now) == 2
        new_key = next(k for k in now if k != aws.old_key)
        assert now[new_key] == "Active"
        stored = json.loads(aws.admin("secretsmanager").get_secret_value(SecretId=SECRET_NAME)["SecretString"])
        assert stored["aws_access_key_id"] == new_key
        secret = stored["aws_secret_access_key"]
        transcript = chat.transcript()
        assert f"old key …{aws.old_key[-4:]} deactivated" in transcript or "deletion #1" in transcript
        await chat.say("alice", "/key-deletions")
        assert f"…{aws.old_key[-4:]}" in chat.texts()[-1] and "ci-deployer (prod)" in chat.texts()[-1]
    finally:
        await system.stop()
        system.db.dispose()
    # the stored key is the one its owner now signs with
    sts = boto3.client(
        "sts",
        region_name="eu-west-1",
        endpoint_url=aws.endpoint,
        aws_access_key_id=new_key,
        aws_secret_access_key=secret,
    )
    assert sts.get_caller_identity()["Arn"].endswith("user/ci-deployer")
    with sa.create_engine(url).connect() as conn:
        row = conn.execute(sa.select(key_deletions)).one()
    assert row.state == "scheduled" and row.key_id == aws.old_key and row.requested_by == "alice"
    # opsroom restarts after the grace period: the sweeper deletes the old key at start
    await asyncio.sleep(3.2)
    again, chat2 = make_system(tmp_path, url, config(aws, grace="3s"), monkeypatch=monkeypatch)
    await again.start()
    try:
        await until(lambda: aws.old_key not in keys(aws))
        await until(lambda: "cloud.key_deleted" in everything_shown(chat2, again))
        assert keys(aws) == {new_key: "Active"}
        shown = everything_shown(chat, system) + everything_shown(chat2, again)
        assert "cloud.key_deletion_scheduled" in shown
    finally:
        await again.stop()
        again.db.dispose()
    logs = capfd.readouterr()
    assert secret not in shown
    assert secret not in logs.out + logs.err
    assert secret not in caplog.text
    assert secret not in (tmp_path / "opsroom.db").read_bytes().decode("latin-1")


async def test_a_failure_midway_deletes_the_new_key_and_leaves_the_old_one_active(
    tmp_path: Path,
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login(monkeypatch, aws, "opsroom-no-secrets")  # may create keys, may not write secrets
    data = config(aws)
    data["policy"]["rules"][-1].pop("require_approval")
    system, chat = make_system(tmp_path, "sqlite:///" + str(tmp_path / "opsroom.db"), data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rotate-key ci-deployer")
        await system.runs.drain()
        final = chat.texts()[-1]
        assert "failed" in final
        assert "secretsmanager:PutSecretValue" in final and "AccessDenied" in final
        assert f"the old key …{aws.old_key[-4:]} is still active" in final
        assert keys(aws) == {aws.old_key: "Active"}
        with system.db.read() as conn:
            assert conn.execute(sa.select(key_deletions)).all() == []
    finally:
        await system.stop()
        system.db.dispose()


async def test_a_second_key_or_an_unlisted_user_is_refused_before_anything_changes(
    tmp_path: Path,
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = config(aws)
    data["policy"]["rules"][-1].pop("require_approval")
    system, chat = make_system(tmp_path, "sqlite:///" + str(tmp_path / "opsroom.db"), data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rotate-key opsroom")
        await system.runs.drain()
        refusal = "opsroom may not rotate the keys of 'opsroom' in prod (key_rotation.users: ci-deployer)"
        assert refusal in chat.texts()[-1]
        aws.admin("iam").create_access_key(UserName="ci-deployer")
        before = keys(aws)
        await chat.say("alice", "/rotate-key ci-deployer")
        await system.runs.drain()
        assert "ci-deployer has 2 keys" in chat.texts()[-1] and "needs exactly one" in chat.texts()[-1]
        assert keys(aws) == before
    finally:
        await system.stop()
        system.db.dispose()


async def test_a_key_reactivated_during_the_grace_period_is_not_deleted(
    tmp_path: Path,
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = config(aws, grace="1s")
    data["policy"]["rules"][-1].pop("require_approval")
    data["integrations"]["aws"]["sweep_interval"] = 3600  # the test sweeps by hand
    system, chat = make_system(tmp_path, "sqlite:///" + str(tmp_path / "opsroom.db"), data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rotate-key ci-deployer")
        await system.runs.drain()
        assert keys(aws)[aws.old_key] == "Inactive"
        aws.admin("iam").update_access_key(UserName="ci-deployer", AccessKeyId=aws.old_key, Status="Active")
        await asyncio.sleep(1.2)
        deletions = system.engine.parts.extras["cloud.key_deletions"]
        assert await deletions.sweep() == 0
        assert aws.old_key in keys(aws)
        assert "the key is active again" in everything_shown(chat, system)
        assert deletions.pending() == []
    finally:
        await system.stop()
        system.db.dispose()
