"""``python -m andi2kit``: the same command line as ``andi2kit``."""

from andi2kit.cli import main

main()
