"""``python -m kitgen``."""

from kitgen.cli import main

main()
