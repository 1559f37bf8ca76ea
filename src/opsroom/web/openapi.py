"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

Written by hand next to the handlers in ``api.py``; tests run schemathesis against it, so a
handler that answers something the spec does not describe fails the build.
"""

from __future__ import annotations

from typing import Any

from opsroom import __version__
from opsroom.web.openapi_schemas import CURSOR, RUN_STATES, SCHEMAS


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input (a malformed cursor, limit, query or body)",
        401: "No token, or a token that is not valid",
        403: "Not allowed for this user",
        404: "No such thing that this user can see",
        413: "Body too large",
        503: "opsroom is starting",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _page(name: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [name, "next_cursor"],
        "properties": {name: {"type": "array", "items": _ref(item)}, "next_cursor": CURSOR},
    }


LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
}
CHANNEL = {
    "name": "channel",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A channel id from /api/channels (`ops`, `dm:alice`).",
}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "opsroom API",
            "version": __version__,
            "description": "Post into the web chat as a user, read channels, runs, approvals and the audit "
            "trail. Every call needs `Authorization: Bearer <token>` from "
            "`opsroom token create --user NAME`.",
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "security": [{"token": []}],
        "paths": {
            "/api/me": {
                "get": {
                    "operationId": "me",
                    "summary": "Who the token belongs to",
                    "responses": {"200": _json(_ref("Me"), "The token's user"), **_errors(401)},
                }
            },
            "/api/channels": {
                "get": {
                    "operationId": "listChannels",
                    "summary": "Channels you belong to, and your DM",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["channels"],
                                "properties": {"channels": {"type": "array", "items": _ref("Channel")}},
                            },
                            "Channels",
                        ),
                        **_errors(401, 404),
                    },
                }
            },
            "/api/channels/{channel}/messages": {
                "get": {
                    "operationId": "readMessages",
                    "summary": "Messages of a channel, oldest first, after a cursor",
                    "parameters": [
                        CHANNEL,
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,16}$"},
                            "description": "next_cursor of the previous page; omit to start at the start.",
                        },
                        LIMIT,
                    ],
                    "responses": {
                        "200": _json(_page("messages", "ChatMessage"), "A page of messages"),
                        **_errors(400, 401, 404),
                    },
                },
                "post": {
                    "operationId": "postMessage",
                    "summary": "Post as the token's user (commands run as in chat)",
                    "parameters": [CHANNEL],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewMessage")}},
                    },
                    "responses": {
                        "201": _json(_ref("ChatMessage"), "Posted; the bot answers in the channel"),
                        **_errors(400, 401, 404, 413, 503),
                    },
                },
            },
            "/api/actions": {
                "post": {
                    "operationId": "clickButton",
                    "summary": "Click a button of a bot message",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Click")}},
                    },
                    "responses": {
                        "202": _json(
                            {"type": "object", "properties": {"accepted": {"type": "boolean"}}},
                            "Handed to opsroom; the answer comes in the channel",
                        ),
                        **_errors(400, 401, 404, 413, 503),
                    },
                }
            },
            "/api/check": {
                "post": {
                    "operationId": "checkCommand",
                    "summary": "What would happen if you typed a command (nothing is run)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["text"],
                                    "properties": {
                                        "text": {"type": "string", "minLength": 1, "maxLength": 4000, "pattern": "\\S"},
                                        "channel": {"type": "string", "minLength": 1, "maxLength": 200},
                                        "platform": {"type": "string", "minLength": 1, "maxLength": 50},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "outcome": {"enum": ["allow", "deny", "frozen", "limited", "locked", "error"]},
                                    "parsed": {"type": "string"},
                                    "error": {"type": "string"},
                                    "reason": {"type": "string"},
                                    "rules": {"type": "array", "items": {"type": "string"}},
                                    "needs": {"type": "array", "items": {"type": "string"}},
                                    "notes": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "The verdict of the same pipeline steps chat runs",
                        ),
                        **_errors(400, 401, 413),
                    },
                }
            },
            "/api/runs": {
                "get": {
                    "operationId": "listRuns",
                    "summary": "Runs you can see, newest first",
                    "parameters": [{"name": "state", "in": "query", "schema": {"enum": RUN_STATES}}]
                    + [
                        {"name": n, "in": "query", "schema": {"type": "string", "maxLength": 200}}
                        for n in ("command", "user", "channel")
                    ]
                    + [
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,16}$"},
                        },
                        LIMIT,
                    ],
                    "responses": {
                        "200": _json(_page("runs", "Run"), "A page of runs"),
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/api/runs/{run_id}": {
                "get": {
                    "operationId": "getRun",
                    "summary": "One run",
                    "parameters": [RUN_ID],
                    "responses": {"200": _json(_ref("Run"), "The run"), **_errors(401, 403, 404)},
                }
            },
            "/api/runs/{run_id}/output": {
                "get": {
                    "operationId": "getRunOutput",
                    "summary": "A run's output (live while it runs)",
                    "parameters": [RUN_ID],
                    "responses": {"200": _json(_ref("RunOutput"), "The output"), **_errors(401, 403, 404)},
                }
            },
            "/api/approvals": {
                "get": {
                    "operationId": "listApprovals",
                    "summary": "Runs waiting for you, and your own waiting runs",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["waiting_for_me", "mine"],
                                "properties": {
                                    "waiting_for_me": {"type": "array", "items": _ref("Approval")},
                                    "mine": {"type": "array", "items": _ref("Approval")},
                                },
                            },
                            "Approvals",
                        ),
                        **_errors(401, 403),
                    },
                }
            },
            "/api/audit": {
                "get": {
                    "operationId": "searchAudit",
                    "summary": "Search the audit trail (same language as /audit)",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 1000},
                            "description": "e.g. `deploy user:alice since yesterday`",
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,16}$"},
                        },
                        LIMIT,
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["query", "entries", "next_cursor"],
                                "properties": {
                                    "query": {"type": "string"},
                                    "entries": {"type": "array", "items": _ref("AuditEntry")},
                                    "next_cursor": CURSOR,
                                },
                            },
                            "Entries, newest first",
                        ),
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/api/audit/export": {
                "get": {
                    "operationId": "exportAudit",
                    "summary": "Export the audit entries you may see as JSON Lines, oldest first, hashes included",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 1000},
                            "description": "the same language as /audit; empty exports everything you may see",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "One AuditEntry (with prev_hash) per line",
                            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                        },
                        **_errors(400, 401, 403),
                    },
                }
            },
        },
    }
