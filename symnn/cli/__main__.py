"""``python -m symnn.cli``: the ``symnn`` command."""

import sys

from .main import main

sys.exit(main())
