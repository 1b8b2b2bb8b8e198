"""`python -m ttfd`: the command line lives with the entrypoints (functions/cli.py); the domain stays clean."""

import sys

from devtools.cli import main

sys.exit(main())
