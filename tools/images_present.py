"""Exit 0 when the image folder `data.images` exists here, 1 when it does not (a clone that
pulled the vectors from a DVC remote instead of holding the images)."""
from __future__ import annotations

import sys
from pathlib import Path

from stages import config as cfg

if __name__ == "__main__":
    sys.exit(0 if Path(cfg.get_str(cfg.load_params(), "data.images")).is_dir() else 1)
