"""Which opsroom this is: its version and the commit it was built from.

A release build (scripts/release.sh, scripts/build-image.sh) writes the commit into the package
as ``opsroom/COMMIT``; a checkout (``pip install -e .``) asks git. Anything else says
``unknown`` rather than guessing.
"""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import resources
from pathlib import Path

from opsroom import __version__


@cache
def commit() -> str:
    packaged = resources.files("opsroom").joinpath("COMMIT")
    if packaged.is_file():
        return packaged.read_text().strip() or "unknown"
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / ".git").exists():
        try:
            found = subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return "unknown"


def version_line() -> str:
    """What ``opsroom --version`` prints: ``opsroom 0.2.0 (commit 1a2b3c4d5e6f)``."""
    return f"opsroom {__version__} (commit {commit()})"
