"""The public Python API: `from xsell_eval import ...`, compare/evaluate with specs and objects."""

from __future__ import annotations

import subprocess
import sys

import pytest

import xsell_eval
from xsell_eval.adapters.baselines import PopularAdapter, RandomAdapter
from xsell_eval.errors import ConfigError, UnknownNameError
from xsell_eval.testing import toy_dataset

SMALL = {"ks": (5,), "n_bootstrap": 100, "metrics": ("hit_rate",), "primary_metric": "hit_rate@5"}


def test_every_public_name_resolves_and_all_is_complete() -> None:
    assert set(xsell_eval.__all__) == {*xsell_eval._EXPORTS, "__version__"}
    for name in xsell_eval.__all__:
        assert getattr(xsell_eval, name) is not None
    assert set(xsell_eval.__all__) <= set(dir(xsell_eval))
    with pytest.raises(AttributeError, match=r"module 'xsell_eval' has no attribute 'nope'"):
        xsell_eval.nope  # noqa: B018


def test_import_stays_light() -> None:
    code = "import sys, xsell_eval; print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_compare_takes_objects_specs_and_labels() -> None:
    ds = toy_dataset()
    result = xsell_eval.compare({"pop-a": PopularAdapter(), "rnd": RandomAdapter(seed=3)}, ds, **SMALL)
    assert result.ok_adapters == ["popular", "pop-a", "rnd"]
    by = result.summary.set_index("adapter")["mean"]
    assert by["pop-a"] == pytest.approx(by["popular"])  # an object and the spec give the same numbers
    assert result.config.adapters == ("popular", "pop-a", "rnd")
    mixed = xsell_eval.compare(["random", PopularAdapter()], ds, baseline="random", **SMALL)
    assert mixed.ok_adapters == ["random", "popular"]


def test_compare_reports_bad_arguments_clearly() -> None:
    ds = toy_dataset()
    with pytest.raises(ConfigError, match=r"two adapters are labelled 'popular'"):
        xsell_eval.compare([PopularAdapter(), PopularAdapter()], ds, **SMALL)
    with pytest.raises(UnknownNameError, match=r"unknown compare setting 'n_bootstraps'. Did you mean 'n_bootstrap'"):
        xsell_eval.compare(["random"], ds, n_bootstraps=100)
    with pytest.raises(ConfigError, match=r"adapter object 42 does not satisfy the Adapter protocol"):
        xsell_eval.compare([42], ds, **SMALL)  # type: ignore[list-item]


def test_evaluate_runs_one_adapter_without_baseline() -> None:
    result = xsell_eval.evaluate(RandomAdapter(seed=1), toy_dataset(), **SMALL)
    assert result.ok_adapters == ["random"] and result.comparisons.empty
