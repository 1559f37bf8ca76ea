"""core/quickinit.py: the quicker ``__init__`` builds the very instance the dataclass's own
``__init__`` builds, and refuses classes it cannot build exactly."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from opsroom.audit.chain import AuditEntry, AuditRecord
from opsroom.core import (
    ActionEvent,
    Code,
    Context,
    Invocation,
    Message,
    MessageEvent,
    MessageRef,
    OutputChunk,
    Place,
    Section,
)
from opsroom.core.quickinit import quick_init
from opsroom.runs.service import RunOutcome
from opsroom.runs.store import RunRow


@dataclass(frozen=True)
class Plain:
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    seen: list[int] = field(default_factory=list)


@quick_init
@dataclass(frozen=True)
class Quick:
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    seen: list[int] = field(default_factory=list)


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a",), {}),
    (("a", 2, ("x",)), {}),
    ((), {"name": "b", "extra": {"k": "v"}}),
    (("c",), {"seen": [1], "count": 3}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_instance_is_the_one_the_dataclass_builds(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)
    assert vars(quick) == vars(plain) and list(vars(quick)) == list(vars(plain))
    assert repr(quick).removeprefix("Quick") == repr(plain).removeprefix("Plain")
    assert quick == Quick(*args, **kwargs)
    assert dataclasses.replace(quick, count=9) == Quick(**{**vars(quick), "count": 9})
    assert pickle.loads(pickle.dumps(quick)) == quick and copy.deepcopy(quick) == quick
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.name = "changed"  # type: ignore[misc]


def test_defaults_made_by_a_factory_are_new_each_time() -> None:
    assert Quick("a").seen is not Quick("a").seen
    assert Quick("a").extra == {}


def test_the_same_signature_and_the_same_errors() -> None:
    assert str(inspect.signature(Quick)) == str(inspect.signature(Plain))
    for bad in ((), ("a", 1, (), {}, [], "extra")):
        with pytest.raises(TypeError):
            Plain(*bad)
        with pytest.raises(TypeError):
            Quick(*bad)
    with pytest.raises(TypeError):
        Quick("a", unknown=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "cls",
    [
        AuditRecord,
        AuditEntry,
        RunRow,
        RunOutcome,
        Invocation,
        OutputChunk,
        Message,
        Section,
        Code,
        Context,
        MessageRef,
        MessageEvent,
        ActionEvent,
        Place,
    ],
)
def test_the_per_command_classes_keep_their_fields_in_their_signature(cls: type) -> None:
    fields = dataclasses.fields(cls)
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default is f.default
        elif f.default_factory is dataclasses.MISSING:
            assert p.default is inspect.Parameter.empty


def test_an_audit_record_is_still_frozen_and_hashable() -> None:
    record = AuditRecord("alice", "decision", "deploy", "slack", "#ops", 3, "allowed")
    assert hash(record) == hash(AuditRecord("alice", "decision", "deploy", "slack", "#ops", 3, "allowed"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.summary = "changed"  # type: ignore[misc]


def test_refuses_what_it_cannot_build_exactly() -> None:
    @dataclass
    class Mutable:
        x: int

    @dataclass(frozen=True, slots=True)
    class Slotted:
        x: int

    @dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None: ...

    @dataclass(frozen=True)
    class Hidden:
        x: int
        y: int = field(default=0, init=False)

    @dataclass(frozen=True, kw_only=True)
    class KeywordsOnly:
        x: int

    for cls in (Mutable, Slotted, Checked, Hidden, KeywordsOnly):
        with pytest.raises(TypeError):
            quick_init(cls)
