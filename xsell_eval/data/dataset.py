"""The :class:`Dataset`: interactions + catalog + index maps + shared sparse matrices.

Built once from canonical interactions (see :class:`xsell_eval.columns.Columns`);
every split, protocol and adapter works on integer indices into the same maps, so a
subset (e.g. the training period) has the same item and user index as the whole::

    full dataset      item index 0 .. n_items-1   (interactions ∪ catalog)
       ├── train      same maps, fewer rows
       └── test       same maps, fewer rows

Matrices are built lazily and cached (``functools.cached_property``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, DataError

_NO_USER = -1


def _as_str_ids(values: pd.Series) -> pd.Series:
    """IDs as strings; missing stays missing. ``17850.0`` float artefacts become ``17850``."""
    if pd.api.types.is_float_dtype(values):
        as_int = values.astype("Int64")
        return as_int.astype("string").astype(object).where(values.notna(), None)
    out = values.astype("string").str.strip()
    out = out.where(out.notna() & (out != ""), None)
    return out.astype(object)


def _id_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)``: each row's id is ``uniques[code]`` (as :func:`_as_str_ids` renders it), -1 = missing.

    Works on the distinct values only: a categorical (what the loaders produce) never
    renders one string per row, so a 30M-line table costs its number of distinct ids.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        raw_codes = values.cat.codes.to_numpy()
        cats = _as_str_ids(pd.Series(values.cat.categories))
        new_codes, uniq = pd.factorize(cats, use_na_sentinel=True)  # distinct categories may render alike
        lookup = np.append(new_codes, -1)
        codes = lookup[np.where(raw_codes >= 0, raw_codes, len(new_codes))]
    else:
        plain_codes, uniq = pd.factorize(_as_str_ids(values), use_na_sentinel=True)
        codes = np.asarray(plain_codes)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniq, dtype=object)


def _users_by_index(users: pd.DataFrame | None, user_ids: np.ndarray, source: str) -> pd.DataFrame | None:
    """Per-user attributes aligned with the user index (row ``u`` = ``user_ids[u]``); None without attributes."""
    if users is None:
        return None
    if C.USER not in users.columns:
        raise DataError(f"{source}: per-user attributes need a '{C.USER}' column, found {list(users.columns)}")
    attrs = [c for c in users.columns if c != C.USER]
    if not attrs:
        return None
    ids = _as_str_ids(users[C.USER].reset_index(drop=True))
    first = ids.notna().to_numpy() & ~ids.duplicated(keep="first").to_numpy()
    pos = pd.Index(ids[first]).get_indexer(user_ids)
    hit = pos >= 0
    out = pd.DataFrame({C.USER: user_ids})
    for col in attrs:
        text = users[col].reset_index(drop=True)[first].astype("string").str.strip()
        given = text.astype(object).to_numpy(dtype=object, copy=True)
        given[(text.isna() | text.eq("").fillna(True)).to_numpy(dtype=bool)] = None  # blank: unknown
        values = np.full(len(user_ids), None, dtype=object)
        values[hit] = given[pos[hit]]
        out[col] = pd.Series(values, dtype=object)  # object keeps None (pandas would infer str with NaN)
    return out


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions, optional catalog and the integer index maps shared by all stages.

    Attributes:
        interactions: one row per purchased line with the canonical columns plus
            ``user_idx`` (-1 for guests), ``item_idx`` and ``basket_idx``.
        catalog: one row per item index (``len(catalog) == n_items``, row ``i`` is item
            ``i``) with ``item_id``, ``title``, ``description``, ``category``, ``price``;
            missing text is ``""``, missing price is NaN.
        user_ids, item_ids, basket_ids: index -> external string id.
        name: a short human name ("online_retail", "synthetic", a file name).
        cleaning: what the cleaning step dropped (``CleaningReport`` or ``None``).
        has_catalog_text: whether the catalog came with any title/description/category.
        users: per-user attributes, one row per user index (``len(users) == n_users``, row ``u``
            is user ``u``): ``user_id`` plus the attributes the data carries (``country``: see
            :data:`~xsell_eval.columns.Columns.USER_ATTRIBUTES`; None where unknown), or ``None``
            when it carries none. Filled by the loader in its reading pass, so no later stage
            reads the source file again.
    """

    interactions: pd.DataFrame
    catalog: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    basket_ids: np.ndarray
    name: str = "dataset"
    cleaning: Any = None
    has_catalog_text: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    users: pd.DataFrame | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        catalog: pd.DataFrame | None = None,
        *,
        name: str = "dataset",
        cleaning: Any = None,
        source: str = "interactions",
        meta: dict[str, Any] | None = None,
        users: pd.DataFrame | None = None,
    ) -> Dataset:
        """Validate canonical frames and build the index maps.

        Args:
            interactions: canonical columns (``basket_id`` and ``item_id`` required;
                ``user_id``, ``timestamp``, ``quantity`` (default 1) and ``price``
                (default NaN) optional).
            catalog: optional canonical catalog; items only in the catalog still get
                an index (content-based adapters can recommend them).
            name: dataset name for reports.
            cleaning: the cleaning report to carry along.
            source: file name used in error messages.
            users: optional per-user attributes: ``user_id`` plus attribute columns (e.g.
                ``country``), one row per user id (a repeated id: the first row counts); users
                without interactions are left out, users without a row get None.

        Raises:
            DataError: a required column is missing, or there are no rows.

        Example:
            >>> import pandas as pd
            >>> ds = Dataset.from_frames(pd.DataFrame({"basket_id": ["b1", "b1"], "item_id": ["x", "y"]}))
            >>> ds.n_items, ds.n_baskets
            (2, 1)
        """
        missing = [c for c in C.REQUIRED_INTERACTIONS if c not in interactions.columns]
        if missing:
            raise DataError(
                f"{source}: missing required column(s) {missing}; expected at least "
                f"{list(C.REQUIRED_INTERACTIONS)}, found {list(interactions.columns)}"
            )
        if len(interactions) == 0:
            raise DataError(f"{source}: no interactions (0 rows) — nothing to evaluate")

        df = pd.DataFrame(index=pd.RangeIndex(len(interactions)))
        codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for col in (C.BASKET, C.ITEM):
            codes[col] = _id_codes(interactions[col].reset_index(drop=True))
            bad = codes[col][0] < 0
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(f"{source}: column '{col}' is empty in {int(bad.sum())} row(s), first at row {row}")
            df[col] = pd.Series(codes[col][1][codes[col][0]], dtype=object)  # shared strings: 8 bytes per row
        if C.USER in interactions.columns:
            u_codes, u_uniq = _id_codes(interactions[C.USER].reset_index(drop=True))
            raw_users = interactions[C.USER]
            no_user: Any = None if pd.api.types.is_float_dtype(raw_users) else pd.NA  # as _as_str_ids renders it
            line_users = np.full(len(df), no_user, dtype=object)
            known = u_codes >= 0
            line_users[known] = u_uniq[u_codes[known]]
            df[C.USER] = pd.Series(line_users, dtype=object)
        else:
            u_codes, u_uniq = np.full(len(df), -1, dtype=np.int64), np.zeros(0, dtype=object)
            df[C.USER] = None
        if C.TIMESTAMP in interactions.columns:
            ts = interactions[C.TIMESTAMP].reset_index(drop=True)
            if not pd.api.types.is_datetime64_any_dtype(ts):
                raise DataError(f"{source}: column '{C.TIMESTAMP}' must be parsed datetimes, got dtype {ts.dtype}")
            if getattr(ts.dt, "tz", None) is not None:
                ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
            df[C.TIMESTAMP] = ts.astype("datetime64[ns]")
        else:
            df[C.TIMESTAMP] = pd.NaT
        df[C.QUANTITY] = (
            pd.to_numeric(interactions[C.QUANTITY].reset_index(drop=True), errors="raise").astype("float64")
            if C.QUANTITY in interactions.columns
            else 1.0
        )
        df[C.PRICE] = (
            pd.to_numeric(interactions[C.PRICE].reset_index(drop=True), errors="raise").astype("float64")
            if C.PRICE in interactions.columns
            else np.nan
        )

        if C.RATING in interactions.columns:
            rating = interactions[C.RATING].reset_index(drop=True)
            df[C.RATING] = pd.to_numeric(rating, errors="raise").astype("float64")

        cat_in = catalog if catalog is not None else pd.DataFrame({C.ITEM: pd.Series([], dtype=object)})
        if C.ITEM not in cat_in.columns:
            raise DataError(f"catalog: missing column '{C.ITEM}', found {list(cat_in.columns)}")
        cat_in = cat_in.copy()
        cat_in[C.ITEM] = _as_str_ids(cat_in[C.ITEM])
        cat_in = cat_in.dropna(subset=[C.ITEM]).drop_duplicates(C.ITEM, keep="first")

        def used(col_codes: np.ndarray, uniq: np.ndarray) -> np.ndarray:
            return uniq[np.unique(col_codes[col_codes >= 0])]

        i_codes, i_uniq = codes[C.ITEM]
        b_codes, b_uniq = codes[C.BASKET]
        item_ids = np.array(sorted(set(used(i_codes, i_uniq)).union(cat_in[C.ITEM])), dtype=object)
        user_ids = np.array(sorted(used(u_codes, u_uniq)), dtype=object)
        basket_ids = np.array(sorted(used(b_codes, b_uniq)), dtype=object)

        item_index = pd.Index(item_ids)
        df[C.ITEM_IDX] = item_index.get_indexer(i_uniq).astype(np.int64)[i_codes]
        df[C.BASKET_IDX] = pd.Index(basket_ids).get_indexer(b_uniq).astype(np.int64)[b_codes]
        u_pos = np.append(pd.Index(user_ids).get_indexer(u_uniq).astype(np.int64), -1)
        df[C.USER_IDX] = u_pos[np.where(u_codes >= 0, u_codes, len(u_uniq))]

        cat = pd.DataFrame({C.ITEM: item_ids})
        has_text = False
        cat_idx = item_index.get_indexer(cat_in[C.ITEM])
        for col in (C.TITLE, C.DESCRIPTION, C.CATEGORY):
            values = np.full(len(item_ids), "", dtype=object)
            if col in cat_in.columns:
                text = cat_in[col].astype("string").fillna("").astype(object).to_numpy()
                values[cat_idx] = text
                has_text = has_text or bool((text != "").any())
            cat[col] = values
        price = np.full(len(item_ids), np.nan)
        if C.PRICE in cat_in.columns:
            price[cat_idx] = pd.to_numeric(cat_in[C.PRICE], errors="coerce").to_numpy(dtype=float)
        cat[C.PRICE] = price

        return cls(
            interactions=df,
            catalog=cat,
            user_ids=user_ids,
            item_ids=item_ids,
            basket_ids=basket_ids,
            name=name,
            cleaning=cleaning,
            has_catalog_text=has_text,
            meta=dict(meta or {}),
            users=_users_by_index(users, user_ids, source),
        )

    def subset(self, mask: np.ndarray | pd.Series, *, name: str | None = None) -> Dataset:
        """Rows where ``mask`` is true, with the *same* index maps (no re-indexing)."""
        rows = self.interactions.loc[np.asarray(mask, dtype=bool)].reset_index(drop=True)
        return Dataset(
            interactions=rows,
            catalog=self.catalog,
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            basket_ids=self.basket_ids,
            name=name or self.name,
            cleaning=self.cleaning,
            has_catalog_text=self.has_catalog_text,
            meta=self.meta,
            users=self.users,
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_users(self) -> int:
        """Size of the user index (whole dataset, not only this subset)."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Size of the item index (interactions ∪ catalog of the whole dataset)."""
        return len(self.item_ids)

    @property
    def n_baskets(self) -> int:
        """Size of the basket index (whole dataset)."""
        return len(self.basket_ids)

    @property
    def has_users(self) -> bool:
        """Whether any line of this subset has a known user."""
        return bool((self.interactions[C.USER_IDX].to_numpy() >= 0).any())

    @property
    def has_timestamps(self) -> bool:
        """Whether every line has a timestamp."""
        ts = self.interactions[C.TIMESTAMP]
        return bool(len(ts)) and bool(ts.notna().all())

    @property
    def has_ratings(self) -> bool:
        """Whether the interactions carry an explicit ``rating`` column (e.g. MovieLens)."""
        return C.RATING in self.interactions.columns

    @property
    def user_country(self) -> np.ndarray | None:
        """Each user's country by user index (object array, None: unknown), or None when the data has none."""
        if self.users is None or C.COUNTRY not in self.users.columns:
            return None
        return self.users[C.COUNTRY].to_numpy(dtype=object)

    @property
    def has_prices(self) -> bool:
        """Whether every line has a finite price."""
        return bool(np.isfinite(self.interactions[C.PRICE].to_numpy()).all())

    # ------------------------------------------------------------------ derived tables
    @cached_property
    def baskets(self) -> pd.DataFrame:
        """One row per basket present in this subset, sorted by (timestamp, basket_idx).

        Columns: ``basket_idx``, ``user_idx``, ``timestamp`` (first line), ``n_items``
        (distinct items), ``value`` (sum of price × quantity, NaN when prices unknown).
        """
        df = self.interactions
        value = df[C.PRICE].to_numpy() * df[C.QUANTITY].to_numpy()
        g = pd.DataFrame(
            {
                C.BASKET_IDX: df[C.BASKET_IDX].to_numpy(),
                C.USER_IDX: df[C.USER_IDX].to_numpy(),
                C.TIMESTAMP: df[C.TIMESTAMP].to_numpy(),
                C.ITEM_IDX: df[C.ITEM_IDX].to_numpy(),
                "value": value,
            }
        ).groupby(C.BASKET_IDX, sort=True)
        out = pd.DataFrame(
            {
                C.USER_IDX: g[C.USER_IDX].first(),
                C.TIMESTAMP: g[C.TIMESTAMP].min(),
                "n_items": g[C.ITEM_IDX].nunique(),
                "value": g["value"].sum(min_count=1),
            }
        ).reset_index()
        return out.sort_values([C.TIMESTAMP, C.BASKET_IDX], kind="stable").reset_index(drop=True)

    @cached_property
    def basket_item(self) -> sp.csr_matrix:
        """Binary basket × item CSR (n_baskets × n_items); rows of absent baskets are empty."""
        df = self.interactions
        m = sp.csr_matrix(
            (np.ones(len(df), dtype=np.float32), (df[C.BASKET_IDX].to_numpy(), df[C.ITEM_IDX].to_numpy())),
            shape=(self.n_baskets, self.n_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    @cached_property
    def user_item(self) -> sp.csr_matrix:
        """User × item CSR; value = number of this subset's baskets of the user containing the item."""
        df = self.interactions
        known = df[C.USER_IDX].to_numpy() >= 0
        pairs = pd.DataFrame(
            {
                "u": df[C.USER_IDX].to_numpy()[known],
                "b": df[C.BASKET_IDX].to_numpy()[known],
                "i": df[C.ITEM_IDX].to_numpy()[known],
            }
        ).drop_duplicates()
        m = sp.csr_matrix(
            (np.ones(len(pairs), dtype=np.float32), (pairs["u"].to_numpy(), pairs["i"].to_numpy())),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        return m

    @cached_property
    def item_basket_count(self) -> np.ndarray:
        """Number of this subset's baskets containing each item (length n_items)."""
        return np.asarray(self.basket_item.sum(axis=0)).ravel().astype(np.int64)

    @cached_property
    def user_basket_count(self) -> np.ndarray:
        """Number of this subset's baskets of each user (length n_users)."""
        b = self.baskets
        u = b[C.USER_IDX].to_numpy()
        return np.bincount(u[u >= 0], minlength=self.n_users).astype(np.int64)

    @cached_property
    def item_price(self) -> np.ndarray:
        """Per-item unit price: median price in this subset, else the catalog price, else NaN."""
        df = self.interactions
        med = df.groupby(C.ITEM_IDX)[C.PRICE].median()
        price = self.catalog[C.PRICE].to_numpy(dtype=float).copy()
        price[med.index.to_numpy()] = np.where(np.isfinite(med.to_numpy()), med.to_numpy(), price[med.index.to_numpy()])
        return price

    @cached_property
    def item_category(self) -> np.ndarray:
        """Integer category code per item (-1 when unknown), from the catalog."""
        cats = self.catalog[C.CATEGORY].to_numpy()
        codes, _ = pd.factorize(pd.Series(cats).replace("", None), sort=True)
        return codes.astype(np.int64)

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (first 16 hex) of the canonical interactions and catalog: identifies the data."""
        h = hashlib.sha256()
        cols = [C.USER, C.BASKET, C.ITEM, C.TIMESTAMP, C.QUANTITY, C.PRICE]
        h.update(pd.util.hash_pandas_object(self.interactions[cols], index=False).to_numpy().tobytes())
        h.update(pd.util.hash_pandas_object(self.catalog, index=False).to_numpy().tobytes())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, lines={len(self.interactions)}, users={self.n_users}, "
            f"items={self.n_items}, baskets={self.n_baskets})"
        )


def baskets_before(ds: Dataset, before: str | None) -> Dataset:
    """The dataset, or only its lines of baskets that start strictly before ``before`` (``rules mine --before``).

    Raises:
        ConfigError: ``before`` is not a date, or the dataset has no timestamps.
        DataError: no basket starts before it.
    """
    import pandas as pd

    from xsell_eval.errors import DataError

    if before is None:
        return ds
    try:
        cutoff = pd.Timestamp(before)
    except (ValueError, TypeError):
        raise ConfigError(f"--before must be a date such as 2011-09-09, got {before!r}") from None
    if cutoff.tzinfo is not None:
        cutoff = cutoff.tz_convert("UTC").tz_localize(None)
    if not ds.has_timestamps:
        raise ConfigError(
            f"--before needs timestamps, but dataset '{ds.name}' has none; drop --before to mine all baskets"
        )
    basket_start = ds.interactions.groupby(C.BASKET_IDX)[C.TIMESTAMP].transform("min")
    mask = (basket_start < cutoff).to_numpy()
    if not mask.any():
        first = ds.interactions[C.TIMESTAMP].min()
        raise DataError(f"no basket of dataset '{ds.name}' starts before {cutoff} (the first starts at {first})")
    return ds.subset(mask)
