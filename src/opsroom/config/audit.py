"""The ``audit:`` section of opsroom.yaml."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from opsroom.config.base import Section


class AuditConfig(Section):
    timezone: str = Field(
        "UTC",
        description="Zone that audit searches use for day words: 'since yesterday' starts at "
        "midnight here (an IANA name such as Europe/Berlin).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError for odd names
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Berlin") from exc
        return value
