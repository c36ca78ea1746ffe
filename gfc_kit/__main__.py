"""``python -m gfc_kit`` runs the CLI."""

from gfc_kit.commands import main

main()
