"""Bounded in-process duplicate suppression for platform deliveries."""

from __future__ import annotations

from collections import OrderedDict


class SeenSet:
    """Recently handled delivery ids, bounded; cheap in-process duplicate suppression in
    front of the engine's durable ``processed_events`` check."""

    def __init__(self, size: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, delivery_id: str) -> bool:
        return delivery_id in self._ids

    def add(self, delivery_id: str) -> bool:
        """True the first time ``delivery_id`` is added."""
        if delivery_id in self._ids:
            return False
        self._ids[delivery_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True
