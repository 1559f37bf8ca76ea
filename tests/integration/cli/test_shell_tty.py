"""`opsroom shell` typed at a real terminal (a pseudo-terminal, read back through a terminal
emulator): a run is one block updated in place and then replaced by its result — not the
same progress printed again and again — and the prompt comes back below the result, never
inside the output. Ctrl-C cancels the running command and the prompt returns."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.integration.cli.terminal import Terminal

OPSROOM = str(Path(sys.executable).with_name("opsroom"))
PROMPT = "›"


@pytest.fixture
def shell_at_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Terminal:
    monkeypatch.delenv("OPSROOM_DATABASE_URL", raising=False)
    return Terminal([OPSROOM, "shell", "--user", "alice"], cwd=tmp_path, env={"OPSROOM_DEMO_SPEED": "0.3"})


def _prompt_back(raw: bytes, after: int) -> bool:
    return raw[after:].rstrip().endswith(PROMPT.encode())


def test_a_run_is_one_block_updated_in_place_and_the_prompt_follows_it(shell_at_a_terminal: Terminal) -> None:
    term = shell_at_a_terminal
    try:
        term.read_until(lambda raw: raw.rstrip().endswith(PROMPT.encode()))
        start = len(term.raw)
        term.type("/deploy api-gateway staging\n")
        term.read_until(lambda raw: b"succeeded" in raw[start:] and _prompt_back(raw, start))
        shown = term.raw[start:].decode(errors="replace")
        screen = term.screen()
    finally:
        term.close()
    assert "· running" in shown, "progress was shown while it ran"
    headers = [line for line in screen if "run #1" in line]
    assert headers == ["✅ deploy api-gateway staging latest · run #1 · succeeded"], screen
    assert not any("↻" in line or "/cancel 1" in line for line in screen), "no stale progress left on screen"
    assert screen.count("  │ Rolling out pod 2/2") == 1, screen
    assert screen[-1] == PROMPT, "the prompt is on its own line, below the result"
    assert screen[-2].startswith("  by Alice (SRE) ·") and "exit 0" in screen[-2], screen


def test_ctrl_c_cancels_the_running_command_and_gives_the_prompt_back(tmp_path: Path) -> None:
    term = Terminal([OPSROOM, "shell", "--user", "alice"], cwd=tmp_path, env={"OPSROOM_DEMO_SPEED": "3"})
    try:
        term.read_until(lambda raw: raw.rstrip().endswith(PROMPT.encode()))
        start = len(term.raw)
        term.type("/deploy api-gateway staging\n")
        term.read_until(lambda raw: b"Pulling image" in raw[start:])
        term.type("\x03")  # Ctrl-C
        term.read_until(lambda raw: b"cancelled" in raw[start:] and _prompt_back(raw, start))
        term.type("exit\n")
        assert term.process.wait(30) == 0
        screen = term.screen()
    finally:
        term.close()
    headers = [line for line in screen if "run #1" in line]
    assert headers == ["🛑 deploy api-gateway staging latest · run #1 · cancelled"], screen


def test_a_narrow_terminal_keeps_the_live_block_whole(tmp_path: Path) -> None:
    """Output lines wider than the terminal: the live block cuts them (…) so every redraw
    erases exactly what the last one drew; nothing of it is left once the result is shown."""
    term = Terminal([OPSROOM, "shell", "--user", "alice"], cwd=tmp_path, env={"OPSROOM_DEMO_SPEED": "1"}, columns=50)
    try:
        term.read_until(lambda raw: raw.rstrip().endswith(PROMPT.encode()))
        start = len(term.raw)
        term.type("/deploy api-gateway staging version=bad\n")
        term.read_until(lambda raw: b"exit 1" in raw[start:] and _prompt_back(raw, start))
        shown = term.raw[start:].decode(errors="replace")
        screen = term.screen()
    finally:
        term.close()
    assert "runn…" in shown, "the live block was cut to the width"
    assert sum("run #1" in row for row in screen) == 1, screen
    assert not any("…" in row or "so far" in row or "/cancel" in row for row in screen), screen
    assert screen[-1] == PROMPT
