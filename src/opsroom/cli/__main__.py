"""``python -m opsroom.cli`` runs the command line (tests start servers this way)."""

from opsroom.cli import main

main()
