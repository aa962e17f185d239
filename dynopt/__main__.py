"""``python -m dynopt``: the same command line as ``dynopt``."""
import sys

from .cli import main

sys.exit(main())
