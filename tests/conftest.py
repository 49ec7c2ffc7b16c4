"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsell_eval.testing import toy_interactions


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy shop (seed 1) written as ``interactions.csv`` + ``catalog.csv`` in a folder, once per module."""
    d = tmp_path_factory.mktemp("shop")
    inter, catalog = toy_interactions(seed=1)
    inter.to_csv(d / "interactions.csv", index=False)
    catalog.to_csv(d / "catalog.csv", index=False)
    return d
