"""Flapping: an alert that changes state more than N times in a window is held — shown as
flapping on its group's message — instead of posting every flip."""

from __future__ import annotations

from typing import Sequence

from opsroom.config.alerts import FlappingConfig


def record_change(changes: Sequence[float], now: float, window: float, limit: int = 50) -> list[float]:
    """The recent state-change times (epoch seconds) with ``now`` added, older ones dropped."""
    kept = [t for t in changes if t > now - window]
    kept.append(now)
    return kept[-limit:]


def is_flapping(changes: Sequence[float], now: float, cfg: FlappingConfig) -> bool:
    return sum(1 for t in changes if t > now - cfg.window) >= cfg.max_changes


def has_settled(changes: Sequence[float], now: float, cfg: FlappingConfig) -> bool:
    """A flapping alert settles once fewer than half the threshold changes remain in the
    window; the gap between the two thresholds keeps it from toggling on every flip."""
    return sum(1 for t in changes if t > now - cfg.window) < max(1, cfg.max_changes // 2)
