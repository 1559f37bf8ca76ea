"""`opsroom run` starts uvicorn without uvicorn's command line: click, the reload and worker
supervisors and multiprocessing are ≈ 30 modules and ≈ 1.5 MiB of an idle server's memory,
and the server never forks or reloads that way. What uvicorn's package exports still works
for anyone who asks for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVER_PATH = """
import sys
from opsroom.lean_imports import import_uvicorn
import_uvicorn()
import opsroom.cli.serve, opsroom.web.app
from uvicorn.config import Config
from uvicorn.server import Server

async def app(scope, receive, send):
    pass

config = Config(app, lifespan="on", log_config=None, proxy_headers=False)
config.load()  # what Server.serve does first: lifespan, HTTP and websocket protocols
Server(config)
unwanted = ("click", "uvicorn.main", "uvicorn.supervisors", "multiprocessing", "watchfiles")
print(",".join(m for m in unwanted if m in sys.modules))
"""


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_server_path_does_not_import_uvicorns_command_line() -> None:
    assert _run(SERVER_PATH) == ""


def test_uvicorns_exports_still_import_on_first_use() -> None:
    code = (
        "from opsroom.lean_imports import import_uvicorn; import_uvicorn();"
        "import sys, uvicorn; run, server, config = uvicorn.run, uvicorn.Server, uvicorn.Config;"
        "import uvicorn.config; main = sys.modules['uvicorn.main'];"
        "print(config is uvicorn.config.Config, run is main.run, server is main.Server,"
        " bool(uvicorn.__version__), 'watchfiles' in sys.modules)"
    )
    assert _run(code) == "True True True True False"


def test_the_server_path_formats_metrics_only_when_scraped() -> None:
    """prometheus_client's exposition brings an HTTP server, a WSGI server and an HTTP client
    (≈ 20 modules) that a server nobody scrapes never needs."""
    code = (
        "import sys, opsroom.app, opsroom.web.app, opsroom.incidents.stats;"
        "unwanted = ('prometheus_client.exposition', 'http.server', 'wsgiref', 'urllib.request');"
        "print(','.join(m for m in unwanted if m in sys.modules))"
    )
    assert _run(code) == ""


def test_a_scrape_shows_opsrooms_metrics_and_the_default_collectors() -> None:
    code = (
        "from opsroom.metrics import exposition; import opsroom.incidents.stats;"
        "body, media_type = exposition(); print(media_type); print(body.decode())"
    )
    out = _run(code)
    assert out.startswith("text/plain;")  # the Prometheus text format
    for family in (
        "opsroom_commands_total",
        "opsroom_incident_milestone_seconds",
        "process_resident_memory_bytes",  # the process collector, as `import prometheus_client` registers it
        "python_gc_objects_collected_total",
        "python_info",
    ):
        assert f"# TYPE {family}" in out or f"# HELP {family}" in out, family


def test_prometheus_clients_exports_still_import_on_first_use() -> None:
    code = (
        "import opsroom.metrics, prometheus_client;"
        "from prometheus_client.exposition import generate_latest;"
        "print(prometheus_client.generate_latest is generate_latest,"
        " prometheus_client.Counter is opsroom.metrics.Counter)"
    )
    assert _run(code) == "True True"


def test_the_server_path_does_not_run_logging_config() -> None:
    """uvicorn.config imports logging.config (and with it logging.handlers and socketserver,
    ≈ 0.4 MiB) only to apply a log_config, which `opsroom run` never passes."""
    code = SERVER_PATH.replace("unwanted = (", "unwanted = ('logging.handlers', 'socketserver', ")
    code += "print('dictConfig' in vars(sys.modules['logging.config']))"
    assert _run(code) == "False"  # nothing unwanted imported, and logging.config not run


def test_logging_config_still_works_on_first_use() -> None:
    code = (
        "from opsroom.lean_imports import import_uvicorn; import_uvicorn();"
        "import logging, logging.config, uvicorn.config;"
        "logging.config.dictConfig({'version': 1, 'handlers': {'h': {'class': 'logging.StreamHandler',"
        " 'stream': 'ext://sys.stdout'}}, 'root': {'handlers': ['h'], 'level': 'INFO'}});"
        "logging.getLogger('x').info('configured');"
        "from logging.config import fileConfig; import logging.handlers;"
        "print(callable(fileConfig), logging.config.fileConfig is fileConfig)"
    )
    assert _run(code).splitlines() == ["configured", "True True"]


def test_uvicorn_applies_a_log_config_when_one_is_given() -> None:
    code = (
        "from opsroom.lean_imports import import_uvicorn; import_uvicorn();"
        "import logging; from uvicorn.config import Config;"
        "Config(lambda *a: None, log_config={'version': 1, 'disable_existing_loggers': False,"
        " 'loggers': {'probe': {'level': 'WARNING'}}});"
        "print(logging.getLogger('probe').level == logging.WARNING)"
    )
    assert _run(code) == "True"


def test_the_policy_engine_does_not_run_cedarpys_syntax_tree_module() -> None:
    """cedarpy's __init__ imports cedarpy.pst (≈ 120 dataclasses, ≈ 0.4 MiB) for
    policies_to_pst, which opsroom never calls."""
    code = (
        "import sys, opsroom.app, opsroom.policy.engine, opsroom.policy.check, cedarpy;"
        "print('PolicySet' in vars(sys.modules['cedarpy.pst']))"
    )
    assert _run(code) == "False"


def test_cedarpys_syntax_tree_still_works_on_first_use() -> None:
    code = (
        "import opsroom.policy.engine, cedarpy; from cedarpy.pst import PolicySet;"
        "tree = cedarpy.policies_to_pst('permit(principal, action, resource);');"
        "print(isinstance(tree, PolicySet), cedarpy.pst.PolicySet is PolicySet)"
    )
    assert _run(code) == "True True"


def test_the_server_path_does_not_run_modules_it_never_calls() -> None:
    """structlog's threadlocal module (deprecated; it loads greenlet, a C++ extension, ≈ 1 MiB
    resident with libstdc++) and msgspec's inspect."""
    code = (
        "import sys, opsroom.app, opsroom.logs, opsroom.web.app, opsroom.alerts.fastpath, structlog, msgspec;"
        "loaded = [m for m in ('structlog.threadlocal', 'msgspec.inspect')"
        " if '__getattr__' not in vars(sys.modules[m])];"
        "print(','.join(loaded + [m for m in ('greenlet', 'structlog._greenlets') if m in sys.modules]) or 'none')"
    )
    assert _run(code) == "none"


