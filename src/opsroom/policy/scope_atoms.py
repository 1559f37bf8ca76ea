"""What each policy can observe of the principal, action and resource: its *atoms*.

An atom is a test of one request variable against entity literals whose value Python can
compute exactly from what opsroom puts in a request: ``v == E``, ``v in E``, ``v in [E…]``,
``v is T`` and ``v is T in E`` (in a scope or a condition). opsroom's entity store holds
only the principal (a ``User`` whose parents are its ``Role``/``Group`` entities; nothing for
a ``Guest``), so ``v in E`` holds exactly when E is the variable's uid or one of its parents.

Per policy (its JSON form), the analysis keeps:

- ``scope``: the atoms of its scope, all of which must hold;
- ``leading``: its first conditions made only of atoms, ``true``/``false``, ``!``, ``&&``,
  ``||`` and ``if``. Such a condition cannot fail to evaluate, and Cedar evaluates a policy as
  scope ``&&`` condition ``&&`` … left to right, stopping at the first false, so when one
  of them is false the policy is not satisfied and raises no error: leaving it out of the
  set Cedar evaluates changes neither the decision nor the determining policies nor errors;
- ``rest_atoms`` / ``opaque``: of the remaining conditions (the ones Cedar must evaluate), the
  atoms they test and the variables they read any other way (``principal.x``,
  ``resource in principal``…). A ``User``/``Guest`` entity literal outside an atom reads the
  entity store, hence who the principal is: it makes ``principal`` opaque too.

Anything the analysis does not recognise (template slots, unknown nodes) makes the policy
``unknown``: always evaluated, every variable opaque. Conservative by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opsroom.errors import InternalError

VARS = ("principal", "action", "resource")
STORE_TYPES = ("User", "Guest")  # the principal's entity types: literals of these read the store
Uid = tuple[str, str]
# ("==", var, uid) | ("in", var, frozenset[uid]) | ("is", var, type, frozenset[uid] | None)
Atom = tuple[Any, ...]
# Compiled pure expression: ("const", bool) | ("atom", index) | ("not", e) | ("and"|"or", a, b)
# | ("if", c, t, e)
Pure = tuple[Any, ...]


class Unknown(InternalError):
    """A construct the analysis does not model: the policy is treated as opaque (never
    leaves this module)."""


@dataclass
class PolicyShape:
    scope: list[int] = field(default_factory=list)
    leading: list[tuple[bool, Pure]] = field(default_factory=list)  # (is_when, expression)
    rest: int = 0  # how many conditions Cedar still has to evaluate after ``leading``
    rest_atoms: set[int] = field(default_factory=set)
    opaque: set[str] = field(default_factory=set)
    atoms: set[int] = field(default_factory=set)  # every atom it mentions
    unknown: bool = False


def _uid(node: Any) -> Uid:
    if isinstance(node, Mapping) and set(node) == {"type", "id"}:
        if isinstance(node["type"], str) and isinstance(node["id"], str):
            return (node["type"], node["id"])
    raise Unknown(node)


def _literal(node: Any) -> Uid | None:
    """The uid of an entity literal expression ``{"Value": {"__entity": …}}``, else None."""
    if isinstance(node, Mapping) and set(node) == {"Value"}:
        value = node["Value"]
        if isinstance(value, Mapping) and set(value) == {"__entity"}:
            return _uid(value["__entity"])
    return None


def _var(node: Any) -> str | None:
    if isinstance(node, Mapping) and set(node) == {"Var"} and node["Var"] in VARS:
        return str(node["Var"])
    return None


class AtomTable:
    """Every distinct atom of a policy set, numbered (bit ``1 << n`` in a request's mask)."""

    def __init__(self) -> None:
        self.atoms: list[Atom] = []
        self._index: dict[Atom, int] = {}

    def add(self, atom: Atom) -> int:
        found = self._index.get(atom)
        if found is None:
            found = self._index[atom] = len(self.atoms)
            self.atoms.append(atom)
        return found

    def mask(self, var: str, uid: Uid, parents: frozenset[Uid]) -> int:
        """The atoms of ``var`` that hold for a variable with this uid and these parents."""
        bits = 0
        for n, atom in enumerate(self.atoms):
            if atom[1] != var:
                continue
            op = atom[0]
            if op == "==":
                holds = atom[2] == uid
            elif op == "in":
                holds = uid in atom[2] or not parents.isdisjoint(atom[2])
            else:  # "is"
                holds = uid[0] == atom[2] and (atom[3] is None or uid in atom[3] or not parents.isdisjoint(atom[3]))
            if holds:
                bits |= 1 << n
        return bits

    # -- analysis -------------------------------------------------------------------------

    def shape(self, est: Mapping[str, Any]) -> PolicyShape:
        shape = PolicyShape()
        try:
            for var in VARS:
                atom = self._scope_atom(var, est.get(var))
                if atom is not None:
                    shape.scope.append(self.add(atom))
            conditions = est.get("conditions", [])
            if not isinstance(conditions, list):
                raise Unknown(conditions)
            n = 0
            for n, clause in enumerate(conditions):  # noqa: B007 - n is read after the loop
                if not isinstance(clause, Mapping) or clause.get("kind") not in ("when", "unless"):
                    raise Unknown(clause)
                pure = self._pure(clause.get("body"))
                if pure is None:
                    break
                shape.leading.append((clause["kind"] == "when", pure))
            else:
                n = len(conditions)
            shape.rest = len(conditions) - n
            for clause in conditions[n:]:
                self._residual(clause.get("body"), shape)
        except (Unknown, KeyError, TypeError):
            return PolicyShape(unknown=True, opaque=set(VARS))
        shape.atoms = set(shape.scope) | shape.rest_atoms
        for _, pure in shape.leading:
            shape.atoms |= _pure_atoms(pure)
        return shape

    def _scope_atom(self, var: str, scope: Any) -> Atom | None:
        if not isinstance(scope, Mapping):
            raise Unknown(scope)
        op = scope.get("op")
        if op == "All" and set(scope) == {"op"}:
            return None
        if op == "==" and set(scope) == {"op", "entity"}:
            return ("==", var, _uid(scope["entity"]))
        if op == "in" and set(scope) == {"op", "entity"}:
            return ("in", var, frozenset([_uid(scope["entity"])]))
        if op == "in" and set(scope) == {"op", "entities"}:
            return ("in", var, frozenset(_uid(e) for e in scope["entities"]))
        if op == "is" and set(scope) <= {"op", "entity_type", "in"} and isinstance(scope["entity_type"], str):
            inner = scope.get("in")
            if inner is None:
                return ("is", var, scope["entity_type"], None)
            if isinstance(inner, Mapping) and set(inner) == {"entity"}:
                return ("is", var, scope["entity_type"], frozenset([_uid(inner["entity"])]))
        raise Unknown(scope)

    def _atom(self, node: Any) -> Atom | None:
        """The atom this expression is, or None."""
        if not isinstance(node, Mapping) or len(node) != 1:
            return None
        op, body = next(iter(node.items()))
        if not isinstance(body, Mapping):
            return None
        if op == "==":
            for mine, other in (("left", "right"), ("right", "left")):
                var, uid = _var(body.get(mine)), _literal(body.get(other))
                if var and uid:
                    return ("==", var, uid)
        elif op == "in" and (var := _var(body.get("left"))):
            right = body.get("right")
            if (uid := _literal(right)) is not None:
                return ("in", var, frozenset([uid]))
            if isinstance(right, Mapping) and set(right) == {"Set"} and isinstance(right["Set"], list):
                uids = [_literal(item) for item in right["Set"]]
                if all(u is not None for u in uids):
                    return ("in", var, frozenset(u for u in uids if u is not None))
        elif op == "is" and (var := _var(body.get("left"))) and isinstance(body.get("entity_type"), str):
            if set(body) == {"left", "entity_type"}:
                return ("is", var, body["entity_type"], None)
            if set(body) == {"left", "entity_type", "in"} and (uid := _literal(body["in"])) is not None:
                return ("is", var, body["entity_type"], frozenset([uid]))
        return None

    def _pure(self, node: Any) -> Pure | None:
        if isinstance(node, Mapping) and set(node) == {"Value"} and isinstance(node["Value"], bool):
            return ("const", node["Value"])
        atom = self._atom(node)
        if atom is not None:
            return ("atom", self.add(atom))
        if not isinstance(node, Mapping) or len(node) != 1:
            return None
        op, body = next(iter(node.items()))
        if not isinstance(body, Mapping):
            return None
        if op == "!" and set(body) == {"arg"}:
            arg = self._pure(body["arg"])
            return None if arg is None else ("not", arg)
        if op in ("&&", "||") and set(body) == {"left", "right"}:
            left, right = self._pure(body["left"]), self._pure(body["right"])
            if left is None or right is None:
                return None
            return ("and" if op == "&&" else "or", left, right)
        if op == "if-then-else" and set(body) == {"if", "then", "else"}:
            parts = [self._pure(body[k]) for k in ("if", "then", "else")]
            if any(p is None for p in parts):
                return None
            return ("if", *parts)
        return None

    def _residual(self, node: Any, shape: PolicyShape) -> None:
        """Collect what a condition Cedar evaluates reads of the variables."""
        atom = self._atom(node)
        if atom is not None:
            shape.rest_atoms.add(self.add(atom))
            return
        if isinstance(node, list):
            for item in node:
                self._residual(item, shape)
            return
        if not isinstance(node, Mapping):
            return
        if "Slot" in node or "Unknown" in node or "__expr" in node:
            raise Unknown(node)
        if "Var" in node and node["Var"] in VARS:
            shape.opaque.add(str(node["Var"]))
        if "__entity" in node:
            if _uid(node["__entity"])[0] in STORE_TYPES:
                shape.opaque.add("principal")
            return
        for value in node.values():
            self._residual(value, shape)


def holds(pure: Pure, bits: int) -> bool:
    """A pure expression's value for a request whose true atoms are ``bits``."""
    op = pure[0]
    if op == "atom":
        return bool(bits >> pure[1] & 1)
    if op == "const":
        return bool(pure[1])
    if op == "not":
        return not holds(pure[1], bits)
    if op == "and":
        return holds(pure[1], bits) and holds(pure[2], bits)
    if op == "or":
        return holds(pure[1], bits) or holds(pure[2], bits)
    return holds(pure[2], bits) if holds(pure[1], bits) else holds(pure[3], bits)


def _pure_atoms(pure: Pure) -> set[int]:
    if pure[0] == "atom":
        return {pure[1]}
    if pure[0] == "const":
        return set()
    return set().union(*(_pure_atoms(p) for p in pure[1:]))
