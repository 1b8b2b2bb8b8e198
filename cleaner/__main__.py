"""Entry point for ``python -m cleaner`` and the one-file executable."""

import sys

from cleaner.cli import main

if __name__ == "__main__":
    sys.exit(main())
