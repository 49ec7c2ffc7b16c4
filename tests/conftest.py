"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsell_eval.testing import toy_interactions


@pytest.fixture(autouse=True)
def _run_in_a_scratch_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in a fresh scratch folder: a command without ``--out`` writes its run directory
    (``reports/<time>-<name>``) and studies (``runs/optuna.db``) there, never into the repository."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy shop (seed 1) written as ``interactions.csv`` + ``catalog.csv`` in a folder, once per module."""
    d = tmp_path_factory.mktemp("shop")
    inter, catalog = toy_interactions(seed=1)
    inter.to_csv(d / "interactions.csv", index=False)
    catalog.to_csv(d / "catalog.csv", index=False)
    return d
