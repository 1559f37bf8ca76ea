"""The data shapes (``components.schemas``) of the OpenAPI description in ``openapi.py``:
what each JSON answer of ``api.py`` holds. Kept apart from the paths so each file reads as
one job: here the records, there the endpoints."""

from __future__ import annotations

from typing import Any

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
            "also_channel": {
                "type": "boolean",
                "default": False,
                "description": "With `thread`: show the reply in the channel too, marked as a thread reply "
                'that links to it (Slack\'s "Also send to channel").',
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
