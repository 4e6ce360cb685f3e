"""``python -m dualweb``: the command line (see :mod:`dualweb.cli`)."""

from __future__ import annotations

import sys

from dualweb.cli import main

if __name__ == "__main__":
    sys.exit(main())