def test_deferred_library_modules_still_work_on_first_use() -> None:
    code = (
        "import opsroom.logs, opsroom.alerts.fastpath, msgspec, structlog;"
        "from msgspec.inspect import type_info; import msgspec.inspect as mi;"
        "schema = msgspec.json.schema(msgspec.defstruct('Point', [('x', int)]));"
        "print(type(mi.type_info(int)).__name__, mi.type_info is type_info, schema['$ref']);"
        "from structlog.threadlocal import bind_threadlocal; print(callable(bind_threadlocal),"
        " structlog.threadlocal.bind_threadlocal is bind_threadlocal)"
    )
    assert _run(code).splitlines() == ["IntType True #/$defs/Point", "True True"]


def test_the_server_path_does_not_load_bz2_or_lzma() -> None:
    code = (
        "import sys, opsroom.cli.serve, opsroom.app, opsroom.web.app, shutil, zipfile;"
        "print(','.join(m for m in ('_bz2', '_lzma') if m in sys.modules) or 'none')"
    )
    assert _run(code) == "none"


def test_bz2_and_lzma_still_compress_on_first_use() -> None:
    code = (
        "import opsroom, io, bz2, lzma, shutil, zipfile;"
        "buf = io.BytesIO(); archive = zipfile.ZipFile(buf, 'w', zipfile.ZIP_LZMA);"
        "archive.writestr('a', 'hello'); archive.close();"
        "print(bz2.decompress(bz2.compress(b'x')), zipfile.ZipFile(buf).read('a'),"
        " {'bztar', 'xztar'} <= {f for f, _ in shutil.get_archive_formats()})"
    )
    assert _run(code) == "b'x' b'hello' True"


def test_a_deferred_module_runs_once_and_fails_like_an_import(tmp_path: Path) -> None:
    """Two threads that first use a deferred module both see it whole (the second waits while
    the first runs it); a module that fails says why on every use, as an import would."""
    (tmp_path / "slowmod.py").write_text(
        "import time\nRUNS = []\nRUNS.append(1)\ntime.sleep(0.2)\nVALUE = 42\n", encoding="utf-8"
    )
    (tmp_path / "badmod.py").write_text("raise RuntimeError('broken on purpose')\n", encoding="utf-8")
    code = (
        f"import sys, threading; sys.path.insert(0, {str(tmp_path)!r});"
        "from opsroom.lean_imports import import_lazily;"
        "slow = import_lazily('slowmod'); seen = [];"
        "threads = [threading.Thread(target=lambda: seen.append(slow.VALUE)) for _ in range(2)];"
        "[t.start() for t in threads]; [t.join() for t in threads];"
        "print(seen, slow.RUNS); bad = import_lazily('badmod'); errors = []\n"
        "for _ in range(2):\n"
        "    try: bad.anything\n"
        "    except RuntimeError as exc: errors.append(str(exc))\n"
        "print(errors)"
    )
    assert _run(code).splitlines() == ["[42, 42] [1]", "['broken on purpose', 'broken on purpose']"]


