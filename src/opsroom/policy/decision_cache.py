"""An exact cache of Cedar decisions, keyed on what the policies can observe of a request.

cedarpy 4.12 already keeps the policy set and entities parsed (``PolicySet``/``Entities``
handles), yet one ``is_authorized`` call still costs 30–50 µs here: the request and
context cross into Rust as JSON, Cedar evaluates every policy handed to it, and the answer
comes back as JSON. No binding on PyPI for Python 3.11 does better (``cedar-python`` needs
3.12). So decisions are cached, keyed on the request as the policies see it:

- of the principal, action and resource, the plan (``plans.py``): which policies can hold
  and the values of the entity tests their conditions still make; the exact principal
  (and its roles, groups), action or resource only when a condition reads it otherwise;
- of the context, exactly the parts some policy reads, found by walking every policy's
  JSON form: ``context.a`` / ``context has a`` read ``a``; ``context.args.x`` reads only
  ``args.x``; any other use of ``context`` (or of ``context.args``) reads all of it;
- a long attribute that policies only compare (``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``)
  with literal numbers, such as ``context.hhmm``, enters the key as its position among
  those numbers: two values between the same two constants make every comparison, hence
  every decision, the same.

Cedar's evaluation is a pure function of the policy set, the entities and the request, and
reads the context only through those expressions, so two requests with the same key get the
same decision and the same determining policies; the cache is built per engine, so a reload
(a new policy set) starts empty. Values keep their type in the key (``True`` is not ``1``).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

_MISSING = object()
_COMPARE = ("<", "<=", ">", ">=", "==", "!=")
MAX_ENTRIES = 100_000


def _context_path(node: Any) -> tuple[str, ...] | None:
    """``()`` for ``context``, ``("a",)`` for ``context.a``…; None for anything else."""
    if node == {"Var": "context"}:
        return ()
    if isinstance(node, dict) and len(node) == 1 and "." in node:
        body = node["."]
        inner = _context_path(body.get("left"))
        if inner is not None:
            return (*inner, str(body.get("attr")))
    return None


def _long_literal(node: Any) -> int | None:
    if isinstance(node, dict) and set(node) == {"Value"}:
        value = node["Value"]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class ContextProjection:
    """What of a request's context the given policies (their JSON forms) can observe."""

    def __init__(self, policies: Iterable[Mapping[str, Any]] = (), parts: Iterable[ContextProjection] = ()) -> None:
        """What ``policies`` read, plus what the ``parts`` (projections of other policies) read:
        the union of reads is what walking all those policies together would find."""
        self.everything = False
        self.whole: set[str] = set()  # top-level attributes read as a whole
        self.members: dict[str, set[str]] = {}  # attribute -> its members read (context.args.x)
        self.cells: dict[str, set[int]] = {}  # attribute -> constants it is only compared with
        for policy in policies:
            self._walk(policy.get("conditions", []))
        for part in parts:
            everything, whole, members, cells = part.raw
            self.everything |= everything
            self.whole |= whole
            for name, values in members.items():
                self.members.setdefault(name, set()).update(values)
            for name, constants in cells.items():
                self.cells.setdefault(name, set()).update(constants)
        self.raw: tuple[bool, set[str], dict[str, set[str]], dict[str, set[int]]] = (
            self.everything,
            set(self.whole),
            {name: set(v) for name, v in self.members.items()},
            {name: set(v) for name, v in self.cells.items()},
        )
        for name in list(self.cells):
            if name in self.whole or name in self.members:
                del self.cells[name]  # read some other way too: its exact value counts
        for name in self.whole:
            self.members.pop(name, None)
        self._cells = {name: sorted(values) for name, values in self.cells.items()}
        self._order = sorted(self.whole | set(self.members) | set(self._cells))
        self._members = {name: tuple(sorted(members)) for name, members in self.members.items()}

    def _read(self, path: tuple[str, ...]) -> None:
        if not path:
            self.everything = True
        elif len(path) == 1:
            self.whole.add(path[0])
        else:
            self.members.setdefault(path[0], set()).add(path[1])

    def _walk(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item)
            return
        if not isinstance(node, dict):
            return
        if node == {"Var": "context"}:
            self.everything = True
            return
        if len(node) == 1:
            op, body = next(iter(node.items()))
            if op in (".", "has") and isinstance(body, dict):
                path = _context_path(body.get("left"))
                if path is not None:
                    full = (*path, str(body.get("attr")))
                    self._read(full if len(full) <= 2 else full[:2])
                    return
            if op in _COMPARE and isinstance(body, dict):
                for mine, other in (("left", "right"), ("right", "left")):
                    path = _context_path(body.get(mine))
                    constant = _long_literal(body.get(other))
                    if path is not None and len(path) == 1 and constant is not None:
                        self.cells.setdefault(path[0], set()).add(constant)
                        return
        for value in node.values():
            self._walk(value)

    def trim(self, context: Mapping[str, Any]) -> Mapping[str, Any]:
        """``context`` less what no policy reads: what Cedar parses on a miss. Exact for the
        same reason as the key (policies observe the context only through these reads)."""
        if self.everything:
            return context
        out: dict[str, Any] = {}
        for name in self._order:
            if name not in context:
                continue
            value = context[name]
            if name in self.members and isinstance(value, Mapping):
                value = {m: value[m] for m in self.members[name] if m in value}
            out[name] = value
        return out

    def key(self, context: Mapping[str, Any]) -> Any:
        """A hashable summary of ``context``: equal for contexts no policy can tell apart."""
        if self.everything:
            return json.dumps(context, sort_keys=True)
        out: list[Any] = []
        for name in self._order:
            value = context.get(name, _MISSING)
            if name in self._cells and value.__class__ is int:
                constants = self._cells[name]
                at = bisect_left(constants, value)
                out.append((at, at < len(constants) and constants[at] == value))
            elif name in self._members and isinstance(value, dict):
                out.append(tuple([_typed(value.get(member, _MISSING)) for member in self._members[name]]))
            else:
                out.append(_typed(value))
        return tuple(out)


def _typed(value: Any) -> Any:
    """A value as a key part that keeps its type (``True``, ``1`` and ``1.0`` differ)."""
    if value is _MISSING:
        return _MISSING
    if isinstance(value, (dict, list)):  # the context is plain JSON data (PolicyEngine.request)
        return json.dumps(value, sort_keys=True)
    return (value.__class__, value)


class DecisionCache:
    """A bounded dict; cleared whole when full (entries are cheap to recompute)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[Any, Any] = {}
        self._max = max_entries

    def get(self, key: Any) -> Any:
        return self._entries.get(key)

    def put(self, key: Any, value: Any) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
