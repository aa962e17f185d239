"""``python -m dynopt.bench``: run the benchmark (exit status 0 when it ran)."""
from . import main

main()
