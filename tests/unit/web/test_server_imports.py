"""`opsroom run` starts uvicorn without uvicorn's command line: click, the reload and worker
supervisors and multiprocessing are ≈ 30 modules and ≈ 1.5 MiB of an idle server's memory,
and the server never forks or reloads that way. What uvicorn's package exports still works
for anyone who asks for it."""

from __future__ import annotations

import subprocess
import sys

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
        "import uvicorn.config, uvicorn.main;"
        "print(config is uvicorn.config.Config, run is uvicorn.main.run, server is uvicorn.main.Server,"
        " bool(uvicorn.__version__), 'watchfiles' in sys.modules)"
    )
    assert _run(code) == "True True True True False"
