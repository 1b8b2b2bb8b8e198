"""`python -m ttfd`: operator commands (see ttfd.cli)."""

import sys

from ttfd.cli import main

sys.exit(main())
