"""``opsroom demo``: things to try in the bundled demo."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from opsroom.cli.common import ConfigOpt, console, err, escape, load, state_folder

demo_app = typer.Typer(help="Things to try in the bundled demo.", no_args_is_help=True)


@demo_app.command("alert")
def demo_alert(
    url: Annotated[str | None, typer.Option(help="The running opsroom (default: from the config).")] = None,
    resolve: Annotated[bool, typer.Option("--resolve", help="Send the 'resolved' notification instead.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Fire the demo alert "payments API error rate above 2%" at a running opsroom, through
    its real Alertmanager webhook (POST /hooks/alertmanager/demo)."""
    import datetime as dt

    import httpx

    from opsroom.alerts.demo import demo_payload

    loaded = load(config)
    if "demo" not in loaded.config.alerts.sources:
        err.print(
            "this config has no alert source named `demo`; point your Alertmanager at "
            "/hooks/alertmanager instead (docs/alerts.md)"
        )
        raise typer.Exit(2)
    source = loaded.config.alerts.sources["demo"]
    token = os.environ.get(source.token_env) or ("demo-alert-token" if loaded.config.demo else "")
    from opsroom.store.state import running_server

    base = (
        url or running_server(state_folder(loaded)) or f"http://{loaded.config.server.host}:{loaded.config.server.port}"
    )
    payload = demo_payload(dt.datetime.now(dt.UTC), status="resolved" if resolve else "firing")
    try:
        response = httpx.post(
            f"{base}/hooks/alertmanager/demo", json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        err.print(
            f"no opsroom answered at {base} ({type(exc).__name__}); start it with `opsroom run`, "
            "or name it with --url http://HOST:PORT"
        )
        raise typer.Exit(1) from None
    if response.status_code != 200:
        err.print(f"{base} answered {response.status_code}: {escape(response.text[:300])}")
        raise typer.Exit(1)
    state = "resolved" if resolve else "fired"
    console.print(f"{state}: payments API error rate above 2% → see #war-room at {base}")
