"""``python -m pinpoint`` → :func:`pinpoint.cli.main`."""

import sys

from .cli import main

sys.exit(main())
