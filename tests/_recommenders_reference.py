"""Microsoft Recommenders' split and ranking metrics, re-implemented for the SAR reproduction test.

Sources (github.com/recommenders-team/recommenders):

* ``reco_utils/dataset/python_splitters.py`` (the version the quickstart ran with; later
  ``recommenders/datasets/python_splitters.py`` draws one global ``np.random.rand`` per row
  instead and gives a different split): ``python_stratified_split(data, ratio=0.75, seed=42)``
  shuffles each user's rows with ``sample(frac=1, random_state=42)`` and keeps the first
  ``round(0.75 · n_u)`` for train — 74,992 train and 25,008 test ratings on MovieLens-100k,
  the sizes the notebook printed.
* ``recommenders/evaluation/python_evaluation.py``: precision@k = Σ_u hits_u / k / n_users;
  recall@k = Σ_u hits_u / |T_u| / n_users; nDCG@k with binary gains and 1/ln(1 + rank)
  discounts, ideal DCG over min(|T_u|, k) positions; and the "MAP" the SAR quickstart printed:
  Σ_u (Σ over the j-th hit, at rank r, of j / r) / |T_u| / n_users — normalised by all of the
  user's test items |T_u|, not by min(|T_u|, k) as a textbook MAP@k (the library's newer
  ``map_at_k`` divides by min(|T_u|, k); its ``map`` keeps the old definition).

These are test helpers, not product code: the harness's own metrics live in ``xsell_eval.metrics``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def python_stratified_split(
    data: pd.DataFrame, *, ratio: float = 0.75, seed: int = 42, col_user: str = "userID"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recommenders' per-user random split, as the library did when the quickstart was run (2020-21).

    For each user (``groupby``, rows in file order): ``group.sample(frac=1, random_state=seed)``
    — i.e. ``RandomState(seed).permutation(n_u)``, the same seed for every user — then the first
    ``round(ratio · n_u)`` rows (Python's round, halves to even) go to train, the rest to test.
    """
    parts_train, parts_test = [], []
    for _, group in data.groupby(col_user, sort=True):
        shuffled = group.sample(frac=1, random_state=seed)
        cut = round(ratio * len(shuffled))
        parts_train.append(shuffled.iloc[:cut])
        parts_test.append(shuffled.iloc[cut:])
    return pd.concat(parts_train), pd.concat(parts_test)


def ranking_metrics(top: dict[object, list[object]], truth: dict[object, set[object]], k: int) -> dict[str, float]:
    """Recommenders' precision@k, recall@k, nDCG@k and (old) MAP over the users in both dicts.

    Args:
        top: user -> recommended items, best first (at most k are used).
        truth: user -> the user's test items.
        k: cut-off.
    """
    users = sorted(set(top) & set(truth))
    prec = rec = ndcg = ap = 0.0
    for u in users:
        rel = truth[u]
        ranks = [r for r, item in enumerate(top[u][:k], start=1) if item in rel]
        n_rel = len(rel)
        prec += len(ranks) / k
        rec += len(ranks) / n_rel
        dcg = sum(1.0 / np.log(1.0 + r) for r in ranks)
        idcg = sum(1.0 / np.log(1.0 + r) for r in range(1, min(n_rel, k) + 1))
        ndcg += dcg / idcg
        ap += sum(j / r for j, r in enumerate(ranks, start=1)) / n_rel
    n = len(users)
    return {"map": ap / n, "ndcg": ndcg / n, "precision": prec / n, "recall": rec / n}
