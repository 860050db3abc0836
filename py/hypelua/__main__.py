"""``python -m hypelua`` is the ``hype`` command."""

import sys

from .cli import main

sys.exit(main())
