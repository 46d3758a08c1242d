"""`python -m interlink` runs the command line."""

from interlink.cli import main

main()
