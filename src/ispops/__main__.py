"""``python -m ispops`` is the ``ispops`` command."""

from ispops.cli import main

main()
