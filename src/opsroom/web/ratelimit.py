"""Sign-in attempts, rate limited per client address and per user name (in memory: a
restart forgets, which only ever loosens the limit for a moment)."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class AttemptLimiter:
    def __init__(
        self, *, per_address: int = 20, per_user: int = 5, window: float = 300.0, clock: object = time.monotonic
    ) -> None:
        self.per_address = per_address
        self.per_user = per_user
        self.window = window
        self._clock = clock
        self._address: dict[str, deque[float]] = defaultdict(deque)
        self._user: dict[str, deque[float]] = defaultdict(deque)

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def retry_after(self, address: str, user: str) -> float:
        """Seconds to wait before another attempt is allowed; 0 when it is allowed now."""
        now = self._now()
        waits = [0.0]
        checks = ((self._address[address], self.per_address), (self._user[user.lower()], self.per_user))
        for q, limit in checks:
            self._trim(q, now)
            if len(q) >= limit:
                waits.append(q[0] + self.window - now)
        return max(waits)

    def attempt(self, address: str) -> None:
        """Every attempt counts against the address."""
        self._address[address].append(self._now())

    def failed(self, user: str) -> None:
        """Only failures count against the user name (so a typo does not lock them out for long)."""
        self._user[user.lower()].append(self._now())

    def succeeded(self, user: str) -> None:
        self._user.pop(user.lower(), None)
