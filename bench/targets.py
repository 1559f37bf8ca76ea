"""Every performance target of issue 14 in one run: runs the bench scripts one after the
other (never two at once, so they do not slow each other down), reads their figures and
prints one table — figure, target, today's value, met or not.

    .venv/bin/python bench/targets.py                     # everything, ≈ 6 minutes on 2 cores
    .venv/bin/python bench/targets.py --only dispatch,alerts
    .venv/bin/python bench/targets.py --peers ../shared/peers/run.sh   # errbot/opsdroid/hubot too

Each script's own output is shown as it runs (it is the place to read details); the table at
the end is read from those lines. The figures are wall-clock on whatever machine runs this:
run it on a quiet one, and look at the load average printed with the table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PY = sys.executable


@dataclass(frozen=True)
class Target:
    label: str
    goal: float
    unit: str
    higher_is_better: bool = True

    def met(self, value: float) -> bool:
        return value >= self.goal if self.higher_is_better else value <= self.goal


def run(argv: list[str], timeout: float = 1800) -> str:
    """Run one bench script, echo its output, return it."""
    print(f"\n$ {' '.join(argv)}", flush=True)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return done.stdout


def number(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1).replace(",", "")) if found else None


def dispatch() -> dict[str, float | None]:
    out = run([PY, str(BENCH / "dispatch.py"), "--n", "2000", "--concurrency", "1,20", "--no-startup", "--repeat", "2"])

    def rate(backend: str, conc: int) -> float | None:
        return number(rf"^{backend}\s+{conc}\s+\d+\s+([\d.]+)", out)

    return {
        "sqlite1": rate("sqlite", 1),
        "sqlite1_p99": number(r"^sqlite\s+1\s+\d+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out),
        "sqlite20": rate("sqlite", 20),
        "pg20": rate("postgresql", 20),
    }


def policy() -> dict[str, float | None]:
    chat = run([PY, str(BENCH / "policy.py"), "20000", "--chat-like"])
    uniform = run([PY, str(BENCH / "policy.py"), "20000"])
    mean = r"^after: decide\(\) with the cache\s+[\d,]+ decisions/s\s+mean\s+([\d.]+)"
    return {"cedar_chat": number(mean, chat), "cedar_uniform": number(mean, uniform)}


def alerts() -> dict[str, float | None]:
    out = run([PY, str(BENCH / "alerts.py"), "--only", "distinct,alertmanager,storm-health"])
    return {
        "alerts": number(r"^distinct:.*?= ([\d,]+) alerts/s", out),
        "alerts_ratio": number(r"ratio opsroom / Alertmanager: ([\d.]+)x", out),
        "healthz_p99": number(r"/healthz while sending: .*?p99 ([\d.]+) ms", out),
    }


def audit() -> dict[str, float | None]:
    out = run([PY, str(BENCH / "audit.py"), "--sizes", "1000000"])
    return {
        "audit_sqlite": number(r"^sqlite\s+1,000,000 rows .*?p95\s+([\d.]+) ms", out),
        "audit_pg": number(r"^postgresql\s+1,000,000 rows .*?p95\s+([\d.]+) ms", out),
    }


def startup() -> dict[str, float | None]:
    out = run([PY, str(BENCH / "startup.py")])
    return {
        "ready": number(r"ready ([\d.]+) s", out),
        "rss": number(r"idle RSS ([\d.]+) MiB", out),
    }


def webchat() -> dict[str, float | None]:
    out = run([PY, str(BENCH / "webchat.py"), "--clients", "200", "--seconds", "20", "--command", "ping hello"])
    return {"webchat_p99": number(r"p99 ([\d.]+) ms", out)}


def peers(script: str) -> dict[str, float | None]:
    """Median commands/s of each peer's trivial-command benchmark (errbot, opsdroid, hubot)."""
    out = run(["bash", script], timeout=900)
    figures: dict[str, float | None] = {}
    for name in ("errbot", "opsdroid", "hubot"):
        rates = [float(r) for r in re.findall(rf"{name}-seq\s+RESULT .*?cmds_per_s['\"]?:\s*([\d.]+)", out)]
        figures[name] = statistics.median(rates) if rates else None
    return figures


TARGETS: dict[str, Target] = {
    "sqlite1": Target("dispatch, SQLite, one at a time", 2500, "cmd/s"),
    "sqlite1_p99": Target("dispatch, SQLite, one at a time, p99", 5, "ms", higher_is_better=False),
    "sqlite20": Target("dispatch, SQLite, 20 at once", 4000, "cmd/s"),
    "pg20": Target("dispatch, PostgreSQL, 20 at once", 2000, "cmd/s"),
    "cedar_chat": Target("Cedar decide(), chat-like traffic, mean", 20, "µs", higher_is_better=False),
    "cedar_uniform": Target("Cedar decide(), uniform traffic, mean", 20, "µs", higher_is_better=False),
    "alerts": Target("alerts accepted, 50k distinct in 500 groups", 16000, "alerts/s"),
    "alerts_ratio": Target("alerts, ratio to Alertmanager (same run)", 0.5, "×"),
    "healthz_p99": Target("/healthz p99 during a 10,000-alert storm", 100, "ms", higher_is_better=False),
    "audit_sqlite": Target("audit search p95 at 1M, SQLite", 50, "ms", higher_is_better=False),
    "audit_pg": Target("audit search p95 at 1M, PostgreSQL", 50, "ms", higher_is_better=False),
    "ready": Target("`opsroom run` demo ready", 0.7, "s", higher_is_better=False),
    "rss": Target("`opsroom run` demo idle RSS", 70, "MiB", higher_is_better=False),
    "webchat_p99": Target("web chat p99, 200 clients running `ping`", 50, "ms", higher_is_better=False),
}

SUITES: dict[str, Callable[[], dict[str, float | None]]] = {
    "dispatch": dispatch,
    "policy": policy,
    "alerts": alerts,
    "audit": audit,
    "startup": startup,
    "webchat": webchat,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SUITES), help=f"comma-separated: {','.join(SUITES)}")
    ap.add_argument("--peers", default="", help="path of the peers' run.sh (errbot, opsdroid, hubot)")
    args = ap.parse_args()
    figures: dict[str, float | None] = {}
    loads = [os.getloadavg()[0]]
    for name in args.only.split(","):
        figures.update(SUITES[name]())
        loads.append(os.getloadavg()[0])
    if args.peers and shutil.which("bash"):
        figures.update(peers(args.peers))
    print(f"\nload average while measuring: {min(loads):.1f}–{max(loads):.1f}")
    print(f"{'figure':<46} {'target':>12} {'today':>12}  met")
    for key, target in TARGETS.items():
        if key not in figures:
            continue
        value = figures[key]
        sign = "≥" if target.higher_is_better else "≤"
        shown = (
            "unread" if value is None else f"{value:,.{2 if value < 10 else 1 if value < 100 else 0}f} {target.unit}"
        )
        verdict = "?" if value is None else ("yes" if target.met(value) else "NO")
        print(f"{target.label:<46} {sign + f' {target.goal:,g} ' + target.unit:>12} {shown:>12}  {verdict}")
    one, twenty = figures.get("sqlite1"), figures.get("sqlite20")
    for name in ("errbot", "opsdroid", "hubot"):
        rate = figures.get(name)
        if rate and one and twenty:
            print(
                f"peer {name}: {rate:,.0f} cmd/s; opsroom SQLite is {one / rate:.2f}× it one at a time, "
                f"{twenty / rate:.2f}× with 20 at once"
            )


if __name__ == "__main__":
    main()
