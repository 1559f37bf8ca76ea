"""The permissions layer: who may run what, where and when.

Rules are Cedar policies (YAML shorthand in opsroom.yaml compiled to Cedar, plus raw
``.cedar`` files), evaluated with cedarpy on every command, button click and built-in.
See docs/policy.md.

Exports are loaded lazily so that importing a sibling module (e.g. ``opsroom.policy.redaction``)
does not pull in cedarpy and the whole config model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from opsroom.lean_imports import defer_submodule

# before any module here imports cedarpy: its syntax-tree module, never used, runs on first
# use only (see opsroom.lean_imports)
defer_submodule("cedarpy", "pst")

if TYPE_CHECKING:
    from opsroom.policy.check import check_policy
    from opsroom.policy.engine import PolicyEngine
    from opsroom.policy.schema import build_schema
    from opsroom.policy.shorthand import compile_rule, compile_rules

_EXPORTS = {
    "PolicyEngine": "opsroom.policy.engine",
    "build_schema": "opsroom.policy.schema",
    "check_policy": "opsroom.policy.check",
    "compile_rule": "opsroom.policy.shorthand",
    "compile_rules": "opsroom.policy.shorthand",
}

__all__ = ["PolicyEngine", "build_schema", "check_policy", "compile_rule", "compile_rules"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'opsroom.policy' has no attribute {name!r}")
