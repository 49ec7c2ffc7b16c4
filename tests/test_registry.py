"""The adapter registry: the Adapter protocol, notebook registration, plugins installed in a live session."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import xsell_eval
from xsell_eval.adapters import registry
from xsell_eval.adapters.baselines import PopularAdapter
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, UnknownNameError
from xsell_eval.queries import Recommendations, Requests, top_k
from xsell_eval.testing import toy_dataset


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the installed adapters only, and leaves no registration behind."""
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points", None)


class Bestsellers:
    """A bare Adapter-protocol class (no BaseAdapter): the k best-selling items not in the cart."""

    name = "bestsellers"

    def __init__(self, *, boost: float = 1.0) -> None:
        self.boost = boost

    def fit(self, train: Dataset) -> Bestsellers:
        self.pop_ = self.boost * train.item_basket_count.astype(float)
        return self

    def recommend(self, requests: Requests, k: int) -> Recommendations:
        items, scores = top_k(np.tile(self.pop_, (len(requests), 1)), k, exclude=requests.context)
        return Recommendations(items, scores, self.name)


def test_a_protocol_class_registers_and_runs_in_compare() -> None:
    assert xsell_eval.register_adapter("bestsellers", Bestsellers) is Bestsellers
    assert "bestsellers" in registry.names()
    a = registry.create("bestsellers:boost=2.0", seed=3)  # no seed parameter: not passed
    assert isinstance(a, Bestsellers) and a.boost == 2.0
    result = xsell_eval.compare(
        ["bestsellers"], toy_dataset(), ks=(5,), n_bootstrap=100, metrics=("hit_rate",), baseline="popular"
    )
    assert set(result.ok_adapters) == {"popular", "bestsellers"}
    summary = result.summary.query("metric == 'hit_rate' and k == 5").set_index("adapter")
    # the same ranking as the popularity baseline, by construction
    assert summary.loc["bestsellers", "mean"] == pytest.approx(summary.loc["popular", "mean"])
    rows = {r["name"]: r for r in registry.describe()}
    assert rows["bestsellers"]["error"] == "" and rows["bestsellers"]["family"] == ""


@pytest.mark.parametrize(
    ("members", "pattern"),
    [
        ({"fit": lambda self, train: self}, r"needs a method `recommend\(requests, k\)`"),
        ({"recommend": lambda self, requests, k: None}, r"needs a method `fit\(train\)`"),
        (
            {"fit": lambda self, train: self, "recommend": lambda self, requests: None},
            r"a method callable as `recommend\(requests, k\)` \(its signature is recommend\(self, requests\)\)",
        ),
    ],
)
def test_a_class_missing_protocol_members_is_rejected_naming_them(members: dict[str, object], pattern: str) -> None:
    cls = type("Half", (), {"name": "half", **members})
    with pytest.raises(ConfigError, match=r"'Half' registered as 'half' does not satisfy the Adapter protocol"):
        xsell_eval.register_adapter("half", cls)
    with pytest.raises(ConfigError, match=pattern):
        xsell_eval.register_adapter("half", cls)


def test_name_and_class_checks() -> None:
    nameless = type("Nameless", (), {"fit": lambda self, train: self, "recommend": lambda self, r, k: None})
    with pytest.raises(ConfigError, match=r"class attribute `name` \(a non-empty str; got None\)"):
        xsell_eval.register_adapter("nameless", nameless)
    with pytest.raises(ConfigError, match=r"to be a class \(got the Bestsellers"):
        xsell_eval.register_adapter("obj", Bestsellers())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"without ':', ',', '=' or spaces, got 'a:b'"):
        xsell_eval.register_adapter("a:b", Bestsellers)


def test_installed_names_need_replace_and_reregistering_replaces() -> None:
    with pytest.raises(ConfigError, match=r"'popular' is taken by the installed adapter .*baselines:PopularAdapter"):
        xsell_eval.register_adapter("popular", Bestsellers)
    xsell_eval.register_adapter("popular", Bestsellers, replace=True)
    assert registry.get("popular") is Bestsellers

    class Again(PopularAdapter):
        name = "again"

    xsell_eval.register_adapter("mine", Bestsellers)
    xsell_eval.register_adapter("mine", Again)  # a re-run notebook cell: the newer class wins
    assert registry.get("mine") is Again
    registry.unregister_adapter("mine")
    with pytest.raises(UnknownNameError, match=r"unknown adapter 'mine'"):
        registry.get("mine")
    with pytest.raises(UnknownNameError, match=r"unknown registered adapter 'mine'"):
        registry.unregister_adapter("mine")


def test_an_entry_point_to_a_non_adapter_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _install_plugin(tmp_path, "broken-plugin", "class NotAnAdapter:\n    name = 'x'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"entry point 'broken-plugin' .* needs a method `fit\(train\)`"):
        registry.get("broken-plugin")


PLUGIN = """
from xsell_eval.adapters.baselines import PopularAdapter


class PluginAdapter(PopularAdapter):
    name = "{name}"
"""


def _install_plugin(site: Path, name: str, source: str) -> None:
    """What `pip install` leaves in site-packages: a module and a dist-info with an entry point."""
    module = name.replace("-", "_") + "_mod"
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    target = "PluginAdapter" if "PluginAdapter" in source else "NotAnAdapter"
    (info / "entry_points.txt").write_text(f"[xsell_eval.adapters]\n{name} = {module}:{target}\n")


def test_a_plugin_installed_in_a_live_session_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = registry.available()  # entry points read (and cached) before the install
    assert "late-plugin" not in before
    _install_plugin(tmp_path, "late-plugin", PLUGIN.format(name="late-plugin"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    cls = registry.get("late-plugin")  # a miss re-reads the entry points
    assert cls.__name__ == "PluginAdapter"
    assert "late-plugin" in registry.available() and "late-plugin" in registry.names()


def test_unknown_names_still_suggest() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown adapter 'popluar'. Did you mean 'popular'"):
        registry.get("popluar")


def test_a_protocol_adapter_cannot_be_tuned_or_fused_and_says_why() -> None:
    from xsell_eval.tuning.space import declared_by

    xsell_eval.register_adapter("bestsellers", Bestsellers)
    with pytest.raises(ConfigError, match=r"adapter 'bestsellers' declares no hyperparameters .* cannot be tuned"):
        declared_by("bestsellers")
    with pytest.raises(ConfigError, match=r"component 'bestsellers' must subclass BaseAdapter, got Bestsellers"):
        registry.create("hybrid:bestsellers=0.5,popular=0.5")
