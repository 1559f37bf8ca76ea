"""A cheaper ``__init__`` for the frozen dataclasses every command builds.

A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__`` (it must
get past the class's ``__setattr__``, which refuses): for an audit record's nine fields that
is half of what building one costs, and a command builds about ten such objects (its four
audit records, the invocation, the run's outcome, the messages). ``quick_init`` gives the
class an ``__init__`` with the very same signature that writes the fields straight into the
new instance's ``__dict__``. The instance is the same — fields, equality, hash, repr,
``dataclasses.replace``, pickling, and assignment still refused afterwards
(tests/unit/test_quickinit.py compares with the generated ``__init__``).

Only for what it can do exactly: a frozen dataclass without ``__slots__``, ``__post_init__``,
``InitVar``, ``init=False`` or keyword-only fields (anything else raises at import).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    """The default of a default_factory field left out (shown as dataclasses shows it)."""

    def __repr__(self) -> str:
        return "<factory>"


_NOT_GIVEN = _Factory()  # a default_factory field left out: call the factory


def quick_init(cls: type[T]) -> type[T]:
    """Decorate a frozen dataclass (``@quick_init`` above ``@dataclass(frozen=True)``)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"quick_init: {cls.__name__} is not a frozen dataclass")
    if "__slots__" in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init: {cls.__name__} has __slots__ or __post_init__")
    every = getattr(cls, "__dataclass_fields__")  # noqa: B009 (InitVars are only listed here)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(every) != len(fields) or any(not f.init or f.kw_only for f in fields):
        raise TypeError(f"quick_init: {cls.__name__} has InitVar, init=False or keyword-only fields")
    if any(f.name in ("self", "_fields") or f.name.startswith(("_default_", "_factory_")) for f in fields):
        raise TypeError(f"quick_init: {cls.__name__} has a field named like the generated code's own names")
    namespace: dict[str, Any] = {"_NOT_GIVEN": _NOT_GIVEN}
    params_text: list[str] = ["self"]
    body: list[str] = ["    _fields = self.__dict__"]
    for f in fields:
        name = f.name
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            params_text.append(f"{name}=_default_{name}")
            body.append(f"    _fields[{name!r}] = {name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            params_text.append(f"{name}=_NOT_GIVEN")
            body.append(f"    _fields[{name!r}] = _factory_{name}() if {name} is _NOT_GIVEN else {name}")
        else:
            params_text.append(name)
            body.append(f"    _fields[{name!r}] = {name}")
    source = f"def __init__({', '.join(params_text)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102 - our own text, built from the field names above
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    return cls
