"""Benchmarks (speed, memory) and checks (equality, parity, sensitivity) of yolo12l, run from the repository root:

    python -m benchmarks --list
    python -m benchmarks <name> [--help | args]

Timing benchmarks are modules of this package, correctness checks modules of ``benchmarks.checks``; the table of
names is ``benchmarks.registry``. Nothing here is part of the installed ``yolo12l`` package.
"""
