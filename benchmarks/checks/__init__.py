"""Correctness checks: equality with pycocotools / Ultralytics, parity sensitivity, precision and letterbox effects
(run through ``python -m benchmarks <name>``, like the timing benchmarks)."""
