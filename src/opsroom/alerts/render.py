"""Alert groups, digests and listings as platform-neutral ``Message``s. Pure functions: the
service gathers a ``GroupView`` from the store and a ``mint`` for button ids, and gets back a
message every adapter can render."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from opsroom.clock import short as fmt_duration
from opsroom.config.alerts import DiagnosticButton
from opsroom.core import Actions, Button, Context, Fields, Message, Principal, Section
from opsroom.core.message import Tone

Mint = Callable[[str, Mapping[str, Any]], str]

MAX_LISTED = 10
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@-]{1,100}$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ICON = {"firing": "🔥", "resolved": "✅", "flapping": "〰", "muted": "🔕"}


def fmt_time(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class AlertView:
    fingerprint: str
    alertname: str
    status: str
    severity: str
    summary: str
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    starts_at: dt.datetime | None = None
    flapping: bool = False
    muted: bool = False
    generator_url: str = ""
    runbook: str = ""


@dataclass(frozen=True)
class GroupView:
    id: int
    title: str
    status: str
    severity: str
    channel_name: str
    labels: Mapping[str, str]
    source: str
    source_type: str
    alerts: Sequence[AlertView]  # the first few, firing first
    firing: int
    resolved: int
    created_at: dt.datetime
    acked_by: str | None = None
    acked_at: dt.datetime | None = None
    silenced_until: dt.datetime | None = None
    flapping: bool = False
    muted: int = 0

    @property
    def total(self) -> int:
        return self.firing + self.resolved

    @property
    def common_labels(self) -> dict[str, str]:
        if not self.alerts:
            return dict(self.labels)
        common = dict(self.alerts[0].labels)
        for alert in self.alerts[1:]:
            common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
        return {**common, **{k: v for k, v in self.labels.items() if v}}

    @property
    def runbook(self) -> str:
        return next((a.runbook for a in self.alerts if a.runbook), "")


def diagnostic_command(template: str, labels: Mapping[str, str]) -> str | None:
    """``logs {service}`` with service=payments → ``logs payments``; None if a label is missing
    or its value is not a plain token (a label must never smuggle extra arguments in)."""
    names = _PLACEHOLDER.findall(template)
    values = {}
    for name in names:
        value = labels.get(name, "")
        if not SAFE_VALUE.match(value):
            return None
        values[name] = value
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _tone(view: GroupView) -> Tone:
    if view.status == "resolved":
        return "success"
    if view.acked_by or view.silenced_until:
        return "info"
    if view.severity in ("critical", "page", "high", "error"):
        return "failure"
    if view.severity in ("warning", "medium"):
        return "warning"
    return "info"


def headline(view: GroupView) -> str:
    if view.status == "resolved":
        state = "RESOLVED"
    else:
        state = f"FLAPPING:{view.firing}" if view.flapping else f"FIRING:{view.firing}"
    return f"[{state}] {view.title}"


def render_group(
    view: GroupView,
    *,
    mint: Mint,
    now: dt.datetime,
    silence_durations: Sequence[float] = (3600.0, 14400.0),
    diagnostics: Sequence[DiagnosticButton] = (),
    local_runbooks: bool = False,
    mentions: Sequence[Principal] = (),
) -> Message:
    firing = view.status == "firing"
    icon = ICON["flapping"] if view.flapping and firing else ICON[view.status if view.status in ICON else "firing"]
    state = "RESOLVED" if not firing else "FLAPPING" if view.flapping else "FIRING"
    blocks: list[Any] = [Section(f"{icon} *{state}* — *{view.title}*")]
    fields: list[tuple[str, str]] = [("Severity", view.severity)]
    count = f"{view.firing} firing" + (f", {view.resolved} resolved" if view.resolved else "")
    fields.append(("Alerts", count))
    for key, value in view.labels.items():
        if value and key not in ("alertname", "severity"):
            fields.append((key, value))
    fields.append(("Since", fmt_time(view.created_at)))
    blocks.append(Fields(tuple(fields)))
    description = next((a.description for a in view.alerts if a.description), "")
    if description:
        blocks.append(Section(description[:500]))
    if view.total > 1 or any(a.flapping for a in view.alerts):
        lines = []
        for alert in view.alerts[:MAX_LISTED]:
            mark = (
                ICON["flapping"] if alert.flapping else ICON["muted"] if alert.muted else ICON.get(alert.status, "🔥")
            )
            distinct = " ".join(
                f"{k}={v}"
                for k, v in alert.labels.items()
                if k not in view.labels and k not in ("alertname", "severity")
            )[:120]
            suffix = " (flapping)" if alert.flapping else ""
            lines.append(f"{mark} {alert.summary}" + (f" `{distinct}`" if distinct else "") + suffix)
        more = view.total - min(len(view.alerts), MAX_LISTED)
        if more > 0:
            lines.append(f"…and {more} more")
        blocks.append(Section("\n".join(lines)))
    notes = [f"group #{view.id}", view.source]
    if view.acked_by:
        notes.append(f"acked by {view.acked_by}" + (f" at {fmt_time(view.acked_at)}" if view.acked_at else ""))
    if view.silenced_until and view.silenced_until > now:
        notes.append(f"silenced until {fmt_time(view.silenced_until)}")
    if view.flapping:
        notes.append("flapping: updates held")
    blocks.append(Context(" · ".join(notes)))
    buttons: list[Button] = []
    if firing:
        if not view.acked_by:
            buttons.append(
                Button("Ack", mint("alert.ack", {"group": view.id}), style="primary", fallback=f"/ack {view.id}")
            )
        if not (view.silenced_until and view.silenced_until > now):
            for seconds in silence_durations:
                label = fmt_duration(seconds)
                buttons.append(
                    Button(
                        f"Silence {label}",
                        mint("alert.silence", {"group": view.id, "seconds": int(seconds)}),
                        fallback=f"/silence {view.id} {label}",
                    )
                )
    runbook = view.runbook
    if runbook.startswith(("http://", "https://")):
        buttons.append(Button("Runbook", "", url=runbook))
    elif runbook and local_runbooks:
        buttons.append(Button("Runbook", mint("alert.runbook", {"group": view.id, "name": runbook})))
    if firing:
        common = view.common_labels
        for diag in diagnostics:
            text = diagnostic_command(diag.command, common)
            if text:
                buttons.append(Button(diag.label, mint("command.run", {"text": text}), fallback=f"/{text}"))
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    return Message(text=headline(view), blocks=tuple(blocks), tone=_tone(view), mentions=tuple(mentions))


def render_changes(view: GroupView, lines: Sequence[str]) -> Message:
    """A thread reply listing what changed since the message was last edited."""
    text = f"{headline(view)}\n" + "\n".join(lines)
    return Message(
        text=lines[0] if len(lines) == 1 else f"{len(lines)} changes",
        blocks=(Section(text),),
        tone="success" if view.status == "resolved" else "info",
    )


@dataclass(frozen=True)
class DigestLine:
    group_id: int
    title: str
    status: str
    severity: str
    firing: int


def render_digest(
    channel_name: str,
    lines: Sequence[DigestLine],
    *,
    total: int,
    firing: int,
    scheduled: bool,
    window: float = 0.0,
) -> Message:
    """One message standing for many groups: the storm digest (kept up to date while a
    channel is over its budget) or the scheduled digest of low-severity groups."""
    if scheduled:
        head = f"📋 *Alert digest for {channel_name}*: {total} low-severity group(s)"
    else:
        head = (
            f"🌩 *Alert storm in {channel_name}*: {total} more group(s) collapsed here "
            f"({firing} firing) — the channel is over its budget of posts per {fmt_duration(window)}"
        )
    shown = []
    for line in lines[:15]:
        mark = ICON["resolved"] if line.status == "resolved" else ICON["firing"]
        shown.append(f"{mark} #{line.group_id} {line.title} ({line.severity}, {line.firing} firing)")
    if total > len(shown):
        shown.append(f"…and {total - len(shown)} more — `/alerts {channel_name}` lists them")
    blocks = (
        Section(head),
        Section("\n".join(shown) or "nothing firing"),
        Context("ack or silence one with /ack <id>, /silence <id> 1h"),
    )
    tone: Tone = "info" if scheduled else "warning"
    return Message(text=head.replace("*", ""), blocks=blocks, tone=tone)
