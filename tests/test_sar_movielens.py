"""Outside reference (slow): Microsoft Recommenders' SAR quickstart on MovieLens-100k, reproduced by ``sar``.

Published figures: ``examples/00_quick_start/sar_movielens.ipynb`` in
github.com/recommenders-team/recommenders (formerly microsoft/recommenders), printed output
of the evaluation cell, pinned again by ``tests/smoke/examples/test_notebooks_python.py``
(``test_sar_single_node_smoke``) and listed in the repository README's benchmark table::

    Top K 10   MAP 0.110591   NDCG 0.382461   Precision@K 0.330753   Recall@K 0.176385

Setup of the notebook: ``python_stratified_split(data, ratio=0.75, seed=42)`` (74,992 train /
25,008 test ratings, 943 users in both, 1,649 train items); ``SAR(similarity_type="jaccard",
time_decay_coefficient=30, timedecay_formula=True, normalize=True)`` with the rating as event
weight; ``recommend_k_items(test, remove_seen=True)``; metrics from ``python_evaluation``.
``normalize`` rescales each user's scores by a positive affine map, so it does not change the
ranking and is not reproduced. The split and the metric definitions (their "MAP" divides by
all of a user's test items, not by min(that, k)) are in :mod:`tests._recommenders_reference`.

Data: MovieLens-100k, found as in ``tests/test_surprise_movielens.py`` — ``$XSELL_MOVIELENS_100K``
(``u.data`` or RecBole's ``ml-100k.inter``, which is u.data with a header line and the same row
order) or ``~/.surprise_data/ml-100k/ml-100k/u.data``; skipped otherwise::

    pip download --no-deps recbole==1.2.1 -d /tmp/rb && cd /tmp/rb && unzip -q recbole-1.2.1-py3-none-any.whl
    export XSELL_MOVIELENS_100K=/tmp/rb/recbole/dataset_example/ml-100k/ml-100k.inter
    pytest -m slow tests/test_sar_movielens.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _movielens import ENV, ratings_file
from _recommenders_reference import python_stratified_split, ranking_metrics

from xsell_eval.adapters.sar import SARAdapter
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Queries

pytestmark = pytest.mark.slow

PUBLISHED = {"map": 0.110591, "ndcg": 0.382461, "precision": 0.330753, "recall": 0.176385}
COLS = ["userID", "itemID", "rating", "timestamp"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    path = ratings_file()
    if path is None:
        pytest.skip(
            f"MovieLens-100k not found: set {ENV}=/path/to/ml-100k/u.data or RecBole's ml-100k.inter "
            "(see this module's docstring)"
        )
    header = 0 if path.read_text().split("\n", 1)[0].startswith("user_id:token") else None
    df = pd.read_csv(path, sep="\t", header=header, names=COLS, usecols=range(4))
    df["rating"] = df["rating"].astype(np.float32)  # as the notebook does
    assert len(df) == 100_000 and df["userID"].nunique() == 943 and df["itemID"].nunique() == 1682
    return df


def _queries_for_users(ds: Dataset) -> Queries:
    """One query per user: no cart, the user's id (SAR's ``recommend_k_items`` for every test user)."""
    n = ds.n_users
    users = np.arange(n, dtype=np.int64)
    empty = sp.csr_matrix((n, ds.n_items))
    return Queries(
        query_id=users,
        user_idx=users,
        basket_idx=np.full(n, -1, dtype=np.int64),
        timestamp=np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
        context=empty,
        targets=empty,
        target_value=empty,
        context_value=np.full(n, np.nan),
        user_history=np.zeros(n, dtype=np.int64),
        protocol="next-basket",
    )


def test_split_reproduces_the_notebook_sizes(ratings: pd.DataFrame) -> None:
    train, test = python_stratified_split(ratings)
    assert (len(train), train["userID"].nunique(), train["itemID"].nunique()) == (74_992, 943, 1_649)
    assert (len(test), test["userID"].nunique(), test["itemID"].nunique()) == (25_008, 943, 1_444)


def test_sar_reproduces_published_movielens_100k_figures(ratings: pd.DataFrame) -> None:
    train, test = python_stratified_split(ratings)
    inter = pd.DataFrame(
        {
            C.USER: ratings["userID"].astype(str),
            C.ITEM: ratings["itemID"].astype(str),
            C.BASKET: np.arange(len(ratings)).astype(str),  # one event per rating
            C.TIMESTAMP: pd.to_datetime(ratings["timestamp"], unit="s"),
            C.RATING: ratings["rating"].astype(np.float64),
        }
    )
    ds = Dataset.from_frames(inter, name="ml-100k")
    in_train = np.zeros(len(ratings), dtype=bool)
    in_train[train.index.to_numpy()] = True
    sar = SARAdapter(similarity="jaccard", half_life_days=30.0, threshold=1, remove_seen=True, weight="rating")
    sar.fit(ds.subset(in_train, name="ml-100k train"))
    recs = sar.recommend(_queries_for_users(ds), k=10)
    top = {ds.user_ids[u]: [ds.item_ids[i] for i in row if i >= 0] for u, row in enumerate(recs.items)}
    keyed = test.assign(u=test["userID"].astype(str), i=test["itemID"].astype(str))
    truth = keyed.groupby("u")["i"].apply(set).to_dict()
    got = ranking_metrics(top, truth, k=10)
    for name, published in PUBLISHED.items():
        assert abs(got[name] - published) < 5e-4, (name, got[name], published)
