"""`python -m seedance_cli`, the same as the `seedance` script."""

from seedance_cli.commands import main

main()
