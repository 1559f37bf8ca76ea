"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (a Starlette app under
uvicorn in a thread). Each request takes the next scripted reply: tool calls (including
hostile ones) or text, or a stall longer than the client's timeout. It enforces what the real
servers do that we rely on: a bearer key (401 otherwise), a JSON body with ``model`` and
``messages``, and tool definitions in the documented ``{"type": "function", "function": {…}}``
shape (400 otherwise). Replies follow the documented ``chat.completion`` object: ``choices[0].
message.tool_calls[i].function.arguments`` is a JSON *string*, and ``usage`` counts tokens.
(platform.openai.com/docs/api-reference/chat/create; vLLM, Ollama and llama.cpp's server
answer the same shape.)"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY = "sk-test-" + "k" * 24


def call(name: str, arguments: Any, call_id: str = "call_1") -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


@dataclass
class Script:
    # each: {"tool_calls": [...]} | {"content": "…"} | {"stall": seconds}
    replies: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens_per_reply: int = 100


def _app(script: Script) -> Starlette:
    async def completions(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        body = await request.json()
        if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return JSONResponse({"error": {"message": "model and messages are required"}}, status_code=400)
        for tool in body.get("tools", []):
            if tool.get("type") != "function" or "name" not in tool.get("function", {}):
                return JSONResponse({"error": {"message": "invalid tools"}}, status_code=400)
        script.requests.append(body)
        reply = script.replies.pop(0) if script.replies else {"content": "I have nothing more to say."}
        if "stall" in reply:
            await asyncio.sleep(reply["stall"])
            reply = {"content": "too late"}
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        if reply.get("tool_calls"):
            message["tool_calls"] = reply["tool_calls"]
        half = script.tokens_per_reply // 2
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(script.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": half,
                    "completion_tokens": script.tokens_per_reply - half,
                    "total_tokens": script.tokens_per_reply,
                },
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    """Serve ``script``; yields the base URL (``http://127.0.0.1:PORT/v1``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app(script), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
