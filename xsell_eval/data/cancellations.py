"""Match cancellation lines to the original lines they reverse (vectorised).

A cancellation invoice (UCI Online Retail: invoice number ``C…``) does not say which order it
cancels. A cancellation line is matched to an *original* line when both have

- the same customer (lines without a customer are never matched),
- the same item id,
- the opposite quantity (cancellation ``-q``, original ``+q``; partial cancellations match nothing),
- and the original is not itself a cancellation and is not later than the cancellation
  (``timestamp <=``; at the same timestamp the original sorts first; without timestamps,
  the file order decides). Lines with an unknown timestamp are never matched.

When several originals qualify, the cancellations of one (customer, item, quantity) are taken in
time order, and each takes the **latest earlier original not already taken** ("last in, first
out"); each original is matched at most once. This is bracket matching: originals open, the
cancellations close, and a cancellation with no open original before it stays unmatched.

It runs without Python loops over lines: per (customer, item, quantity) group the events are
sorted by time, the nesting depth is a cumulative sum floored at zero (an unmatched cancellation
does not lower it), and each cancellation finds its original with one ``merge_asof`` on
(group, depth). ``tests/test_cancellations.py`` checks it against a plain stack-based reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C


@dataclass(frozen=True)
class CancellationMatch:
    """Which original lines the cancellations reverse, with the counts the data card shows.

    Attributes:
        originals: boolean mask (one entry per input line) of the matched original lines.
        cancellation_lines: lines marked as cancellations.
        cancellation_invoices: distinct invoices among them.
        matched_cancellations: cancellation lines that found an original.
        original_invoices: invoices holding at least one matched original line.
        whole_invoices: invoices all of whose lines are matched originals (orders cancelled entirely).
    """

    originals: np.ndarray
    cancellation_lines: int
    cancellation_invoices: int
    matched_cancellations: int
    original_invoices: int
    whole_invoices: int

    @property
    def original_lines(self) -> int:
        """Matched original lines (one per matched cancellation line)."""
        return int(self.originals.sum())

    def note(self) -> str:
        """One sentence for the cleaning report."""
        return (
            f"{self.matched_cancellations:,} of {self.cancellation_lines:,} cancellation lines "
            f"({self.cancellation_invoices:,} invoices) matched an earlier line of the same customer, item and "
            f"quantity; the originals are {self.original_lines:,} lines in {self.original_invoices:,} invoices, "
            f"{self.whole_invoices:,} of them cancelled entirely"
        )


def match_cancelled_originals(
    df: pd.DataFrame, cancelled: np.ndarray, known_user: np.ndarray
) -> CancellationMatch | None:
    """Find the original lines reversed by the cancellation lines (rules in the module docstring).

    Args:
        df: canonical lines with ``user_id``, ``item_id``, ``quantity`` and (optionally)
            ``timestamp`` and ``basket_id``.
        cancelled: boolean mask of cancellation lines (from the loader).
        known_user: boolean mask of lines with a user id.

    Returns:
        The match, or ``None`` when the lines have no user or quantity column (not applicable).

    Example:
        >>> df = pd.DataFrame({"basket_id": ["1", "2", "C3"], "user_id": ["u", "u", "u"],
        ...                    "item_id": ["a", "a", "a"], "quantity": [5.0, 5.0, -5.0],
        ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
        >>> m = match_cancelled_originals(df, df["basket_id"].str.startswith("C").to_numpy(), np.ones(3, bool))
        >>> m.originals.tolist()  # the latest earlier original
        [False, True, False]
    """
    if C.USER not in df.columns or C.QUANTITY not in df.columns:
        return None
    n = len(df)
    cancelled = np.asarray(cancelled, dtype=bool)
    q = pd.to_numeric(df[C.QUANTITY], errors="coerce").to_numpy(dtype=float)
    if C.TIMESTAMP in df.columns:
        ts = pd.to_datetime(df[C.TIMESTAMP]).to_numpy(dtype="datetime64[ns]")
        known_time = ~np.isnat(ts)
        clock = np.where(known_time, ts.view("int64"), 0)
    else:
        known_time = np.ones(n, dtype=bool)
        clock = np.arange(n, dtype=np.int64)  # file order (the position) decides
    usable = np.asarray(known_user, dtype=bool) & known_time & ~np.isnan(q)
    closes = usable & cancelled & (q < 0)
    opens = usable & ~cancelled & (q > 0)
    pos = np.flatnonzero(opens | closes)
    baskets = df[C.BASKET] if C.BASKET in df.columns else pd.Series(np.arange(n), index=df.index)
    n_cancel_invoices = int(pd.unique(np.asarray(baskets)[cancelled]).size) if cancelled.any() else 0
    originals = np.zeros(n, dtype=bool)

    if closes.any() and opens.any():
        ev = pd.DataFrame(
            {
                "user": pd.factorize(df[C.USER].to_numpy()[pos])[0],
                "item": pd.factorize(df[C.ITEM].to_numpy()[pos])[0],
                "qty": np.abs(q[pos]),
                "clock": clock[pos],
                "close": closes[pos].astype(np.int8),  # at equal time the original (0) sorts first
                "pos": pos,
            }
        )
        ev["group"] = ev.groupby(["user", "item", "qty"], sort=False).ngroup()
        # only groups with both an original and a cancellation can match
        kinds = ev.groupby("group")["close"]
        both = (kinds.transform("min") == 0) & (kinds.transform("max") == 1)
        ev = ev.loc[both.to_numpy(dtype=bool)].sort_values(["group", "clock", "close", "pos"], kind="stable")
        if len(ev):
            step = np.where(ev["close"].to_numpy() == 1, -1, 1)
            g = ev["group"].to_numpy()
            cum = pd.Series(step).groupby(g).cumsum().to_numpy()
            floor = np.minimum(pd.Series(cum).groupby(g).cummin().to_numpy(), 0)
            depth = cum - floor  # open originals after this event; unmatched cancellations keep it at 0
            first = np.r_[True, g[1:] != g[:-1]]
            before = np.r_[0, depth[:-1]]
            before[first] = 0  # open originals before this event
            is_close = step == -1
            ev["order"] = np.arange(len(ev))
            ev["level"] = np.where(is_close, before, depth)
            matched_close = is_close & (before >= 1)
            left = ev.loc[matched_close, ["order", "group", "level"]]
            right = ev.loc[~is_close, ["order", "group", "level", "pos"]]
            pairs = pd.merge_asof(left, right, on="order", by=["group", "level"], direction="backward")
            hit = pairs["pos"].to_numpy()
            if np.isnan(hit).any() or pd.Series(hit).duplicated().any():  # pragma: no cover - invariant
                raise AssertionError("cancellation matching broke its invariant (unmatched or doubly matched)")
            originals[hit.astype(np.int64)] = True

    matched = int(originals.sum())
    if matched:
        b = pd.Series(np.asarray(baskets))
        touched = b[originals].unique()
        lines_per = b[b.isin(touched)].value_counts()
        taken = b[originals].value_counts()
        whole = int((taken.reindex(lines_per.index, fill_value=0) == lines_per).sum())
        n_orig_invoices = int(touched.size)
    else:
        whole = n_orig_invoices = 0
    return CancellationMatch(
        originals=originals,
        cancellation_lines=int(cancelled.sum()),
        cancellation_invoices=n_cancel_invoices,
        matched_cancellations=matched,
        original_invoices=n_orig_invoices,
        whole_invoices=whole,
    )


__all__ = ["CancellationMatch", "match_cancelled_originals"]
