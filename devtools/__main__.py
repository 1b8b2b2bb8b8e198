"""`python -m devtools run | simulate` (see devtools.cli)."""

import sys

from devtools.cli import main

sys.exit(main())
