"""A plain, loop-based reference for cancellation matching (tests only; the library is vectorised)."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from xsell_eval.columns import Columns as C


def reference(df: pd.DataFrame) -> list[int]:
    """Plain stack matching, one event at a time: each cancellation takes the latest earlier open original."""
    cancelled = df[C.BASKET].str.startswith("C").to_numpy()
    ts = df[C.TIMESTAMP].to_numpy()
    events = sorted(range(len(df)), key=lambda i: (ts[i], bool(cancelled[i]), i))
    users, items, qty = df[C.USER].tolist(), df[C.ITEM].tolist(), df[C.QUANTITY].astype(float).tolist()
    stacks: dict[tuple[object, object, float], list[int]] = defaultdict(list)
    taken = []
    for i in events:
        user, item, q = users[i], items[i], qty[i]
        if user is None or pd.isna(user) or pd.isna(ts[i]):
            continue
        key = (user, item, abs(q))
        if not cancelled[i] and q > 0:
            stacks[key].append(i)
        elif cancelled[i] and q < 0 and stacks[key]:
            taken.append(stacks[key].pop())
    return sorted(taken)
