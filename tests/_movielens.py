"""Where the MovieLens-100k slow tests find their data (not shipped: MovieLens may not be redistributed)."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "XSELL_MOVIELENS_100K"


def ratings_file() -> Path | None:
    """``$XSELL_MOVIELENS_100K`` (u.data, its folder, or RecBole's ml-100k.inter), else Surprise's download folder."""
    env = os.environ.get(ENV, "").strip()
    candidates = []
    if env:
        p = Path(env).expanduser()
        candidates.append(p / "u.data" if p.is_dir() else p)
    candidates.append(Path.home() / ".surprise_data" / "ml-100k" / "ml-100k" / "u.data")
    return next((p for p in candidates if p.is_file()), None)
