"""A real opsroom (bundled demo config, web chat adapter) served by uvicorn on 127.0.0.1,
and a ``Browser`` helper that signs in and talks to it like the web page does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from tests.support.system import demo_data, make_system

from opsroom.chat.web import WebChatAdapter
from opsroom.web.app import build_app


class Browser:
    """One signed-in person (their own cookie jar)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10)
        self.csrf = ""

    async def sign_in(self, user: str, password: str = "") -> httpx.Response:
        page = await self.http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        response = await self.http.post(
            "/login", data={"username": user, "password": password, "csrf": token.group(1), "next": "/chat"}
        )
        if response.status_code == 303:
            chat = await self.http.get("/chat/ops")
            found = re.search(r'data-csrf="([^"]+)"', chat.text)
            if found:
                self.csrf = found.group(1)
            else:  # not a member of #ops: take the token from the DM page
                dm = await self.http.get(f"/chat/dm:{user}")
                self.csrf = re.search(r'data-csrf="([^"]+)"', dm.text).group(1)  # type: ignore[union-attr]
        return response

    async def post(self, channel: str, text: str, **extra: Any) -> httpx.Response:
        return await self.http.post(
            f"/chat/{channel}/messages", json={"text": text, **extra}, headers={"X-CSRF-Token": self.csrf}
        )

    async def click(self, message_id: int, action_id: str, reason: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"message": message_id, "action": action_id}
        if reason is not None:
            body["reason"] = reason
        return await self.http.post("/chat/actions", json=body, headers={"X-CSRF-Token": self.csrf})

    async def history(self, channel: str, **params: Any) -> list[dict[str, Any]]:
        """A page of the channel (top level, as the channel view shows it)."""
        response = await self.http.get(f"/chat/{channel}/history", params=params)
        assert response.status_code == 200, response.text
        return response.json()["messages"]  # type: ignore[no-any-return]

    async def thread(self, channel: str, parent: int) -> list[dict[str, Any]]:
        """A thread as its pane shows it: the parent, then its replies."""
        response = await self.http.get(f"/chat/{channel}/thread/{parent}")
        assert response.status_code == 200, response.text
        return response.json()["messages"]  # type: ignore[no-any-return]

    async def everything(self, channel: str) -> list[dict[str, Any]]:
        """Every message this person sees in the channel, threads included, oldest first."""
        seen: dict[int, dict[str, Any]] = {}
        for top in await self.history(channel):
            for m in await self.thread(channel, top["id"]):
                seen[m["id"]] = m
        return [seen[k] for k in sorted(seen)]

    @contextlib.asynccontextmanager
    async def live(self, channel: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Collects every live event of a channel while open."""
        events: list[dict[str, Any]] = []
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        url = self.base.replace("http://", "ws://") + f"/chat/ws?channel={channel}"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:

            async def pump() -> None:
                async for raw in ws:
                    events.append(json.loads(raw))

            task = asyncio.create_task(pump())
            await asyncio.sleep(0.05)
            try:
                yield events
            finally:
                task.cancel()

    async def close(self) -> None:
        await self.http.aclose()


async def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


class Served:
    def __init__(self, system: Any, base: str) -> None:
        self.system = system
        self.base = base
        self.adapter: WebChatAdapter = system.chat.adapters["web"]
        self._browsers: list[Browser] = []

    async def browser(self, user: str | None = None, password: str = "") -> Browser:
        b = Browser(self.base)
        self._browsers.append(b)
        if user:
            response = await b.sign_in(user, password)
            assert response.status_code == 303, response.text
        return b

    async def close(self) -> None:
        for b in self._browsers:
            await b.close()


@contextlib.asynccontextmanager
async def serve(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any] | None = None
) -> AsyncIterator[Served]:
    system, _ = make_system(tmp_path, db_url, data, adapter=WebChatAdapter(), monkeypatch=monkeypatch)  # type: ignore[arg-type]
    app = build_app(system)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="websockets-sansio",
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    served = Served(system, f"http://127.0.0.1:{port}")
    try:
        yield served
    finally:
        await served.close()
        server.should_exit = True
        await task
        system.db.dispose()


@pytest.fixture
async def web(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    async with serve(tmp_path, db_url, monkeypatch) as served:
        yield served


__all__ = ["Browser", "Served", "demo_data", "serve", "wait_for"]


class ThreadedServer:
    """The same app served from its own thread and event loop, for synchronous clients
    (schemathesis, Playwright's sync API)."""

    def __init__(self, app: Any) -> None:
        import threading

        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=0,
                log_config=None,
                access_log=False,
                lifespan="on",
                ws="websockets-sansio",
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="opsroom-test-server", daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def threaded_system(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """(system, app) for a ThreadedServer."""
    system, _ = make_system(tmp_path, db_url, data, adapter=WebChatAdapter(), monkeypatch=monkeypatch)  # type: ignore[arg-type]
    return system, build_app(system)
