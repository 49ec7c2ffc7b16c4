"""Iterative adapters report every epoch through the pipeline's progress events."""

from __future__ import annotations

from typing import Any

import pytest

from xsell_eval.pipeline import CompareConfig, prepare, run_adapter
from xsell_eval.testing import toy_dataset


def test_sequence_epochs_reach_the_progress_callback() -> None:
    pytest.importorskip("torch")
    config = CompareConfig(adapters=("sequence",), ks=(5,), primary_metric="hit_rate@5", n_bootstrap=100)
    prepared = prepare(config, dataset=toy_dataset())
    events: list[dict[str, Any]] = []
    out = run_adapter(
        "sequence:epochs=2,embedding_dim=16,n_layers=1,patience=1",
        config,
        prepared,
        progress=lambda event, who, info: events.append(info) if "epoch_info" in info else None,
    )
    assert out.status == "ok", out.error
    epochs = [e["epoch_info"]["epoch"] for e in events]
    assert epochs and epochs == sorted(epochs) and max(epochs) <= 2
    assert all("loss" in e["epoch_info"] for e in events)
