"""``python -m forgetmap`` runs the command line."""

from forgetmap.cli import main

main()
