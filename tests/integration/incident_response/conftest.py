"""The served web chat of tests/integration/web, for the incident and runbook tests."""

from tests.integration.web.conftest import web  # noqa: F401  (a fixture)
