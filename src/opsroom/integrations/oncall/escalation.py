"""Escalation chains: if nobody acks within N minutes, notify the next level; run the chain
again up to ``repeat`` times. Pure: the alert service keeps the position and the clock."""

from __future__ import annotations

from dataclasses import dataclass

from opsroom.config.oncall import EscalationPolicyConfig


@dataclass(frozen=True)
class Step:
    after: float
    notify: tuple[str, ...]
    dm: bool = False


@dataclass(frozen=True)
class EscalationPolicy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0

    @classmethod
    def from_config(cls, name: str, cfg: EscalationPolicyConfig) -> EscalationPolicy:
        return cls(name, tuple(Step(s.after, tuple(s.notify), s.dm) for s in cfg.steps), cfg.repeat)

    @property
    def total(self) -> int:
        """How many notifications the whole chain makes, repeats included."""
        return len(self.steps) * (self.repeat + 1)

    def step(self, position: int) -> Step | None:
        """The step at ``position`` (counting across repeats), or None past the end."""
        if position < 0 or position >= self.total:
            return None
        return self.steps[position % len(self.steps)]

    def round_of(self, position: int) -> int:
        return position // len(self.steps) + 1
