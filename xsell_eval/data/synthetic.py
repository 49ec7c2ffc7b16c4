"""A seeded synthetic shop whose ground truth is known.

The generator is a small, explicit purchase model; the same model is exposed as
:meth:`ShopTruth.accept_prob`, so tests can check that the simulator and the metrics
recover an effect that is known exactly.

Generative model (per day ``d``, vectorised over that day's baskets)::

    categories  c = 0..C-1, each with a log-normal price level and a partner category
    items       j: category c_j, price ~ LogNormal(mu_c, 0.35), attractiveness a_j,
                release day r_j (most 0, a share later: new items appear over time)
    segments    s: taste over categories t_s ~ Dirichlet(0.7)
    base        b[s, j] = mean_seeds * t_s[c_j] * a_j / sum_{i in c_j} a_i   (capped at 0.6)
    complements Q[i, j] > 0 for a few j per item (mostly from i's partner category)
    users       u: segment s_u, join day (a share join later: new users appear),
                activity λ_u ~ Gamma(2) * visits_per_user_day; guests have no user id

    a basket of a shopper of segment s on day d:
      1. seeds S: each released item j independently with probability b[s, j]
      2. complements: each seed i adds each released j with probability Q[i, j],
         independently (so j is added with probability 1 - Π_{i∈S} (1 - Q[i, j]))
      3. empty baskets (no seed) are not recorded (the shopper left without buying)

The **truth** of a cart ``C`` for a shopper of segment ``s`` is this law::

    P(buy j | cart C, segment s) = 1 - (1 - b[s, j]) * Π_{i∈C} (1 - Q[i, j])    (j ∉ C)

with ``b`` averaged over segments (weighted by segment shares) for guests / unknown
users, and 0 for items already in the cart. It is exact for the generator when ``C``
is the seed set of a basket.

**At scale** (``n_lines=`` or ``n_baskets=``, ``xsell-eval data generate --lines``) the same
shop fills its baskets with a model whose cost follows the lines, not baskets × catalog:
Zipf item popularity and drawn basket sizes (mean ``mean_basket_size``, 10 by default as
in Instacart); see :mod:`xsell_eval.data._synthetic_baskets` for the model and how far the
truth stays exact there.

Example:
    >>> shop = generate_shop(seed=1, n_users=200, n_items=50, n_days=30)
    >>> sorted(shop.interactions.columns)[:3]
    ['basket_id', 'item_id', 'price']
    >>> shop.truth.complements.shape
    (50, 50)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.data._synthetic_baskets import daily_baskets, draw_scale_baskets, zipf_attractiveness
from xsell_eval.errors import ConfigError, DataError

TRUTH_NPZ = "truth.npz"
TRUTH_JSON = "truth.json"
TRUTH_FORMAT = 1

_CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "bakery": ("bread", "croissant", "bagel", "muffin", "sourdough", "cake"),
    "dairy": ("milk", "yoghurt", "butter", "cheese", "cream", "kefir"),
    "fruit & veg": ("apples", "bananas", "tomatoes", "salad", "avocado", "berries"),
    "beverages": ("coffee", "tea", "juice", "lemonade", "water", "cocoa"),
    "snacks": ("crisps", "nuts", "chocolate", "cookies", "popcorn", "pretzels"),
    "household": ("detergent", "sponges", "bin bags", "kitchen roll", "bleach", "candles"),
    "personal care": ("shampoo", "toothpaste", "soap", "deodorant", "razor", "lotion"),
    "frozen": ("pizza", "ice cream", "peas", "fish fingers", "berries mix", "dumplings"),
    "pantry": ("pasta", "rice", "olive oil", "tomato sauce", "flour", "spices"),
    "pet care": ("dog food", "cat litter", "cat food", "chew toy", "bird seed", "pet shampoo"),
    "baby": ("nappies", "wipes", "baby food", "bottle", "dummy", "baby lotion"),
    "stationery": ("notebook", "pens", "envelopes", "tape", "stapler", "markers"),
    "garden": ("seeds", "compost", "gloves", "hose", "plant pot", "fertiliser"),
    "kitchenware": ("mug", "pan", "knife", "cutting board", "teapot", "bowl"),
    "electronics": ("charger", "cable", "batteries", "earphones", "power bank", "adapter"),
    "toys": ("puzzle", "building blocks", "doll", "toy car", "board game", "crayons"),
}
_ADJECTIVES = ("classic", "organic", "premium", "family", "mini", "deluxe", "fresh", "eco", "value", "artisan")


@dataclass(frozen=True, eq=False)
class ShopTruth:
    """The generator's ground truth (item and user order = the generator's index).

    Attributes:
        item_ids: external item id per truth item index.
        user_ids: external user id per truth user index.
        user_segment: segment of each user (int64).
        segment_share: share of shoppers in each segment (sums to 1).
        base_prob: (n_segments × n_items) probability that a basket of the segment has
            the item as a seed (its organic, context-free purchase probability).
        complements: CSR (n_items × n_items); ``complements[i, j]`` is the probability
            that item ``i`` in the cart makes the shopper add item ``j``.
        item_category: category index per item; ``categories`` holds their names.
        item_price: list price per item.
        item_release_day: first day the item is on sale.
        user_join_day: first day the user can shop.
        params: the generator parameters.
    """

    item_ids: np.ndarray
    user_ids: np.ndarray
    user_segment: np.ndarray
    segment_share: np.ndarray
    base_prob: np.ndarray
    complements: sp.csr_matrix
    item_category: np.ndarray
    categories: tuple[str, ...]
    item_price: np.ndarray
    item_release_day: np.ndarray
    user_join_day: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.item_ids)

    @property
    def n_segments(self) -> int:
        """Number of customer segments."""
        return int(self.base_prob.shape[0])

    @property
    def population_base(self) -> np.ndarray:
        """Segment-share-weighted base probability per item (used for guests)."""
        return np.asarray(self.segment_share @ self.base_prob, dtype=np.float64)

    def aligned(self, item_ids: np.ndarray, user_ids: np.ndarray) -> ShopTruth:
        """The truth re-indexed to another index (e.g. a :class:`Dataset`'s maps).

        Items of ``item_ids`` unknown to the truth are an error; users unknown to the
        truth get segment -1 (treated as guests).

        Raises:
            DataError: when some item is not part of the generated shop.
        """
        item_pos = pd.Index(self.item_ids).get_indexer(np.asarray(item_ids, dtype=object))
        if (item_pos < 0).any():
            bad = np.asarray(item_ids, dtype=object)[item_pos < 0][:5].tolist()
            raise DataError(
                f"the ground truth does not know {int((item_pos < 0).sum())} item(s) of this data set, e.g. {bad}; "
                "truth only applies to the data written together with it by `xsell-eval data generate`"
            )
        user_pos = pd.Index(self.user_ids).get_indexer(np.asarray(user_ids, dtype=object))
        seg = np.where(user_pos >= 0, self.user_segment[np.maximum(user_pos, 0)], -1).astype(np.int64)
        return ShopTruth(
            item_ids=np.asarray(item_ids),
            user_ids=np.asarray(user_ids),
            user_segment=seg,
            segment_share=self.segment_share,
            base_prob=self.base_prob[:, item_pos],
            complements=self.complements[item_pos][:, item_pos].tocsr(),
            item_category=self.item_category[item_pos],
            categories=self.categories,
            item_price=self.item_price[item_pos],
            item_release_day=self.item_release_day[item_pos],
            user_join_day=np.where(user_pos >= 0, self.user_join_day[np.maximum(user_pos, 0)], -1),
            params=self.params,
        )

    def segments_of(self, user_idx: np.ndarray) -> np.ndarray:
        """Segment per user index (-1 for guests, ``user_idx < 0``)."""
        u = np.asarray(user_idx, dtype=np.int64)
        out = np.full(len(u), -1, dtype=np.int64)
        known = (u >= 0) & (u < len(self.user_segment))
        out[known] = self.user_segment[u[known]]
        return out

    def accept_prob(
        self,
        context: sp.csr_matrix,
        items: np.ndarray,
        segments: np.ndarray | None = None,
        *,
        batch_size: int = 8192,
    ) -> np.ndarray:
        """True probability that a shopper with cart ``context`` buys each of ``items``.

        ``1 - (1 - b[s, j]) * Π_{i∈cart} (1 - Q[i, j])`` (see the module docstring); 0 for
        padding (``-1``) and for items already in the cart.

        Args:
            context: (n × n_items) CSR, nonzero = item in the cart.
            items: (n × k) int item indices, ``-1`` = no item.
            segments: optional segment per row (-1 = unknown → segment-share average).
            batch_size: rows per batch (bounds memory).

        Returns:
            float64 (n × k) probabilities.
        """
        items = np.asarray(items, dtype=np.int64)
        if items.ndim != 2 or items.shape[0] != context.shape[0]:
            raise DataError(f"items must be (n_rows × k) with n_rows={context.shape[0]}, got shape {items.shape}")
        if context.shape[1] != self.n_items:
            raise DataError(
                f"context has {context.shape[1]} item columns, the truth has {self.n_items}; "
                "align the truth to the data set first (ShopTruth.aligned)"
            )
        n, k = items.shape
        seg = np.full(n, -1, dtype=np.int64) if segments is None else np.asarray(segments, dtype=np.int64)
        log_keep = self.complements.copy()
        log_keep.data = np.log1p(-np.minimum(log_keep.data, 1.0 - 1e-12))
        pop = self.population_base
        out = np.zeros((n, k), dtype=np.float64)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            ctx = context[start:stop].copy()
            ctx.data = np.ones_like(ctx.data, dtype=np.float64)
            its = items[start:stop]
            valid = its >= 0
            j = np.where(valid, its, 0)
            rows = np.repeat(np.arange(stop - start), k)
            summed = (ctx @ log_keep).tocsr()
            log_no = np.asarray(summed[rows, j.ravel()]).reshape(stop - start, k)
            s = seg[start:stop]
            base = np.where((s >= 0)[:, None], self.base_prob[np.maximum(s, 0)[:, None], j], pop[j])
            p = 1.0 - (1.0 - base) * np.exp(log_no)
            in_cart = np.asarray(ctx[rows, j.ravel()]).reshape(stop - start, k) > 0
            p[~valid | in_cart] = 0.0
            out[start:stop] = p
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> list[Path]:
        """Write ``truth.npz`` (arrays) and ``truth.json`` (parameters, names)."""
        d = check_output_dir(directory, what="output directory")
        d.mkdir(parents=True, exist_ok=True)
        q = self.complements.tocsr()
        np.savez_compressed(
            d / TRUTH_NPZ,
            item_ids=np.asarray(self.item_ids, dtype=str),
            user_ids=np.asarray(self.user_ids, dtype=str),
            user_segment=self.user_segment,
            segment_share=self.segment_share,
            base_prob=self.base_prob,
            q_data=q.data,
            q_indices=q.indices,
            q_indptr=q.indptr,
            item_category=self.item_category,
            item_price=self.item_price,
            item_release_day=self.item_release_day,
            user_join_day=self.user_join_day,
        )
        meta = {
            "format": TRUTH_FORMAT,
            "kind": "xsell-eval synthetic shop ground truth",
            "categories": list(self.categories),
            "params": self.params,
            "accept_prob": "1 - (1 - base_prob[segment, j]) * prod_{i in cart} (1 - complements[i, j])",
        }
        (d / TRUTH_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        return [d / TRUTH_NPZ, d / TRUTH_JSON]


def has_truth(directory: str | Path) -> bool:
    """Whether ``directory`` holds a ground truth written by :meth:`ShopTruth.save`."""
    d = Path(directory)
    return d.is_dir() and (d / TRUTH_NPZ).is_file() and (d / TRUTH_JSON).is_file()


def truth_dir(data: str | Path | None) -> Path | None:
    """The folder holding the ground truth of a data path, or None.

    ``data`` may be the folder written by ``xsell-eval data generate`` or a file inside it
    (``shop/interactions.csv``): the path itself and its parent folder are searched. The one
    rule shared by ``xsell-eval abtest`` and ``xsell-eval run``.
    """
    if data is None or str(data) == "":
        return None
    p = Path(data)
    for d in (p, p.parent):
        if has_truth(d):
            return d
    return None


def find_truth(data: str | Path | None, dataset: Any) -> ShopTruth | None:
    """The ground truth of ``dataset`` aligned to its index: the one it carries, else the one next to ``data``."""
    t = truth_of(dataset)
    if t is not None:
        return t
    d = truth_dir(data)
    return None if d is None else load_truth(d).aligned(dataset.item_ids, dataset.user_ids)


def check_output_dir(path: str | Path, *, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be a directory to write into.

    Args:
        path: the directory (it may not exist yet).
        what: how the caller names the setting in the message (``--out``, ...).

    Returns:
        ``Path(path)``.

    Raises:
        ConfigError: ``path`` is an existing file, or one of its parent paths is a file.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} '{p}' is an existing file, not a directory; give a directory path (new or existing)")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what} '{p}' cannot be created: '{parent}' is a file, not a directory")
            break
    return p


def load_truth(directory: str | Path) -> ShopTruth:
    """Read the ground truth written by :meth:`SyntheticShop.save`.

    Raises:
        DataError: the directory has no (or an unreadable) ``truth.npz`` / ``truth.json``.
    """
    d = Path(directory)
    if not has_truth(d):
        raise DataError(
            f"{d}: no ground truth ({TRUTH_NPZ} + {TRUTH_JSON}); only data written by `xsell-eval data generate` "
            "carries one"
        )
    try:
        meta = json.loads((d / TRUTH_JSON).read_text(encoding="utf-8"))
        z = np.load(d / TRUTH_NPZ, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{d}: cannot read the ground truth: {exc}") from exc
    if meta.get("format") != TRUTH_FORMAT:
        raise DataError(f"{d / TRUTH_JSON}: unsupported truth format {meta.get('format')!r}, expected {TRUTH_FORMAT}")
    n_items = len(z["item_ids"])
    q = sp.csr_matrix((z["q_data"], z["q_indices"], z["q_indptr"]), shape=(n_items, n_items))
    return ShopTruth(
        item_ids=z["item_ids"].astype(object),
        user_ids=z["user_ids"].astype(object),
        user_segment=z["user_segment"].astype(np.int64),
        segment_share=z["segment_share"],
        base_prob=z["base_prob"],
        complements=q,
        item_category=z["item_category"].astype(np.int64),
        categories=tuple(meta["categories"]),
        item_price=z["item_price"],
        item_release_day=z["item_release_day"].astype(np.int64),
        user_join_day=z["user_join_day"].astype(np.int64),
        params=dict(meta.get("params", {})),
    )


@dataclass(frozen=True, eq=False)
class SyntheticShop:
    """Generated interactions + catalog + ground truth.

    Attributes:
        interactions: canonical columns (``user_id`` None for guests; string ids).
        catalog: ``item_id``, ``title``, ``description``, ``category``, ``price``.
        truth: the generator's :class:`ShopTruth` (in the generator's item/user order).
        params: the generator parameters (also inside ``truth.params``).
    """

    interactions: pd.DataFrame
    catalog: pd.DataFrame
    truth: ShopTruth
    params: dict[str, Any]

    def to_dataset(self, name: str = "synthetic") -> Any:
        """A :class:`~xsell_eval.data.Dataset`; ``meta["truth"]`` holds the truth aligned to its index."""
        from xsell_eval.data.dataset import Dataset

        ds = Dataset.from_frames(self.interactions, self.catalog, name=name, meta={"generator": self.params})
        ds.meta["truth"] = self.truth.aligned(ds.item_ids, ds.user_ids)
        return ds

    def save(self, directory: str | Path, *, fmt: str = "csv") -> list[Path]:
        """Write ``interactions``, ``catalog`` (``fmt``: ``csv`` or ``parquet``), ``truth.npz`` and ``truth.json``.

        Files of the other format left in ``directory`` by an earlier ``save`` are replaced
        (removed). Parquet keeps the ids dictionary-encoded and the timestamps typed (no text parsing
        when the shop is loaded back), which is what large shops want.

        Returns:
            The written paths.

        Raises:
            ConfigError: ``directory`` is an existing file (or lies under one), or ``fmt`` is unknown.
        """
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"format must be 'csv' or 'parquet', got {fmt!r}")
        d = check_output_dir(directory, what="output directory")
        d.mkdir(parents=True, exist_ok=True)
        inter_path, cat_path = d / f"interactions.{fmt}", d / f"catalog.{fmt}"
        for stale in (d / "interactions.csv", d / "catalog.csv", d / "interactions.parquet", d / "catalog.parquet"):
            if stale not in (inter_path, cat_path) and stale.is_file():
                stale.unlink()  # one shop per folder: the other format's files would be detected first
        if fmt == "parquet":
            # one row group: the dictionary of the basket ids is written once, not once per group
            rows = max(1, len(self.interactions))
            self.interactions.to_parquet(inter_path, index=False, engine="pyarrow", row_group_size=rows)
            self.catalog.to_parquet(cat_path, index=False, engine="pyarrow")
        else:
            inter = self.interactions.copy()
            inter[C.TIMESTAMP] = inter[C.TIMESTAMP].dt.strftime("%Y-%m-%d %H:%M:%S")
            inter.to_csv(inter_path, index=False)
            self.catalog.to_csv(cat_path, index=False)
        return [inter_path, cat_path, *self.truth.save(d)]


def truth_of(dataset: Any) -> ShopTruth | None:
    """The ground truth carried by a dataset (``meta["truth"]``), aligned to its index, or None."""
    meta = getattr(dataset, "meta", None) or {}
    truth = meta.get("truth")
    if not isinstance(truth, ShopTruth):
        return None
    if len(truth.item_ids) != dataset.n_items or not np.array_equal(
        np.asarray(truth.item_ids, dtype=object), np.asarray(dataset.item_ids, dtype=object)
    ):
        return truth.aligned(dataset.item_ids, dataset.user_ids)
    return truth


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_share(name: str, value: float, *, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= float(value) < high):
        raise ConfigError(f"{name} must be a number in [0, {high}), got {value!r}")
    return float(value)


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(4, len(str(n)))
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def generate_shop(
    *,
    seed: int = 0,
    n_users: int = 2000,
    n_items: int = 300,
    n_days: int = 120,
    n_categories: int | None = None,
    n_segments: int = 4,
    complements_per_item: int = 3,
    complement_prob: tuple[float, float] = (0.05, 0.35),
    mean_seeds: float = 2.0,
    visits_per_user_day: float = 0.05,
    new_user_share: float = 0.3,
    new_item_share: float = 0.15,
    guest_share: float = 0.05,
    start: str = "2024-01-01",
    n_lines: int | None = None,
    n_baskets: int | None = None,
    mean_basket_size: float = 10.0,
    basket_dispersion: float = 2.0,
    zipf_exponent: float = 0.75,
) -> SyntheticShop:
    """Generate a seeded synthetic shop with a known complement structure.

    Args:
        seed: seed of every random draw.
        n_users: number of registered users (guests come on top).
        n_items: number of items.
        n_days: number of days of history.
        n_categories: number of categories (named after common retail departments); default
            ``min(10, n_items)``.
        n_segments: number of customer segments (different category tastes).
        complements_per_item: complements drawn per item (duplicates merged, so at most this many).
        complement_prob: (low, high) of the uniform complement probabilities ``Q[i, j]``.
        mean_seeds: expected number of seed items per basket (before dropping empty baskets).
        visits_per_user_day: mean baskets per active user per day.
        new_user_share: share of users who join after day 0 (uniformly over the period).
        new_item_share: share of items released after day 0 (uniformly over the period).
        guest_share: share of baskets bought by guests (no user id).
        start: date of day 0.
        n_lines: target number of lines (about ``n_lines / mean_basket_size`` baskets);
            switches to the **scale** basket model of :mod:`xsell_eval.data._synthetic_baskets`
            (Zipf popularity, drawn basket sizes, cost proportional to the lines). The
            result has about this many lines (duplicates within a basket are merged).
        n_baskets: number of baskets drawn (scale model); with ``n_lines`` too, it wins.
        mean_basket_size: scale model: target mean lines per basket (Instacart: 10.1).
        basket_dispersion: scale model: negative-binomial shape ``r`` of the seed count
            (smaller = more spread-out basket sizes).
        zipf_exponent: scale model: item popularity ``rank ** -zipf_exponent``.

    Returns:
        The :class:`SyntheticShop` (use ``.to_dataset()`` for a Dataset, ``.save(dir)`` to write it).

    Raises:
        ConfigError: a parameter is out of range (the message names it).
    """
    seed = _check_int("seed", seed, 0)
    n_users = _check_int("n_users", n_users, 1)
    if isinstance(mean_seeds, bool) or not isinstance(mean_seeds, (int, float)) or float(mean_seeds) <= 0.0:
        raise ConfigError(f"mean_seeds must be a positive number, got {mean_seeds!r}")
    # more items than seed items per basket on average: with the default 2 seeds, at least 3 items
    min_items = max(2, math.floor(float(mean_seeds)) + 1)
    n_items = _check_int("n_items", n_items, 2)
    if n_items < min_items:
        raise ConfigError(
            f"n_items (`xsell-eval data generate --items`) must be at least {min_items}, got {n_items}: a basket "
            f"draws {float(mean_seeds):g} seed item(s) on average (mean_seeds), so the catalog needs more items "
            "than that"
        )
    n_days = _check_int("n_days", n_days, 1)
    n_categories = _check_int("n_categories", min(10, n_items) if n_categories is None else n_categories, 1)
    n_segments = _check_int("n_segments", n_segments, 1)
    complements_per_item = _check_int("complements_per_item", complements_per_item, 0)
    if n_categories > n_items:
        raise ConfigError(f"n_categories must be <= n_items ({n_items}), got {n_categories}")
    lo, hi = (float(x) for x in complement_prob)
    if not (0.0 <= lo <= hi < 1.0):
        raise ConfigError(f"complement_prob must be (low, high) with 0 <= low <= high < 1, got {complement_prob!r}")
    if not (0.0 < float(visits_per_user_day) <= 5.0):
        raise ConfigError(f"visits_per_user_day must be in (0, 5], got {visits_per_user_day!r}")
    new_user_share = _check_share("new_user_share", new_user_share)
    new_item_share = _check_share("new_item_share", new_item_share)
    guest_share = _check_share("guest_share", guest_share, high=0.95)
    scale = n_lines is not None or n_baskets is not None
    if scale:
        if n_baskets is None:
            n_lines = _check_int("n_lines", n_lines if n_lines is not None else 0, 1)
        n_baskets = _check_int("n_baskets", n_baskets, 1) if n_baskets is not None else None
        for name, value in (
            ("mean_basket_size", mean_basket_size),
            ("basket_dispersion", basket_dispersion),
            ("zipf_exponent", zipf_exponent),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value) > 0.0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if float(mean_basket_size) < 1.0:
            raise ConfigError(f"mean_basket_size must be >= 1, got {mean_basket_size!r}")
        if n_baskets is None:
            n_baskets = max(1, round(int(n_lines or 0) / float(mean_basket_size)))
    try:
        day0 = pd.Timestamp(start)
    except (ValueError, TypeError):
        raise ConfigError(f"start must be a date like 2024-01-01, got {start!r}") from None

    params: dict[str, Any] = {
        "seed": seed,
        "n_users": n_users,
        "n_items": n_items,
        "n_days": n_days,
        "n_categories": n_categories,
        "n_segments": n_segments,
        "complements_per_item": complements_per_item,
        "complement_prob": [lo, hi],
        "mean_seeds": float(mean_seeds),
        "visits_per_user_day": float(visits_per_user_day),
        "new_user_share": new_user_share,
        "new_item_share": new_item_share,
        "guest_share": guest_share,
        "start": str(day0.date()),
    }
    if scale:
        params.update(
            model="scale",
            n_lines=n_lines,
            n_baskets=n_baskets,
            mean_basket_size=float(mean_basket_size),
            basket_dispersion=float(basket_dispersion),
            zipf_exponent=float(zipf_exponent),
        )
    rng = np.random.default_rng([seed, 20240101])

    # ---- catalog: categories, prices, attractiveness, release days
    names = list(_CATEGORY_NOUNS)
    categories = tuple(names[c] if c < len(names) else f"category {c + 1}" for c in range(n_categories))
    item_cat = np.sort(np.r_[np.arange(n_categories), rng.integers(0, n_categories, n_items - n_categories)])
    item_cat = item_cat[rng.permutation(n_items)]
    price_level = rng.uniform(np.log(1.5), np.log(40.0), n_categories)
    price = np.round(np.maximum(0.5, np.exp(rng.normal(price_level[item_cat], 0.35))), 2)
    attract = zipf_attractiveness(rng, n_items, zipf_exponent) if scale else rng.lognormal(0.0, 0.8, n_items)
    release = np.where(rng.random(n_items) < new_item_share, rng.integers(1, n_days + 1, n_items), 0)
    release[np.argmax(attract)] = 0  # at least one item is on sale from day 0

    # ---- segments and base purchase probabilities
    seg_share = rng.dirichlet(np.full(n_segments, 5.0))
    taste = rng.dirichlet(np.full(n_categories, 0.7), size=n_segments)
    cat_attract = np.bincount(item_cat, weights=attract, minlength=n_categories)
    within = attract / cat_attract[item_cat]
    base = np.minimum(0.6, float(mean_seeds) * taste[:, item_cat] * within[None, :])

    # ---- complement structure: mostly the partner category, sometimes the same category
    order = np.argsort(item_cat, kind="stable")
    cat_start = np.searchsorted(item_cat[order], np.arange(n_categories))
    cat_count = np.bincount(item_cat, minlength=n_categories)
    cycle = rng.permutation(n_categories)
    partner = np.empty(n_categories, dtype=np.int64)
    partner[cycle] = np.roll(cycle, -1)
    m = complements_per_item
    src = np.repeat(np.arange(n_items), m)
    tgt_cat = np.where(rng.random(n_items * m) < 0.7, partner[item_cat[src]], item_cat[src])
    pick = cat_start[tgt_cat] + (rng.random(n_items * m) * cat_count[tgt_cat]).astype(np.int64)
    dst = order[np.minimum(pick, cat_start[tgt_cat] + cat_count[tgt_cat] - 1)]
    keep = dst != src
    pairs = np.unique(src[keep] * n_items + dst[keep])
    qi, qj = pairs // n_items, pairs % n_items
    qp = rng.uniform(lo, hi, len(pairs))
    comp = sp.csr_matrix((qp, (qi, qj)), shape=(n_items, n_items))
    comp.sort_indices()

    # ---- users
    user_seg = rng.choice(n_segments, size=n_users, p=seg_share)
    join = np.where(rng.random(n_users) < new_user_share, rng.integers(1, n_days + 1, n_users), 0)
    activity = rng.gamma(2.0, 0.5, n_users) * float(visits_per_user_day)
    guest_rate = guest_share / (1.0 - guest_share) * float(activity.sum())

    if scale:
        drawn = draw_scale_baskets(
            rng,
            n_baskets=int(n_baskets or 1),
            mean_basket_size=float(mean_basket_size),
            basket_dispersion=float(basket_dispersion),
            attract=attract,
            taste=taste,
            item_cat=item_cat,
            release=release,
            comp=comp,
            user_seg=user_seg,
            seg_share=seg_share,
            join=join,
            activity=activity,
            guest_share=guest_share,
            n_days=n_days,
        )
        bu, bd, lb, li = drawn.basket_user, drawn.basket_day, drawn.line_basket, drawn.line_item
        n_b, base = len(bu), drawn.base_prob
        params["mean_seeds"] = round(drawn.mean_seeds, 6)
    else:
        bu, bd, lb, li, n_b = daily_baskets(
            rng,
            n_days,
            n_users,
            n_items,
            n_segments,
            join,
            activity,
            guest_rate,
            user_seg,
            seg_share,
            release,
            base,
            comp,
        )
    if n_b == 0:
        raise DataError("the generator produced no basket; raise n_users, n_days or visits_per_user_day")
    seconds = rng.integers(8 * 3600, 22 * 3600, n_b)
    b_time = day0.to_datetime64() + (bd * 86400 + seconds).astype("timedelta64[s]")

    item_ids = _ids("I", n_items)
    user_ids = _ids("U", n_users)
    basket_ids = _ids("B", n_b)
    if scale:
        # categorical ids (integer codes): a 30M-line shop stays a few hundred MB and is written to Parquet as is
        interactions = pd.DataFrame(
            {
                C.USER: pd.Categorical.from_codes(bu[lb], categories=pd.Index(user_ids, dtype=object)),
                C.BASKET: pd.Categorical.from_codes(lb, categories=pd.Index(basket_ids, dtype=object)),
                C.ITEM: pd.Categorical.from_codes(li, categories=pd.Index(item_ids, dtype=object)),
                C.TIMESTAMP: b_time[lb].astype("datetime64[ns]"),
                C.QUANTITY: (1 + rng.poisson(0.25, len(lb))).astype(np.float64),
                C.PRICE: price[li],
            }
        )
    else:
        user_col = np.where(bu[lb] >= 0, user_ids[np.maximum(bu[lb], 0)], None)
        interactions = pd.DataFrame(
            {
                C.USER: pd.Series(user_col, dtype=object),
                C.BASKET: basket_ids[lb],
                C.ITEM: item_ids[li],
                C.TIMESTAMP: pd.Series(b_time[lb]).astype("datetime64[ns]"),
                C.QUANTITY: (1 + rng.poisson(0.25, len(lb))).astype(np.float64),
                C.PRICE: price[li],
            }
        )
    adjective = np.asarray(_ADJECTIVES, dtype=object)[rng.integers(0, len(_ADJECTIVES), n_items)]
    nouns = [_CATEGORY_NOUNS.get(categories[c], ("product",)) for c in range(n_categories)]
    noun_pick = (rng.random(n_items) * np.array([len(nouns[c]) for c in item_cat])).astype(np.int64)
    noun = np.array([nouns[c][p] for c, p in zip(item_cat.tolist(), noun_pick.tolist(), strict=True)], dtype=object)
    cat_name = np.asarray(categories, dtype=object)[item_cat]
    catalog = pd.DataFrame(
        {
            C.ITEM: item_ids,
            C.TITLE: adjective + " " + noun,
            C.DESCRIPTION: adjective + " " + noun + " from our " + cat_name + " range",
            C.CATEGORY: cat_name,
            C.PRICE: price,
        }
    )
    truth = ShopTruth(
        item_ids=item_ids,
        user_ids=user_ids,
        user_segment=user_seg.astype(np.int64),
        segment_share=seg_share,
        base_prob=base,
        complements=comp,
        item_category=item_cat.astype(np.int64),
        categories=categories,
        item_price=price,
        item_release_day=release.astype(np.int64),
        user_join_day=join.astype(np.int64),
        params=params,
    )
    return SyntheticShop(interactions=interactions, catalog=catalog, truth=truth, params=params)
