"""`opsroom run` imports the WebSocket library and uvicorn's WebSocket protocol at the first
upgrade, not at start (≈ 0.5 MiB an idle server kept for nobody): the server path does not
import them, and the first upgrade gets uvicorn's own "auto" protocol (a real browser-like
upgrade, two at once on a fresh server: tests/integration/web/test_served_process.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from opsroom.web.serving import websocket_protocol

SERVER_PATH = """
import sys
from opsroom.lean_imports import import_uvicorn
import_uvicorn()
import opsroom.cli.serve, opsroom.web.app
from uvicorn.config import Config
from opsroom.web.serving import websocket_protocol

async def app(scope, receive, send):
    pass

config = Config(app, lifespan="on", log_config=None, proxy_headers=False, ws=websocket_protocol())
config.load()  # what Server.serve does first: here uvicorn would import its WebSocket protocol
unwanted = ("websockets", "uvicorn.protocols.websockets.auto", "wsproto")
print(config.ws_protocol_class is not None, [m for m in unwanted if m in sys.modules])
"""


def test_the_server_path_imports_no_websocket_library_until_an_upgrade() -> None:
    done = subprocess.run([sys.executable, "-c", SERVER_PATH], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True []"


def test_an_upgrade_builds_uvicorns_auto_protocol() -> None:
    from uvicorn.config import Config
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
    from uvicorn.server import ServerState

    async def app(scope: object, receive: object, send: object) -> None:
        pass

    config = Config(app, log_config=None)  # type: ignore[arg-type]
    config.load()
    built = websocket_protocol()
    assert callable(built)

    async def upgrade() -> object:  # uvicorn builds it on the server's loop
        return built(config=config, server_state=ServerState(), app_state={})

    protocol = asyncio.run(upgrade())
    assert AutoWebSocketsProtocol is not None and type(protocol) is AutoWebSocketsProtocol


def test_a_broken_websocket_install_fails_every_upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    built = websocket_protocol()
    assert callable(built)
    monkeypatch.setitem(sys.modules, "uvicorn.protocols.websockets.auto", None)  # "import" raises
    for _ in range(2):
        with pytest.raises(ImportError):
            built(config=None, server_state=None, app_state={})


def test_without_a_websocket_library_uvicorn_decides_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert websocket_protocol() == "auto"
