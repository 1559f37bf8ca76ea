"""A stand-in for an Invocation, for store tests that write run rows directly."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def run_invocation(n: int) -> Any:
    """What ``store.runs.insert_run`` reads of an Invocation: command ``cmdN`` by alice in #c."""
    place = SimpleNamespace(platform="test", channel="c", name="#c", thread=None)
    return SimpleNamespace(
        command=SimpleNamespace(name=f"cmd{n}"),
        shown_text=lambda: f"/cmd{n}",
        principal=SimpleNamespace(name="alice"),
        place=place,
        fingerprint=lambda: "f",
        flags={},
    )
