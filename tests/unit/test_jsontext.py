"""``jsontext.encoder`` writes exactly what ``json.JSONEncoder(...).encode`` writes: the audit
hash chain and signed button ids depend on those bytes."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from opsroom.jsontext import encoder

VALUES: list[object] = [
    {},
    [],
    "plain",
    'quote " backslash \\ newline \n tab \t',
    {"b": 1, "a": [1, 2.5, None, True, False], "nested": {"z": "é", "y": "😀", "x": (1, 2)}},
    [7, "2026-11-05T15:30:00.000000Z", "alice", "decision", "rollback", "slack", "#ops", None, "allowed ✓"],
    {"when": dt.datetime(2026, 11, 5, 15, 30), "set": {1}, "big": 2**70, "neg": -0.0, "small": 1e-300},
    {1: "int key", "2": "str key"},
    {"lone": "\ud800"},
]

OPTIONS: list[dict[str, object]] = [
    {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False, "allow_nan": False, "default": str},
    {"separators": (",", ":"), "ensure_ascii": False, "allow_nan": False},
    {"separators": (",", ":"), "sort_keys": True},
    {"sort_keys": True, "default": str},
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("value", VALUES)
def test_same_text_or_same_error_as_json(options: dict[str, object], value: object) -> None:
    plain = json.JSONEncoder(**options).encode  # type: ignore[arg-type]
    fast = encoder(**options)  # type: ignore[arg-type]
    try:
        want: object = plain(value)
    except (TypeError, ValueError) as err:
        with pytest.raises(type(err)):
            fast(value)
        return
    assert fast(value) == want


def test_nan_is_refused_when_not_allowed() -> None:
    with pytest.raises(ValueError):
        encoder(allow_nan=False)({"x": math.nan})
    assert encoder()({"x": math.inf}) == json.dumps({"x": math.inf})


def test_mixed_keys_cannot_be_sorted() -> None:
    with pytest.raises(TypeError):
        encoder(sort_keys=True)({1: "a", "b": 2})


def test_a_command_fingerprint_is_the_documented_hash_of_its_json() -> None:
    # Stored with every run and compared when an approval is granted: the same bytes as
    # json.dumps(sort_keys=True, default=str), whatever the arguments hold.
    import hashlib

    from opsroom.core import CommandSpec, Invocation, Place, Principal

    args = {"service": "ünï ✓", "n": 3, "f": 1.5, "b": True, "none": None, "l": [1, "x"], "d": dt.timedelta(minutes=90)}
    inv = Invocation(CommandSpec("deploy"), args, "deploy", Principal("alice"), Place("test", "ops"))
    blob = json.dumps({"c": "deploy", "a": args}, sort_keys=True, default=str)
    assert inv.fingerprint() == hashlib.sha256(blob.encode()).hexdigest()
