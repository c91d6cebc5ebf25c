"""``python -m lightning_nas.reproduce TABLE --scale SCALE ...`` (the same as ``lightning-nas reproduce ...``)."""

import sys

from lightning_nas.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
