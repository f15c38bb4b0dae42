"""Where headforge keeps what set-up builds or fetches (model caches, metric weights)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$HEADFORGE_CACHE_DIR`` or ``~/.cache/headforge``."""
    return Path(os.environ.get("HEADFORGE_CACHE_DIR", Path.home() / ".cache" / "headforge"))
