"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

Written by hand next to the handlers in ``api.py``; tests run schemathesis against it, so a
handler that answers something the spec does not describe fails the build.
"""

from __future__ import annotations

from typing import Any

from opsroom import __version__

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}
CURSOR = {
    "type": ["string", "null"],
    "description": "Pass back as the cursor parameter for the next page; null at the end.",
}

RUN_STATES = [
    "awaiting_confirmation",
    "awaiting_approval",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "interrupted",
    "denied",
    "expired",
]

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Me": {
        "type": "object",
        "required": ["user", "display_name", "roles"],
        "properties": {
            "user": {"type": "string"},
            "display_name": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Channel": {
        "type": "object",
        "required": ["id", "name", "description"],
        "properties": {
            "id": {
                "type": "string",
                "description": "Used in URLs: `ops`, or `dm:alice` for your DM with the bot.",
            },
            "name": {"type": "string", "description": "`#ops`, or `dm`."},
            "description": {"type": "string"},
        },
    },
    "Button": {
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "action_id": {"type": "string", "description": "Post it to /api/actions to click."},
            "style": {"enum": ["default", "primary", "danger"]},
            "fallback": {"type": "string"},
            "url": {"type": "string"},
        },
    },
    "Block": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"enum": ["section", "fields", "code", "context", "actions"]},
            "text": {"type": "string"},
            "language": {"type": "string"},
            "items": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
            "buttons": {"type": "array", "items": {"$ref": "#/components/schemas/Button"}},
        },
    },
    "RichMessage": {
        "type": "object",
        "required": ["text", "tone", "blocks", "mentions"],
        "properties": {
            "text": {"type": "string"},
            "tone": {"enum": ["info", "running", "success", "failure", "warning", "denied"]},
            "blocks": {"type": "array", "items": {"$ref": "#/components/schemas/Block"}},
            "mentions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ChatMessage": {
        "type": "object",
        "required": ["id", "channel", "sender", "is_bot", "text", "created_at", "version"],
        "properties": {
            "id": {"type": "integer"},
            "channel": {"type": "string"},
            "thread": {"type": ["integer", "null"]},
            "sender": {"type": "string"},
            "is_bot": {"type": "boolean"},
            "text": {
                "type": "string",
                "description": "What a person typed, or the bot message's one-line summary.",
            },
            "message": {"oneOf": [{"$ref": "#/components/schemas/RichMessage"}, {"type": "null"}]},
            "created_at": TIME,
            "edited_at": NULLABLE_TIME,
            "version": {
                "type": "integer",
                "description": "Goes up with every edit (a run's progress message).",
            },
            "only_you": {"type": "boolean"},
        },
    },
    "NewMessage": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4000,
                "description": "As typed in chat: `/deploy api-gateway staging`, or any text.",
            },
            "thread": {
                "type": "integer",
                "minimum": 1,
                "description": "Reply in the thread of this message.",
            },
        },
    },
    "Click": {
        "type": "object",
        "additionalProperties": False,
        "required": ["message_id", "action_id"],
        "properties": {
            "message_id": {"type": "integer", "minimum": 1},
            "action_id": {"type": "string", "minLength": 1},
        },
    },
    "Run": {
        "type": "object",
        "required": ["id", "command", "state", "user"],
        "properties": {
            "id": {"type": "integer"},
            "command": {"type": "string"},
            "args": {"type": "object"},
            "raw_text": {"type": "string"},
            "user": {"type": "string"},
            "platform": {"type": "string"},
            "channel": {"type": "string"},
            "state": {
                "enum": [
                    "awaiting_confirmation",
                    "awaiting_approval",
                    "queued",
                    "running",
                    "succeeded",
                    "failed",
                    "cancelled",
                    "timed_out",
                    "interrupted",
                    "denied",
                    "expired",
                ]
            },
            "dry_run": {"type": "boolean"},
            "created_at": TIME,
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
            "exit_code": {"type": ["integer", "null"]},
            "duration_s": {"type": ["number", "null"]},
            "result": {"type": "string"},
            "error": {"type": "string"},
        },
    },
    "RunOutput": {
        "type": "object",
        "required": ["run_id", "state", "output", "truncated"],
        "properties": {
            "run_id": {"type": "integer"},
            "state": {"type": "string"},
            "output": {"type": "string"},
            "truncated": {"type": "boolean"},
        },
    },
    "Approval": {
        "type": "object",
        "properties": {
            "run_id": {"type": "integer"},
            "kind": {"enum": ["approval", "confirmation"]},
            "command": {"type": "string"},
            "raw_text": {"type": "string"},
            "requester": {"type": "string"},
            "channel": {"type": "string"},
            "created_at": TIME,
            "expires_at": TIME,
        },
    },
    "AuditEntry": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "ts": TIME,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "command": {"type": "string"},
            "platform": {"type": "string"},
            "channel": {"type": "string"},
            "run_id": {"type": ["integer", "null"]},
            "summary": {"type": "string"},
            "detail": {"type": "object"},
            "hash": {"type": "string"},
        },
    },
}


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
