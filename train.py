"""``python train.py fit --config configs/quickstart.yaml`` — same as the ``yolo12l`` console script."""
import sys

from yolo12l.cli import main

if __name__ == "__main__":
    sys.exit(main())
