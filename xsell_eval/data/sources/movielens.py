"""MovieLens ratings (u.data, ratings.csv, ratings.dat) as per-(user, day) baskets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    LoadOptions,
    RawData,
    _check_ids,
    _find,
    _finish_lines,
    _ids,
    _missing_column,
    _name,
    _numeric,
    _peek_columns,
    _read_catalog_file,
    _read_table,
    _read_table_typed,
    _require_file,
    _resolve,
    _suffix,
    _text,
    _where,
)
from xsell_eval.errors import DataError

_ML_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def _ml_catalog(folder: Path) -> tuple[pd.DataFrame | None, str]:
    uitem = _find(folder, ["u.item"])
    if uitem is not None:
        try:
            df = pd.read_csv(uitem, sep="|", header=None, encoding="latin-1", dtype="string", keep_default_na=False)
        except Exception as exc:
            raise DataError(f"{uitem.name}: cannot read as '|'-separated MovieLens items: {exc}") from None
        if df.shape[1] < 5 + len(_ML_GENRES):
            raise DataError(f"{uitem.name}: expected {5 + len(_ML_GENRES)} '|'-separated fields, got {df.shape[1]}")
        flags = df.iloc[:, 5 : 5 + len(_ML_GENRES)].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() > 0
        genre_names = np.array(_ML_GENRES, dtype=object)
        long = pd.DataFrame({"row": np.nonzero(flags)[0], "g": genre_names[np.nonzero(flags)[1]]})
        joined = long.groupby("row")["g"].agg(" ".join).reindex(range(len(df)), fill_value="")
        first = long.drop_duplicates("row").set_index("row")["g"].reindex(range(len(df)), fill_value="")
        cat = pd.DataFrame(
            {
                C.ITEM: _ids(df[0]).to_numpy(),
                C.TITLE: df[1].to_numpy(),
                C.DESCRIPTION: joined.to_numpy(),
                C.CATEGORY: first.to_numpy(),
            }
        )
        return cat, "catalog from u.item: category = first listed genre, description = all genres"
    movies = _find(folder, ["movies.csv", "movies.dat"])
    if movies is None:
        return None, "no movies file (u.item / movies.csv) next to the ratings; no catalog text"
    if movies.name == "movies.dat":
        try:
            df = pd.read_csv(
                movies,
                sep="::",
                header=None,
                names=["movieId", "title", "genres"],
                engine="python",
                encoding="latin-1",
                dtype="string",
            )
        except Exception as exc:
            raise DataError(f"{movies.name}: cannot read as '::'-separated MovieLens movies: {exc}") from None
    else:
        df = _read_table(movies, dtype="string")
    for col in ("movieId", "title", "genres"):
        if col not in df.columns:
            raise _missing_column(movies.name, col, list(df.columns))
    genres = _text(df["genres"]).astype("string").fillna("")
    cat = pd.DataFrame(
        {
            C.ITEM: _ids(df["movieId"]).to_numpy(),
            C.TITLE: df["title"].to_numpy(),
            C.DESCRIPTION: genres.str.replace("|", " ", regex=False).to_numpy(),
            C.CATEGORY: genres.str.split("|").str[0].to_numpy(),
        }
    )
    return cat, f"catalog from {movies.name}: category = first listed genre, description = all genres"


def _read_movielens(path: Path, opts: LoadOptions) -> RawData:
    _require_file(path)
    if path.is_dir():
        file = _find(path, ["u.data", "ratings.csv", "ratings.dat"])
        if file is None:
            raise DataError(f"{str(path)!r}: no MovieLens ratings file (u.data, ratings.csv or ratings.dat)")
        path = file
    src = _name(path)
    raw_cols = ["userId", "movieId", "rating", "timestamp"]
    if path.name.lower().startswith("u.data") or _suffix(path) == ".tsv":
        df = _read_table(path, dtype="string", sep="\t", header=None, names=raw_cols)
    elif path.name.lower().endswith(".dat"):
        try:
            df = pd.read_csv(path, sep="::", header=None, names=raw_cols, engine="python", dtype="string")
        except Exception as exc:
            raise DataError(f"{src}: cannot read as '::'-separated MovieLens ratings: {exc}") from None
        df.index = pd.RangeIndex(1, len(df) + 1)
    else:
        found = _peek_columns(path)
        cols = _resolve(found, {c: (c,) for c in raw_cols}, source=src, required=raw_cols)
        df = _read_table_typed(
            path,
            usecols=list(cols.values()),
            typed={"userId": "string", "movieId": "string", "rating": "float64", "timestamp": "float64"},
        )
    lines = pd.DataFrame(index=df.index)
    lines[C.USER] = df["userId"]
    lines[C.ITEM] = df["movieId"]
    lines[C.RATING] = _numeric(df["rating"], column="rating", role="rating", source=src, allow_empty=False)
    secs = _numeric(df["timestamp"], column="timestamp", role="Unix seconds", source=src, allow_empty=False)
    ts = pd.to_datetime(secs, unit="s")
    lines[C.TIMESTAMP] = ts
    lines[C.QUANTITY] = 1.0
    lines = _finish_lines(lines)
    missing_user = lines[C.USER].isna().to_numpy(dtype=bool)
    if missing_user.any():
        first = lines.index[int(np.flatnonzero(missing_user)[0])]
        raise DataError(f"{src}: column 'userId' is empty at {_where(first)}; every rating needs a user")
    day = lines[C.TIMESTAMP].dt.strftime("%Y-%m-%d")
    lines[C.BASKET] = lines[C.USER].astype("string").str.cat(day, sep="@")
    lines = _finish_lines(lines)
    _check_ids(lines, src, {C.ITEM: "movieId"})
    notes = (
        f"{src}: MovieLens ratings as baskets — one basket per (user, UTC calendar day) of rating activity, "
        "basket_id = user@YYYY-MM-DD; every rating counts as an interaction (the value is kept in 'rating'); "
        "quantity = 1, no prices",
    )
    cat, note = (
        (_read_catalog_file(opts.catalog, None), f"catalog read from {opts.catalog.name}")
        if opts.catalog
        else _ml_catalog(path.parent)
    )
    return RawData(lines=lines, catalog=cat, notes=(*notes, note), source=src)
