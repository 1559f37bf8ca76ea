"""CI/CD providers: GitHub Actions, GitLab CI, Jenkins, Argo CD.

Importing this package registers their runner types (``github_actions``, ``gitlab``,
``jenkins``, ``argocd``) with ``opsroom.runs.registry``; the composition root imports it only
when a catalog entry uses one of them. Each vendor is one module with one runner class.
"""

from __future__ import annotations

from opsroom.integrations.cicd import argocd, github_actions, gitlab, jenkins
from opsroom.runs.registry import RunnerFactory, register_runner

RUNNER_TYPES: dict[str, RunnerFactory] = {
    github_actions.TYPE: github_actions.factory,
    gitlab.TYPE: gitlab.factory,
    jenkins.TYPE: jenkins.factory,
    argocd.TYPE: argocd.factory,
}

for _name, _factory in RUNNER_TYPES.items():
    register_runner(_name, _factory)
