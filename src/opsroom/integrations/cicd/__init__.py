"""CI/CD providers: GitHub Actions, GitLab CI, Jenkins, Argo CD.

``RUNNER_TYPES`` (``github_actions``, ``gitlab``, ``jenkins``, ``argocd``) is what the CI/CD
plugin (``opsroom.plugins``) declares; it imports this package only when a catalog entry uses
one of them. Each vendor is one module with one runner class.
"""

from __future__ import annotations

from opsroom.integrations.cicd import argocd, github_actions, gitlab, jenkins
from opsroom.runs.registry import RunnerFactory

RUNNER_TYPES: dict[str, RunnerFactory] = {
    github_actions.TYPE: github_actions.factory,
    gitlab.TYPE: gitlab.factory,
    jenkins.TYPE: jenkins.factory,
    argocd.TYPE: argocd.factory,
}
