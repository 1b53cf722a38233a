#!/usr/bin/env python3
"""The layerfs benchmark: `python3 bench/bench.py --help` (bench/README.md)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lfbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
