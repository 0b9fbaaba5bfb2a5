"""The bundle's entry point: the same `courier` command as the wheel's console script."""

import sys

from app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
