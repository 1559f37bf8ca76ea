"""Kubernetes provider: Deployment restart, undo, scale, status and logs.

``RUNNER_TYPES`` is what the kubernetes plugin (``opsroom.plugins``) declares; it imports
this package only when a catalog entry uses it. Needs the ``k8s`` extra
(``pip install 'opsroom[k8s]'``, which brings ``kubernetes_asyncio``).
"""

from __future__ import annotations

try:
    import kubernetes_asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("the kubernetes runner needs the k8s extra: pip install 'opsroom[k8s]'") from exc

from opsroom.integrations.k8s import runner
from opsroom.runs.registry import RunnerFactory

RUNNER_TYPES: dict[str, RunnerFactory] = {runner.TYPE: runner.factory}