def test_the_server_path_does_not_run_sqlalchemys_other_sqlite_drivers() -> None:
    """aiosqlite's dialect (with SQLAlchemy's asyncio connector) and pysqlcipher's: the
    SQLite package imports them, opsroom only ever uses pysqlite."""
    code = (
        "import sys, opsroom.cli.serve, opsroom.app, opsroom.web.app, opsroom.store.binds, sqlalchemy.dialects.sqlite;"
        "names = ('sqlalchemy.dialects.sqlite.aiosqlite', 'sqlalchemy.dialects.sqlite.pysqlcipher');"
        "ran = [m for m in names if '__getattr__' not in vars(sys.modules[m])];"
        "print(','.join(ran + [m for m in ('sqlalchemy.connectors.asyncio',) if m in sys.modules]) or 'none')"
    )
    assert _run(code) == "none"


def test_the_other_sqlite_drivers_still_load_on_first_use() -> None:
    """By URL (SQLAlchemy's dialect registry), by import, from two threads at once."""
    code = (
        "import threading, opsroom, sqlalchemy; from sqlalchemy.dialects import registry;"
        "got = []; threads = [threading.Thread(target=lambda: got.append(registry.load('sqlite.aiosqlite')))"
        " for _ in range(2)]; [t.start() for t in threads]; [t.join() for t in threads];"
        "from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite;"
        "from sqlalchemy.dialects.sqlite.pysqlcipher import SQLiteDialect_pysqlcipher;"
        "print(got == [SQLiteDialect_aiosqlite] * 2, registry.load('sqlite.pysqlcipher') is SQLiteDialect_pysqlcipher,"
        " sqlalchemy.create_engine('sqlite://').dialect.driver)"
    )
    assert _run(code) == "True True pysqlite"


def test_a_module_of_a_package_inside_a_package_is_deferred_without_importing_either(tmp_path: Path) -> None:
    inner = tmp_path / "outerpkg" / "innerpkg"
    inner.mkdir(parents=True)
    (tmp_path / "outerpkg" / "__init__.py").write_text("LOADED = True\n", encoding="utf-8")
    (inner / "__init__.py").write_text("from . import heavy\n", encoding="utf-8")
    (inner / "heavy.py").write_text("VALUE = 7\n", encoding="utf-8")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r});"
        "from opsroom.lean_imports import defer_submodule; defer_submodule('outerpkg.innerpkg', 'heavy');"
        "before = [m for m in ('outerpkg', 'outerpkg.innerpkg') if m in sys.modules];"
        "import outerpkg.innerpkg; ran = '__getattr__' not in vars(sys.modules['outerpkg.innerpkg.heavy']);"
        "print(before, ran, outerpkg.innerpkg.heavy.VALUE)"
    )
    assert _run(code) == "[] False 7"


def test_the_server_path_does_not_run_http_client() -> None:
    """starlette imports ``http.client`` for one dict (a status's reason phrase); with it the
    email feed parser: ≈ 0.4 MiB no idle server reads."""
    code = (
        "import sys, opsroom.cli.serve, opsroom.app, opsroom.web.app, starlette.exceptions;"
        "ran = '__getattr__' not in vars(sys.modules['http.client']);"
        "print(ran, 'email.feedparser' in sys.modules)"
    )
    assert _run(code) == "False False"


def test_http_client_still_works_on_first_use() -> None:
    """A starlette error without a detail still reads its reason; ``http.client`` imported by
    name or from, the same module."""
    code = (
        "import opsroom.web.app, sys; from starlette.exceptions import HTTPException;"
        "print(HTTPException(404).detail, HTTPException(503).detail);"
        "import http.client; from http.client import HTTPConnection, responses;"
        'print(http.client.HTTPConnection is HTTPConnection, responses[418] == "I\'m a Teapot",'
        " sys.modules['http.client'] is http.client)"
    )
    assert _run(code).splitlines() == ["Not Found Service Unavailable", "True True True"]
