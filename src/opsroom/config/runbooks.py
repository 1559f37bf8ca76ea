"""``runbooks:`` in opsroom.yaml: where runbook files live."""

from __future__ import annotations

from pydantic import Field

from opsroom.config.base import Section


class RunbooksConfig(Section):
    paths: list[str] = Field([], description="Folders of runbook Markdown files, relative to this file.")
    service_principal: str = Field(
        "", description="The opsroom user scheduled runbooks run as; it needs its own policy grant."
    )
