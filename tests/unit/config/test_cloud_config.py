"""``integrations.aws`` and ``integrations.sql`` refuse what cannot work, with the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsroom.config.cloud import AwsSettings, SqlSettings


@pytest.mark.parametrize(
    "environment, message",
    [
        (
            {"region": "eu-west-1", "ecs_services": {"web": {"cluster": "c", "service": "s", "min": 5, "max": 2}}},
            "min 5 is above max 2",
        ),
        ({"region": "eu-west-1", "endpoint_url": "ftp://x"}, "endpoint_url must start with http"),
        ({"region": "eu-west-1", "external_id_env": "not a name"}, "is not an environment variable name"),
        ({"region": "eu-west-1", "key_rotation": {"grace_period": "soon"}}, "soon"),
        (
            {"region": "eu-west-1", "autoscaling_groups": {"bad name": {"group": "g", "max": 2}}},
            "target name 'bad name'",
        ),
        (
            {"region": "eu-west-1", "ecs_services": {"web": {"cluster": "c", "service": "s", "max": 2, "maxx": 3}}},
            "maxx",
        ),
    ],
)
def test_bad_aws_settings_are_refused(environment: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AwsSettings.model_validate({"environments": {"prod": environment}})


def test_bad_sql_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="is not an environment variable name"):
        SqlSettings.model_validate({"databases": {"shop": {"url_env": "postgresql://u:p@h/db"}}})
    with pytest.raises(ValidationError, match="output"):
        SqlSettings.model_validate({"databases": {}, "output": "email"})
    with pytest.raises(ValidationError, match="max_rows"):
        SqlSettings.model_validate({"databases": {"shop": {"url_env": "X", "max_rows": 0}}})


def test_a_grace_period_reads_as_a_duration() -> None:
    env = AwsSettings.model_validate(
        {"environments": {"prod": {"region": "eu-west-1", "key_rotation": {"grace_period": "36h"}}}}
    )
    assert env.environments["prod"].key_rotation.grace_seconds == 36 * 3600
