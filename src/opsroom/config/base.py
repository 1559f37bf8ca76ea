"""Shared base for every config section model."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Unknown keys are errors: a typo in opsroom.yaml must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
