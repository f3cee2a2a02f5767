"""Where kitgen keeps what it may throw away: template mirrors, fleet clones, crash logs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "KITGEN_CACHE_DIR"


def cache_dir() -> Path:
    """``$KITGEN_CACHE_DIR``, else the user cache directory (``~/.cache/kitgen`` on Linux)."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    return Path(explicit) if explicit else platformdirs.user_cache_path("kitgen")
