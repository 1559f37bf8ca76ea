"""``Invocation.fingerprint`` is the hash it always was: a pending approval compares the one it
was requested with (stored in the run row and the approval tables) with a fresh one."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from types import MappingProxyType
from typing import Any

import pytest

from opsroom.core import CommandSpec, Invocation, Place
from opsroom.core.identity import Principal


def _as_before(name: str, args: Any) -> str:
    blob = json.dumps({"c": name, "a": dict(args)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


ARGS = [
    {},
    {"service": "api", "env": "staging"},
    {"z": 1, "a": True, "m": None, "f": 2.5, "n": [1, "two", {"y": 0, "b": []}]},
    {"text": 'quotes " and \\ and \u2028 and ünï-€ and 🚀', "key=value": "a=b"},
    {"when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC), "since": dt.timedelta(minutes=5)},
    MappingProxyType({"service": "payments", "replicas": 3}),
]


@pytest.mark.parametrize("args", ARGS)
@pytest.mark.parametrize("name", ["deploy", 'say"hi', "ünï"])
def test_fingerprint_is_the_sha256_of_the_same_json(name: str, args: Any) -> None:
    inv = Invocation(CommandSpec(name), args, "text", Principal("alice"), Place("web", "ops"))
    assert inv.fingerprint() == _as_before(name, args)


def test_different_arguments_or_commands_differ() -> None:
    who, where = Principal("alice"), Place("web", "ops")
    prints = {
        Invocation(CommandSpec(name), args, "", who, where).fingerprint()
        for name in ("deploy", "rollback")
        for args in ({"env": "staging"}, {"env": "production"}, {"env": "staging", "force": True})
    }
    assert len(prints) == 6
