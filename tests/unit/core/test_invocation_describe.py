"""``Invocation.describe``: what chat, holds, audit and the console show of a command — secret
arguments masked, empty and false values left out, dry runs marked. It reads the arguments
without copying them when the command has no secret ones; both kinds are checked here."""

from __future__ import annotations

from types import MappingProxyType

from opsroom.core import ArgSpec, CommandSpec, Invocation, Place, Principal


def _inv(spec: CommandSpec, args: dict[str, object], flags: dict[str, object] | None = None) -> Invocation:
    return Invocation(spec, args, "typed", Principal("alice"), Place("web", "ops"), flags or {})


def test_describe_shows_values_in_order_and_leaves_out_empty_ones() -> None:
    spec = CommandSpec("deploy", args=(ArgSpec("service"), ArgSpec("env"), ArgSpec("force"), ArgSpec("note")))
    inv = _inv(spec, {"service": "api", "env": "", "force": False, "note": None, "n": 0})
    assert inv.describe() == "*deploy* `api`"
    assert _inv(spec, {"service": "api", "n": 2}, {"dry_run": True}).describe() == "*deploy* `api` `2` (dry run)"
    assert _inv(spec, {}).describe() == "*deploy*"
    ro = Invocation(spec, MappingProxyType({"service": "web"}), "t", Principal("a"), Place("web", "ops"))
    assert ro.describe() == "*deploy* `web`"


def test_describe_masks_secret_arguments() -> None:
    spec = CommandSpec("login", args=(ArgSpec("user"), ArgSpec("password", secret=True)))
    assert _inv(spec, {"user": "bob", "password": "hunter2"}).describe() == "*login* `bob` `•••`"
