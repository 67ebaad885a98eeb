"""``python -m extend_simulator``: the standalone simulator server (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
