"""A server with no AWS environment configured (the demo, most installs) never loads the
cloud provider interface or the key-deletion sweeper; with one, both work as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opsroom.config.cloud import AwsSettings
from opsroom.integrations.cloud.base import CloudError
from opsroom.integrations.cloud.plugin import bounds

UNUSED = ("opsroom.integrations.cloud.base", "opsroom.integrations.cloud.schedule")


def test_the_demo_server_does_not_load_the_cloud_parts(tmp_path: Path) -> None:
    code = (
        "import sys; from opsroom.cli.common import build;"
        f"system = build(None, 'sqlite:///{tmp_path / 'demo.db'}');"
        f"print(','.join(m for m in {UNUSED!r} if m in sys.modules) or 'none')"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "none"


def test_a_bounds_lookup_still_names_what_is_configured() -> None:
    api = {"cluster": "c", "service": "api", "min": 2, "max": 9}
    settings = AwsSettings.model_validate(
        {"environments": {"prod": {"region": "eu-west-1", "ecs_services": {"api": api}}}}
    )
    lookup = bounds(settings)
    found = lookup("prod", "service", "api")
    assert (found.minimum, found.maximum) == (2, 9)
    with pytest.raises(CloudError, match=r"no service named 'web' in prod \(configured: api\)"):
        lookup("prod", "service", "web")
    with pytest.raises(CloudError, match=r"no AWS environment named 'dev' \(configured: prod\)"):
        lookup("dev", "service", "api")
