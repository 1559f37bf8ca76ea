"""The built-in web chat: the embedded default's chat platform (see docs/webchat.md)."""

from opsroom.chat.web.adapter import WebChatAdapter, WebChatError, build_web_adapter

__all__ = ["WebChatAdapter", "WebChatError", "build_web_adapter"]
