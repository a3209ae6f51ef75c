"""``python -m benchmarks --list`` / ``python -m benchmarks <name> [args]`` (see ``benchmarks.registry``)."""
from benchmarks.registry import main

if __name__ == "__main__":
    main()
