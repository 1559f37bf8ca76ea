"""The Slack adapter, split by job:

- ``adapter``: lifecycle, HTTP routes, and everything opsroom posts or edits;
- ``inbound``: slash commands, mentions, messages and clicks turned into engine events;
- ``workspaces``: which workspace a place is in and the client (token) that speaks there —
  one bot token from the config, or every workspace that installed the app (OAuth);
- ``install``: the OAuth install flow's stores, in opsroom's database (``tables``);
- ``catchup``: messages typed while the Socket Mode socket was down, fetched again;
- ``modal``: the Deny button's reason dialog.

Importing this package loads no Slack SDK (``opsroom.store.schema`` imports ``tables``); the
adapter is imported on first use of ``SlackAdapter`` / ``build_slack_adapter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsroom.chat.slack.adapter import SlackAdapter, build_slack_adapter

__all__ = ["SlackAdapter", "build_slack_adapter"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from opsroom.chat.slack import adapter

        return getattr(adapter, name)
    raise AttributeError(name)
