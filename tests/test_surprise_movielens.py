"""Outside reference (slow): Surprise's published MovieLens-100k RMSE, reproduced through our adapters.

Published figures (Surprise README, "Benchmarks": 5-fold cross-validation on
MovieLens-100k, default parameters, ``KFold(random_state=0)``, ``SVD(random_state=0)``;
https://github.com/NicolasHug/Surprise, ``examples/benchmark.py``):

    SVD            RMSE 0.934        "Centered k-NN" (KNNWithMeans)   RMSE 0.951

The only published spread is the README's getting-started run of the same SVD
cross-validation: fold RMSEs 0.9367 0.9355 0.9378 0.9377 0.9300, mean 0.9355, std 0.0029.
We accept a mean within two of those fold standard deviations (±0.0058) of the table
value, for both algorithms (our folds differ from the README's: the data reaches Surprise
in (user, item) order, not in file order).

MovieLens-100k is not shipped (its licence forbids redistribution) and GroupLens cannot be
reached from these machines. The tests look for ``u.data`` at ``$XSELL_MOVIELENS_100K`` (the
file or its folder) or at Surprise's own download place ``~/.surprise_data/ml-100k/ml-100k/u.data``,
and skip otherwise. A copy that a package registry serves: RecBole's wheel carries the same
100,000 ratings as ``recbole/dataset_example/ml-100k/ml-100k.inter`` (u.data plus one header
line); ``$XSELL_MOVIELENS_100K`` may point at that file::

    pip download --no-deps recbole==1.2.1 -d /tmp/rb && cd /tmp/rb && unzip -q recbole-1.2.1-py3-none-any.whl
    export XSELL_MOVIELENS_100K=/tmp/rb/recbole/dataset_example/ml-100k/ml-100k.inter
    pytest -m slow tests/test_surprise_movielens.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _movielens import ENV, ratings_file

from xsell_eval.adapters.surprise_adapters import SurpriseKNNAdapter, SurpriseSVDAdapter, surprise_ratings
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.data.loaders import load_dataset

pytestmark = pytest.mark.slow
surprise = pytest.importorskip("surprise")

PUBLISHED = {"knn": 0.951, "svd": 0.934}
PUBLISHED_FOLD_STD = 0.0029
TOLERANCE = 2 * PUBLISHED_FOLD_STD


def _as_u_data(path: Path, folder: Path) -> Path:
    """RecBole's ``ml-100k.inter`` is u.data with a header line: write it without the header."""
    if path.suffix != ".inter":
        return path
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].split("\t")[:3] == ["user_id:token", "item_id:token", "rating:float"], lines[0]
    out = folder / "u.data"
    out.write_text("".join(lines[1:]))
    return out


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    path = ratings_file()
    if path is None:
        pytest.skip(
            f"MovieLens-100k u.data not found: set {ENV}=/path/to/ml-100k/u.data (or RecBole's "
            "ml-100k.inter, see this module's docstring; or place it at ~/.surprise_data/ml-100k/ml-100k/u.data)"
        )
    path = _as_u_data(path, tmp_path_factory.mktemp("ml100k"))
    ds = load_dataset(path, loader="movielens")
    # the published sizes of MovieLens-100k: anything else is not the reference data
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (100_000, 943, 1682), ds
    return ds


def _adapter(kind: str) -> SurpriseKNNAdapter | SurpriseSVDAdapter:
    """Our adapters configured as Surprise's defaults (KNNWithMeans: user-based msd, k=40, min_k=1)."""
    if kind == "knn":
        return SurpriseKNNAdapter(user_based=True, sim="msd", k=40, min_k=1, min_support=1)
    return SurpriseSVDAdapter(seed=0, n_factors=100, n_epochs=20, lr_all=0.005, reg_all=0.02, biased=True)


@pytest.mark.parametrize("kind", ["knn", "svd"])
def test_cross_validate_reproduces_published_rmse(ml100k: Dataset, kind: str) -> None:
    """surprise.model_selection.cross_validate on our conversion of the data, our configured algorithm."""
    from surprise.model_selection import KFold, cross_validate

    adapter = _adapter(kind)
    data = adapter.surprise_data(ml100k)
    assert surprise_ratings(ml100k).rating_scale == (1.0, 5.0)
    out = cross_validate(adapter.build_algo(), data, measures=["rmse"], cv=KFold(n_splits=5, random_state=0))
    rmse = np.asarray(out["test_rmse"])
    assert abs(rmse.mean() - PUBLISHED[kind]) <= TOLERANCE, (kind, rmse)
    assert rmse.std() < 3 * PUBLISHED_FOLD_STD, (kind, rmse)


@pytest.mark.parametrize("kind", ["knn", "svd"])
def test_adapter_path_reproduces_surprise_and_published_rmse(ml100k: Dataset, kind: str) -> None:
    """Our fit + vectorised estimates on 5 seeded folds: Surprise's own RMSE per fold, published mean."""
    rows = np.random.default_rng(0).permutation(len(ml100k.interactions))
    folds = np.array_split(rows, 5)
    df = ml100k.interactions
    rmses = []
    for test_rows in folds:
        test = np.zeros(len(df), dtype=bool)
        test[test_rows] = True
        train = ml100k.subset(~test)
        adapter = _adapter(kind).fit(train)
        u = df[C.USER_IDX].to_numpy()[test]
        i = df[C.ITEM_IDX].to_numpy()[test]
        r = df[C.RATING].to_numpy()[test]
        uniq, inv = np.unique(u, return_inverse=True)
        est = adapter.predict_ratings(uniq)[inv, i]
        lo, hi = adapter.trainset_.rating_scale
        est = np.clip(est, lo, hi)
        # pairs outside the fold's trainset are never ranking candidates: take Surprise's own fallback
        for k in np.flatnonzero(np.isnan(est)):
            est[k] = adapter.algo_.predict(int(u[k]), int(i[k])).est
        ours = float(np.sqrt(np.mean((est - r) ** 2)))
        # Surprise alone on the same fold, ratings in the same (user, item) order
        ref_algo = adapter.build_algo()
        ref_algo.fit(adapter.surprise_data(train).build_full_trainset())
        testset = list(zip(u.tolist(), i.tolist(), r.tolist(), strict=True))
        theirs = surprise.accuracy.rmse(ref_algo.test(testset), verbose=False)
        assert ours == pytest.approx(theirs, abs=1e-9), kind
        rmses.append(ours)
    assert abs(np.mean(rmses) - PUBLISHED[kind]) <= TOLERANCE, (kind, rmses)
