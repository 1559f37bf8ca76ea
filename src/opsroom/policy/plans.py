"""Per request, the policies Cedar must evaluate, and what the cached decision depends on.

From the atoms of every policy (``scope_atoms.py``) and the true atoms of a request (the
principal's, the action's and the resource's, each computed once and kept), a ``Plan`` says:

- ``live``: the policies whose scope and leading atom-only conditions hold (the others can
  neither be satisfied nor fail, so Cedar's decision, determining policies and errors over
  ``live`` equal those over the whole set);
- ``constant``: when no live policy has a condition left to evaluate, the decision itself
  (every live policy is satisfied: forbids decide, else permits, else nothing allows) —
  no Cedar call and no context needed;
- otherwise the key parts of a decision: the live policy ids, the values of the atoms their
  remaining conditions test, the exact principal/action/resource when one of those
  conditions reads it otherwise, and (``projection``) the context they read.

Two people with the same roles, or with different roles that no live policy tells apart, get
the same plan, hence share cached decisions; a policy naming a person (``principal ==
User::"bob"``) gives that person atoms of their own. Plans are built per engine, so a
reload starts afresh.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import cedarpy

from opsroom.core import Principal
from opsroom.policy.decision_cache import ContextProjection
from opsroom.policy.scope_atoms import AtomTable, PolicyShape, Uid, holds

_MAX_PLANS = 20_000  # a plan holds a context projection (≈ 1–2 KB)
_MAX_MASKS = 10_000


def principal_uid(principal: Principal) -> Uid:
    """The principal's Cedar uid as ``PolicyEngine.request`` builds it."""
    return ("User" if principal.known else "Guest", principal.name)


def principal_parents(principal: Principal) -> frozenset[Uid]:
    """Its parents in the entity store the engine builds (guests have no entity)."""
    if not principal.known:
        return frozenset()
    return frozenset([("Role", r) for r in principal.roles] + [("Group", g) for g in principal.groups])


class Plan:
    """One set of live policies with fixed values of the atoms their conditions still test."""

    def __init__(self, live: tuple[str, ...]) -> None:
        self.live = live
        self.constant: Any = None  # the decision when nothing is left to evaluate (engine fills it)
        self.satisfied: tuple[str, ...] = ()
        self.needs: frozenset[str] = frozenset()  # variables read beyond atoms: keyed exactly
        self.projection: ContextProjection | None = None


class Action:
    """What a command's requests share: its true atoms, the policies whose action scope can
    hold for it (``candidates``), the atoms those mention, and the policy set Cedar gets.

    Cedar gets the candidates rather than a plan's live policies: the others among them are
    not satisfied and raise no error, so the outcome is the same, and one parsed set per
    command (≈ 35 µs a policy to parse) costs far less than one per plan."""

    def __init__(self, planner: Planner, command: str) -> None:
        table = planner.table
        self.bits = table.mask("action", ("Action", command), frozenset())
        candidates: list[str] = []
        self.mask = 0
        for pid, shape in planner.shapes.items():
            if shape.unknown or all(self.bits >> n & 1 for n in shape.scope if table.atoms[n][1] == "action"):
                candidates.append(pid)
                for n in shape.atoms:
                    self.mask |= 1 << n
        self.candidates = tuple(candidates)
        # Cedar consults the store about the principal only through a principal atom or
        # another read of it (a User literal counts as one); without any, it may go
        # without the principal's entity.
        self.needs_store = any(
            "principal" in planner.shapes[pid].opaque
            or any(table.atoms[n][1] == "principal" for n in planner.shapes[pid].atoms)
            for pid in self.candidates
        )
        self._planner = planner
        self._policy_set: cedarpy.PolicySet | None = None

    @property
    def policy_set(self) -> cedarpy.PolicySet:
        """Parsed on the first Cedar call (commands decided by atoms alone never need it)."""
        if self._policy_set is None:
            self._policy_set = self._planner.policy_set(self.candidates)
        return self._policy_set


class Planner:
    def __init__(self, ests: Mapping[str, Mapping[str, Any]]) -> None:
        self.ests = dict(ests)
        self.table = AtomTable()
        self.shapes: dict[str, PolicyShape] = {pid: self.table.shape(est) for pid, est in self.ests.items()}
        self._reads = {pid: ContextProjection([est]) for pid, est in self.ests.items()}
        self._principals: dict[tuple[Any, ...], int] = {}
        self._resources: dict[str, int] = {}
        self._actions: dict[str, Action] = {}
        self._sets: dict[tuple[str, ...], cedarpy.PolicySet] = {}
        self._plans: dict[tuple[Any, ...], Plan] = {}
        self._canonical: dict[tuple[Any, ...], Plan] = {}

    def action(self, command: str) -> Action:
        found = self._actions.get(command)
        if found is None:
            found = Action(self, command)
            _bounded_put(self._actions, command, found, _MAX_MASKS)
        return found

    def policy_set(self, ids: tuple[str, ...]) -> cedarpy.PolicySet:
        """One parsed set per distinct list of policies (commands often share one)."""
        found = self._sets.get(ids)
        if found is None:
            doc = {"staticPolicies": {pid: self.ests[pid] for pid in ids}, "templates": {}, "templateLinks": []}
            found = cedarpy.PolicySet.from_json_str(json.dumps(doc))
            _bounded_put(self._sets, ids, found, _MAX_MASKS)
        return found

    def plan(self, principal: Principal, command: str, resource: str) -> Plan:
        pkey = (principal.known, principal.name, principal.roles, principal.groups)
        pbits = self._principals.get(pkey)
        if pbits is None:
            pbits = self.table.mask("principal", principal_uid(principal), principal_parents(principal))
            _bounded_put(self._principals, pkey, pbits, _MAX_MASKS)
        rbits = self._resources.get(resource)
        if rbits is None:
            rbits = self.table.mask("resource", ("Channel", resource), frozenset())
            _bounded_put(self._resources, resource, rbits, _MAX_MASKS)
        action = self.action(command)
        bits = (pbits | rbits | action.bits) & action.mask
        key = (command, bits)
        found = self._plans.get(key)
        if found is None:
            found = self._build(action.candidates, bits)
            _bounded_put(self._plans, key, found, _MAX_PLANS)
        return found

    def _build(self, candidates: tuple[str, ...], bits: int) -> Plan:
        live: list[str] = []
        satisfied: list[str] = []
        rest_mask = 0
        needs: set[str] = set()
        for pid in candidates:
            shape = self.shapes[pid]
            if shape.unknown:
                live.append(pid)
                needs.update(shape.opaque)
                continue
            if not all(bits >> n & 1 for n in shape.scope):
                continue
            if not all(holds(pure, bits) == is_when for is_when, pure in shape.leading):
                continue
            live.append(pid)
            if shape.rest == 0:
                satisfied.append(pid)
            for n in shape.rest_atoms:
                rest_mask |= 1 << n
            needs.update(shape.opaque)
        canonical = (tuple(live), bits & rest_mask, frozenset(needs))
        found = self._canonical.get(canonical)
        if found is None:
            found = Plan(tuple(live))
            found.satisfied = tuple(satisfied)
            found.needs = frozenset(needs)
            if len(satisfied) < len(live):
                found.projection = ContextProjection(parts=[self._reads[pid] for pid in live])
            _bounded_put(self._canonical, canonical, found, _MAX_PLANS)
        return found


def _bounded_put(store: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    if len(store) >= limit:
        store.clear()  # cheap to recompute; a reload would start empty anyway
    store[key] = value
