"""``python -m symnn ...``: the same command line as the ``symnn`` script (e.g. in a venv without its bin on PATH)."""

from symnn.cli import main

raise SystemExit(main())
