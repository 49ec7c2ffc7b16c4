"""Train / validation / test splits, each with a leakage audit.

Temporal (default, the only honest one for a shop)::

    time ──────────────────────────────────────────────────────────────►
    │ fit_train                     │ validation │ test                  │
    │◄──────────── train ──────────────────────►│                       │
                                    valid_start  test_start

``fit_train`` + ``validation`` are what tuning sees; the final model is fitted on the
whole ``train`` and scored once on ``test``. Baskets are never cut: a basket belongs to
the side of its first line's timestamp.

Per-user splits (``last-basket``, ``random-basket``) put other users' later baskets in
train; the leakage this causes is stated in ``Split.leakage``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError

SplitKind = Literal["temporal", "last-basket", "random-basket"]
SPLITS: dict[str, str] = {
    "temporal": "global time cutoff; the last test_fraction of baskets (by time) is test; no leakage",
    "last-basket": "each user's last basket is test (second-to-last validation); other users' future is in train",
    "random-basket": "a seeded random test_fraction of baskets is test; future baskets are in train",
}


@dataclass(frozen=True)
class LeakageAudit:
    """Facts a reviewer checks before trusting a result."""

    train_end: str
    test_start: str
    train_ends_before_test: bool
    test_baskets_in_train: int
    train_lines_after_test_start: int
    test_baskets: int
    test_users: int
    cold_test_users: int
    test_items: int
    cold_test_items: int
    test_lines_on_cold_items: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Split:
    """A split with its validation window and its audit."""

    kind: str
    train: Dataset
    test: Dataset
    fit_train: Dataset
    validation: Dataset
    audit: LeakageAudit
    leakage: str
    params: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """Sizes, dates and parameters, JSON-able."""

        def span(ds: Dataset) -> dict[str, Any]:
            ts = ds.interactions[C.TIMESTAMP]
            return {
                "lines": len(ds.interactions),
                "baskets": int(ds.interactions[C.BASKET_IDX].nunique()),
                "start": str(ts.min()) if ts.notna().any() else None,
                "end": str(ts.max()) if ts.notna().any() else None,
            }

        return {
            "kind": self.kind,
            "params": self.params,
            "train": span(self.train),
            "fit_train": span(self.fit_train),
            "validation": span(self.validation),
            "test": span(self.test),
            "leakage": self.leakage,
        }


def _check_fraction(name: str, value: float) -> None:
    if not (0.0 < float(value) < 1.0):
        raise ConfigError(f"{name} must be between 0 and 1 (exclusive), got {value!r}")


def _basket_side(ds: Dataset, test_baskets: np.ndarray) -> np.ndarray:
    is_test = np.zeros(ds.n_baskets, dtype=bool)
    is_test[test_baskets] = True
    return is_test[ds.interactions[C.BASKET_IDX].to_numpy()]


def _audit(train: Dataset, test: Dataset) -> LeakageAudit:
    tr_ts = train.interactions[C.TIMESTAMP]
    te_ts = test.interactions[C.TIMESTAMP]
    has_time = tr_ts.notna().any() and te_ts.notna().any()
    train_end = tr_ts.max() if has_time else pd.NaT
    test_start = te_ts.min() if has_time else pd.NaT
    tr_b = np.unique(train.interactions[C.BASKET_IDX].to_numpy())
    te_b = np.unique(test.interactions[C.BASKET_IDX].to_numpy())
    te_u = test.interactions[C.USER_IDX].to_numpy()
    te_u = np.unique(te_u[te_u >= 0])
    cold_u = int((train.user_basket_count[te_u] == 0).sum()) if len(te_u) else 0
    te_items = test.interactions[C.ITEM_IDX].to_numpy()
    pop = train.item_basket_count
    uniq_items = np.unique(te_items)
    return LeakageAudit(
        train_end=str(train_end),
        test_start=str(test_start),
        train_ends_before_test=bool(has_time and tr_ts.max() < te_ts.min()),
        test_baskets_in_train=int(np.intersect1d(tr_b, te_b).size),
        train_lines_after_test_start=int((tr_ts >= test_start).sum()) if has_time else 0,
        test_baskets=int(te_b.size),
        test_users=int(te_u.size),
        cold_test_users=cold_u,
        test_items=int(uniq_items.size),
        cold_test_items=int((pop[uniq_items] == 0).sum()),
        test_lines_on_cold_items=int((pop[te_items] == 0).sum()),
    )


def _temporal_cut(baskets: pd.DataFrame, fraction: float) -> tuple[np.ndarray, np.ndarray, pd.Timestamp]:
    """Split a time-sorted basket table: the last ``fraction`` of baskets, cut at a timestamp boundary."""
    ts = baskets[C.TIMESTAMP].to_numpy()
    n = len(ts)
    pos = int(np.floor(n * (1.0 - fraction)))
    pos = min(max(pos, 1), n - 1)
    cutoff = ts[pos]
    late = ts >= cutoff  # whole timestamp groups stay together
    return baskets[C.BASKET_IDX].to_numpy()[~late], baskets[C.BASKET_IDX].to_numpy()[late], pd.Timestamp(cutoff)


def temporal_split(
    ds: Dataset,
    *,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    cutoff: str | pd.Timestamp | None = None,
) -> Split:
    """Global time cutoff. ``cutoff`` (a date) overrides ``test_fraction``.

    Raises:
        DataError: the data has no timestamps, or one side would be empty.
    """
    if not ds.has_timestamps:
        raise DataError(
            f"dataset '{ds.name}' has no timestamps; a temporal split needs them. Use --split random-basket "
            "(and accept its stated leakage) or load data with a timestamp column"
        )
    _check_fraction("valid_fraction", valid_fraction)
    baskets = ds.baskets
    if len(baskets) < 3:
        raise DataError(f"dataset '{ds.name}' has {len(baskets)} baskets; a split needs at least 3")
    if cutoff is not None:
        try:
            cut = pd.Timestamp(cutoff)
        except (ValueError, TypeError):
            raise ConfigError(f"cutoff must be a date like 2011-09-01, got {cutoff!r}") from None
        late = baskets[C.TIMESTAMP].to_numpy() >= cut.to_datetime64()
        train_b = baskets[C.BASKET_IDX].to_numpy()[~late]
        test_b = baskets[C.BASKET_IDX].to_numpy()[late]
        if len(train_b) == 0 or len(test_b) == 0:
            raise DataError(
                f"cutoff {cut} leaves {len(train_b)} train and {len(test_b)} test baskets; the data spans "
                f"{baskets[C.TIMESTAMP].min()} to {baskets[C.TIMESTAMP].max()}"
            )
    else:
        _check_fraction("test_fraction", test_fraction)
        train_b, test_b, cut = _temporal_cut(baskets, test_fraction)
    train = ds.subset(~_basket_side(ds, test_b), name=f"{ds.name}:train")
    test = ds.subset(_basket_side(ds, test_b), name=f"{ds.name}:test")
    tb = train.baskets
    _, valid_b, vcut = _temporal_cut(tb, valid_fraction)
    fit_mask = ~_basket_side(train, valid_b)
    return Split(
        kind="temporal",
        train=train,
        test=test,
        fit_train=train.subset(fit_mask, name=f"{ds.name}:fit_train"),
        validation=train.subset(~fit_mask, name=f"{ds.name}:validation"),
        audit=_audit(train, test),
        leakage="none: every training line precedes every test line (global time cutoff)",
        params={
            "test_fraction": test_fraction if cutoff is None else None,
            "valid_fraction": valid_fraction,
            "test_start": str(cut),
            "valid_start": str(vcut),
        },
    )


def _per_user_split(ds: Dataset, kind: str, *, seed: int, test_fraction: float) -> Split:
    b = ds.baskets
    user = b[C.USER_IDX].to_numpy()
    if kind == "last-basket":
        if not ds.has_users:
            raise DataError(f"dataset '{ds.name}' has no user ids; the last-basket split needs them")
        # rank baskets per user from the latest: 0 = last, 1 = second to last
        order = b.assign(_u=user).sort_values(["_u", C.TIMESTAMP, C.BASKET_IDX], ascending=[True, False, False])
        rank_from_end = order.groupby("_u").cumcount().to_numpy()
        n_per_user = order.groupby("_u")["_u"].transform("size").to_numpy()
        known = order["_u"].to_numpy() >= 0
        # users with a single basket keep it in train (nothing to learn from otherwise)
        test_b = order[C.BASKET_IDX].to_numpy()[known & (rank_from_end == 0) & (n_per_user >= 2)]
        valid_b = order[C.BASKET_IDX].to_numpy()[known & (rank_from_end == 1) & (n_per_user >= 3)]
        leak = (
            "per-user last basket: train contains other users' baskets from after a user's test basket, so "
            "popularity trends of the test period leak into training; results are optimistic"
        )
    else:
        _check_fraction("test_fraction", test_fraction)
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(b))
        n_test = max(1, round(len(b) * test_fraction))
        test_b = b[C.BASKET_IDX].to_numpy()[perm[:n_test]]
        rest = perm[n_test:]
        n_valid = max(1, round(len(rest) * 0.1))
        valid_b = b[C.BASKET_IDX].to_numpy()[rest[:n_valid]]
        leak = (
            "random baskets: train contains baskets from after test baskets (the future leaks into training); "
            "results are optimistic and not comparable to a temporal split"
        )
    if len(test_b) == 0:
        raise DataError(f"the {kind} split put no basket in test (every user has a single basket?)")
    test_mask = _basket_side(ds, test_b)
    train = ds.subset(~test_mask, name=f"{ds.name}:train")
    test = ds.subset(test_mask, name=f"{ds.name}:test")
    valid_mask = _basket_side(train, valid_b)
    return Split(
        kind=kind,
        train=train,
        test=test,
        fit_train=train.subset(~valid_mask, name=f"{ds.name}:fit_train"),
        validation=train.subset(valid_mask, name=f"{ds.name}:validation"),
        audit=_audit(train, test),
        leakage=leak,
        params={"seed": seed, "test_fraction": test_fraction if kind == "random-basket" else None},
    )


def make_split(
    ds: Dataset,
    kind: str = "temporal",
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    cutoff: str | None = None,
) -> Split:
    """Build the named split.

    Example:
        >>> from xsell_eval.testing import toy_dataset
        >>> s = make_split(toy_dataset(), "temporal")
        >>> s.audit.train_ends_before_test
        True
    """
    if kind == "temporal":
        return temporal_split(ds, test_fraction=test_fraction, valid_fraction=valid_fraction, cutoff=cutoff)
    if kind in ("last-basket", "random-basket"):
        return _per_user_split(ds, kind, seed=seed, test_fraction=test_fraction)
    from xsell_eval.errors import unknown_name

    raise unknown_name("split", kind, SPLITS)
