"""Run the ``linesock`` command line as ``python -m linesock``."""

import sys

from linesock.cli import main

if __name__ == "__main__":
    sys.exit(main())
