"""The catalog entries in docs/integrations/*.md load with the real catalog loader and build
real runners; provider option templates fill optional arguments and refuse typos."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import opsroom.integrations.cicd  # noqa: F401 — registers the runner types
import opsroom.integrations.k8s  # noqa: F401
from opsroom.commands.loader import commands_from_yaml
from opsroom.core import ConfigError, RunnerSpec
from opsroom.features import build_runner, runner_types
from opsroom.integrations.cicd.github_actions import GitHubActionsRunner
from opsroom.integrations.templating import map_option, render_map
from opsroom.runs.runners.options import Options

DOCS = Path(__file__).resolve().parents[3] / "docs" / "integrations"
PAGES = ["github-actions.md", "gitlab.md", "jenkins.md", "argocd.md", "kubernetes.md"]


def catalog_blocks(page: str) -> list[dict]:
    text = (DOCS / page).read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]
    return [b for b in blocks if isinstance(b, dict) and "commands" in b]


@pytest.mark.parametrize("page", PAGES)
def test_doc_catalog_entries_load_and_build(page: str) -> None:
    blocks = catalog_blocks(page)
    assert blocks, f"{page} has no catalog example"
    for block in blocks:
        specs, errors = commands_from_yaml(block["commands"], page)
        assert errors == []
        for spec in specs:
            assert spec.runner is not None
            runner = build_runner(spec.runner)
            runner.check_args([a.name for a in spec.args])  # type: ignore[attr-defined]


def test_all_provider_types_are_registered() -> None:
    assert {"github_actions", "gitlab", "jenkins", "argocd", "kubernetes"} <= set(runner_types())


def test_a_placeholder_that_is_not_an_argument_is_a_config_error() -> None:
    runner = build_runner(
        RunnerSpec(
            "github_actions",
            {
                "repo": "acme/api",
                "workflow": "deploy.yml",
                "ref": "{ref}",
                "inputs": {"env": "{enviroment}"},
                "token_env": "GITHUB_TOKEN",
            },
        )
    )
    assert isinstance(runner, GitHubActionsRunner)
    with pytest.raises(ConfigError, match=r"unknown placeholder \{enviroment\}"):
        runner.check_args(["ref", "environment"])


def test_optional_arguments_not_given_are_left_out_and_values_are_not_re_templated() -> None:
    opts = Options("t", {"inputs": {"a": "{a}", "b": "v={b}", "c": "{c}", "n": 3, "flag": True}}, ("inputs",))
    values = map_option(opts, "inputs")
    assert render_map(values, {"a": "{c}", "c": 5}) == {
        "a": "{c}",
        "b": "v=",
        "c": "5",
        "n": "3",
        "flag": "true",
    }
    assert render_map(values, {}) == {"b": "v=", "n": "3", "flag": "true"}
