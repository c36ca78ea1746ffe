"""``python -m gfc_kit`` runs the CLI."""

from gfc_kit.cli import main

main()
