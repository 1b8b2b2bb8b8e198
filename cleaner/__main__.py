"""Entry point for ``python -m cleaner`` and the one-file executable."""

import gc
import os
import sys

if __name__ == "__main__":
    # A command is a short-lived process that builds one large acyclic preview: the cyclic collector
    # would only walk its tuples over and over.
    gc.disable()
    from cleaner.cli import main

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Freeing a big preview object by object at interpreter exit is pure overhead for a finished
    # command (every file we wrote is closed by now).
    os._exit(code)
