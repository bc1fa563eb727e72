"""``python -m sweeps``. The guard matters: spawned workers re-import the main module."""

from sweeps.cli import main

if __name__ == "__main__":
    main()
