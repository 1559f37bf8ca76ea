"""The per-channel message budget: at most N new top-level posts per window. Past it, new
groups are collapsed into a digest instead of being dropped — a storm stays readable and no
alert is lost."""

from __future__ import annotations

from collections import deque


class ChannelBudget:
    def __init__(self, max_messages: int, window: float) -> None:
        self.max_messages = max_messages
        self.window = window
        self._posts: dict[str, deque[float]] = {}

    def _trim(self, channel: str, now: float) -> deque[float]:
        posts = self._posts.setdefault(channel, deque())
        while posts and posts[0] <= now - self.window:
            posts.popleft()
        return posts

    def remaining(self, channel: str, now: float) -> int:
        return max(0, self.max_messages - len(self._trim(channel, now)))

    def take(self, channel: str, now: float) -> bool:
        """Spend one post if the budget allows it; False means "collapse into the digest"."""
        posts = self._trim(channel, now)
        if len(posts) >= self.max_messages:
            return False
        posts.append(now)
        return True

    def clear(self) -> None:
        self._posts.clear()

    def record(self, channel: str, when: float) -> None:
        """Count a post made earlier (restoring the window after a restart)."""
        posts = self._posts.setdefault(channel, deque())
        posts.append(when)
        if len(posts) > 1 and posts[-2] > when:
            self._posts[channel] = deque(sorted(posts))
