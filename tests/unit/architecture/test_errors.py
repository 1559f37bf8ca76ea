"""One exception tree: every exception class defined under ``opsroom`` derives from
``opsroom.errors.OpsroomError`` (through Refusal, ConfigError, IntegrationError or
InternalError), so a caller can tell "your request is wrong" from "the config is wrong" from
"a vendor failed" from "a bug" — and catch opsroom's own errors without catching everything."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import opsroom
from opsroom.errors import ConfigError, IntegrationError, InternalError, OpsroomError, ParseError, Refusal

# Classes that do not join the tree yet, each with its reason. This list must only shrink.
NOT_YET: dict[str, str] = {}


def exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(opsroom.__path__, "opsroom."):
        if ".migrations" in info.name or info.name.endswith(".__main__"):  # __main__ runs the CLI
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_exception_class_of_opsroom_derives_from_opsroom_error() -> None:
    classes = exception_classes()
    assert len(classes) > 30, "the walk found opsroom's exceptions"
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, OpsroomError))
    assert outside == sorted(NOT_YET), "derive these from a class in opsroom.errors: " + ", ".join(
        n for n in outside if n not in NOT_YET
    )


def test_the_tree_has_its_four_kinds_and_keeps_the_old_names_working() -> None:
    from opsroom.audit.log import AuditChainError
    from opsroom.commands.values import ArgValueError
    from opsroom.core import ConfigError as CoreConfigError
    from opsroom.integrations.http import IntegrationError as HttpIntegrationError
    from opsroom.runs.runners.templating import TemplateError
    from opsroom.web.api import BadRequest

    for kind in (Refusal, ConfigError, IntegrationError, InternalError):
        assert issubclass(kind, OpsroomError)
    assert issubclass(ParseError, Refusal) and issubclass(BadRequest, Refusal)
    assert issubclass(ArgValueError, Refusal) and issubclass(ArgValueError, ValueError)  # validators rely on it
    assert issubclass(TemplateError, ConfigError)
    assert issubclass(AuditChainError, InternalError) and issubclass(AuditChainError, RuntimeError)
    assert CoreConfigError is ConfigError and HttpIntegrationError is IntegrationError


def test_the_errors_module_is_a_leaf() -> None:
    """core may import it (core imports nothing else of ours), so it imports nothing of ours."""
    from tests.unit.architecture.test_import_cycles import import_graph

    graph = import_graph(lazy=True)
    assert graph["opsroom.errors"] == set()
    assert {t for t in graph["opsroom.core"] if not t.startswith("opsroom.core")} <= {"opsroom.errors"}
