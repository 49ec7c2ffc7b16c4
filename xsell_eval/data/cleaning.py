"""Explicit, reported cleaning of raw transaction lines.

Every rule has one switch in :class:`CleaningPolicy` and a stated default; :func:`clean`
applies the rules in a fixed order and reports, per rule, how many lines matched and how
many it dropped. A line is counted once, under the *first* rule that drops it (a
cancellation line also has a negative quantity: with ``cancellations="drop"`` it is
counted under ``cancellations`` and never seen by ``returns``)::

    raw lines
      │ 1 cancellations        invoice marked as a cancellation by the loader (UCI: 'C' prefix)
      │ 1b cancelled_originals the earlier lines those cancellations reverse (same customer, item,
      │                        opposite quantity; data/cancellations.py)
      │ 2 returns              quantity <= 0 (returns, adjustments, zero-quantity lines)
      │ 3 missing_customer     no user id (guest checkout); "keep" keeps them as guests
      │ 4 non_product          item id matches ``non_product_pattern`` (postage, fees, manual, vouchers)
      │                        or is one the loader marks from the product hierarchy (fuel, coupons...)
      │ 5 nonpositive_price    unit price <= 0 (unknown/NaN prices are kept)
      │ 6 duplicates           exact duplicate lines (all columns equal) beyond the first
      ▼
    clean lines

Each switch takes ``"drop"`` (remove and count), ``"keep"`` (count, keep) or ``"raise"``
(stop with a :class:`~xsell_eval.errors.DataError` naming the count and the first row).
Duplicates come last so that they are counted among lines that survived every other rule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.cancellations import match_cancelled_originals
from xsell_eval.errors import ConfigError, DataError

Action = Literal["drop", "keep", "raise"]
ACTIONS: tuple[str, ...] = ("drop", "keep", "raise")

#: Non-product stock codes of UCI Online Retail (I and II): postage (POST, DOT = dotcom
#: postage, C2 = carriage), manual lines (M/m), discount (D), samples (S), bad-debt
#: adjustment (B), bank charges, Amazon fee, CRUK commission, PADS (a 0.001 accounting line)
#: and gift vouchers (gift_0001_10 ...); ADJUST/ADJUST2 and TEST001/TEST002 are the
#: adjustment and test codes of Online Retail II (from its documentation as commonly quoted,
#: not checked here: that file is not on this machine). Matched case-sensitively against
#: the whole id (blanks around it ignored); start a custom pattern with ``(?i)`` to ignore
#: case. ``DCGS...`` codes (dotcom gift sets) are real products and are not listed.
DEFAULT_NON_PRODUCT_PATTERN = r"POST|DOT|C2|M|m|D|S|B|BANK CHARGES|AMAZONFEE|CRUK|PADS|ADJUST\d*|TEST\d+|gift_\d+_\d+"

#: rule name -> one-line meaning, in application order.
RULES: dict[str, str] = {
    "cancellations": "lines of invoices the source marks as cancelled (UCI Online Retail: invoice prefix 'C')",
    "cancelled_originals": "earlier lines a cancellation reverses: same customer, item id and opposite quantity "
    "(the latest earlier one, each matched once)",
    "returns": "quantity <= 0: returns, adjustments and zero-quantity lines",
    "missing_customer": "no user id (guest checkout); 'keep' keeps them as guests (user_idx -1)",
    "non_product": "item id matches non_product_pattern (postage, fees, manual lines, vouchers) or the loader's "
    "product-hierarchy rule (Complete Journey: fuel, coupons, gift cards, deposits)",
    "nonpositive_price": "unit price <= 0 (free samples, adjustments); unknown (empty) prices are kept",
    "duplicates": "exact duplicate lines (every column equal) beyond the first occurrence",
}


@dataclass(frozen=True)
class CleaningPolicy:
    """One switch per cleaning rule (``"drop"`` | ``"keep"`` | ``"raise"``).

    Attributes:
        cancellations: lines of cancelled invoices. Default ``"drop"``.
        cancelled_originals: the original lines the cancellations reverse (same customer,
            item and opposite quantity, not later; see :mod:`xsell_eval.data.cancellations`).
            Default ``"drop"``: a cancelled order was never a basket the shop kept (UCI Online
            Retail's 80,995-unit invoice 581483 is one).
        returns: lines with quantity <= 0. Default ``"drop"``.
        missing_customer: lines without a user id. Default ``"drop"``: on UCI Online
            Retail the 3,528 guest invoices are mostly a separate web channel (median 1
            distinct item, up to 1,110) and cannot feed user-history metrics. ``"keep"``
            keeps them as guest baskets (user_idx -1).
        non_product: lines whose item id fully matches ``non_product_pattern``. Default ``"drop"``.
        non_product_pattern: regular expression (case-sensitive, whole id) of
            non-product item codes. Default :data:`DEFAULT_NON_PRODUCT_PATTERN`.
        nonpositive_price: lines with unit price <= 0. Default ``"drop"``.
        duplicates: exact duplicate lines. Default ``"drop"``.

    Example:
        >>> CleaningPolicy().missing_customer
        'drop'
        >>> CleaningPolicy.from_spec("missing_customer=keep,duplicates=keep").duplicates
        'keep'
    """

    cancellations: Action = "drop"
    cancelled_originals: Action = "drop"
    returns: Action = "drop"
    missing_customer: Action = "drop"
    non_product: Action = "drop"
    nonpositive_price: Action = "drop"
    duplicates: Action = "drop"
    non_product_pattern: str = DEFAULT_NON_PRODUCT_PATTERN

    def __post_init__(self) -> None:
        for rule in RULES:
            value = getattr(self, rule)
            if value not in ACTIONS:
                raise ConfigError(f"cleaning rule '{rule}' must be one of {list(ACTIONS)}, got {value!r}")
        try:
            re.compile(self.non_product_pattern)
        except re.error as exc:
            raise ConfigError(f"non_product_pattern {self.non_product_pattern!r} is not a valid regex: {exc}") from None

    @classmethod
    def literature(cls) -> CleaningPolicy:
        """The filter most published analyses of UCI Online Retail use.

        No cancellations, known customer, quantity > 0, unit price > 0; non-product codes,
        exact duplicates and the originals of cancelled orders are kept. On the full dataset it
        leaves 397,884 lines, 18,532 invoices, 4,338 customers and 3,665 items.
        """
        return cls(non_product="keep", duplicates="keep", cancelled_originals="keep")

    @classmethod
    def keep_all(cls) -> CleaningPolicy:
        """Every rule set to ``"keep"``: count problems, drop nothing."""
        return cls(**dict.fromkeys(RULES, "keep"))  # type: ignore[arg-type]

    @classmethod
    def from_spec(cls, spec: str | None, base: CleaningPolicy | None = None) -> CleaningPolicy:
        """Parse ``"rule=action,rule=action"`` (the CLI's ``--clean``) on top of ``base``.

        ``"literature"``, ``"keep-all"`` and ``"default"`` (= ``base``) select a preset and
        may be followed by overrides: ``"literature,duplicates=drop"``.

        Raises:
            ConfigError: unknown rule (with suggestions) or invalid action.
        """
        import difflib

        start = base or cls()
        policy = start
        if spec is None or not spec.strip():
            return policy
        presets: dict[str, Any] = {"default": lambda: start, "literature": cls.literature, "keep-all": cls.keep_all}
        fields = [f.name for f in dataclasses.fields(cls)]
        changes: dict[str, Any] = {}
        # split on commas that start a new "key=" (a regex value may contain commas)
        for part in re.split(r",(?=\s*[\w-]+\s*(?:=|,|$))", spec):
            part = part.strip()
            if not part:
                continue
            if part in presets:
                policy = presets[part]()
                continue
            key, eq, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not eq:
                raise ConfigError(
                    f"cleaning spec {spec!r}: expected rule=action or a preset ({', '.join(presets)}), got {part!r}"
                )
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=2, cutoff=0.5)
                hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise ConfigError(f"unknown cleaning rule '{key}'.{hint} Available: {', '.join(fields)}")
            changes[key] = value.strip()
        return dataclasses.replace(policy, **changes)

    def to_dict(self) -> dict[str, str]:
        """Plain dict of every switch (for configs and manifests)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class CleaningStep:
    """What one rule did.

    Attributes:
        rule: rule name (a key of :data:`RULES`).
        policy: the action applied (``drop``/``keep``/``raise``).
        rows_matched: lines the rule matched among those that reached it.
        rows_dropped: lines it removed (``rows_matched`` under ``drop``, else 0).
        note: a human sentence (e.g. "not applicable: the source has no user ids").
    """

    rule: str
    policy: str
    rows_matched: int
    rows_dropped: int
    note: str = ""


@dataclass(frozen=True)
class CleaningReport:
    """Counts of what cleaning did, in application order.

    Attributes:
        source: file or dataset name.
        rows_in: lines before cleaning.
        rows_out: lines after cleaning.
        steps: one :class:`CleaningStep` per rule, in the order applied.
        notes: facts about the load a reader must know (synthetic timestamps, skipped
            empty lines, how the loader was chosen...).
        policy: the switches used.
    """

    source: str
    rows_in: int
    rows_out: int
    steps: tuple[CleaningStep, ...]
    notes: tuple[str, ...] = ()
    policy: dict[str, str] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        """Total lines removed."""
        return self.rows_in - self.rows_out

    def with_notes(self, *notes: str) -> CleaningReport:
        """A copy with extra notes appended."""
        return dataclasses.replace(self, notes=self.notes + tuple(n for n in notes if n))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_dropped": self.rows_dropped,
            "steps": [dataclasses.asdict(s) for s in self.steps],
            "notes": list(self.notes),
            "policy": dict(self.policy),
        }

    def to_markdown(self) -> str:
        """A Markdown table of the steps followed by the notes.

        Example:
            >>> r = CleaningReport("x.csv", 3, 2, (CleaningStep("returns", "drop", 1, 1),))
            >>> print(r.to_markdown().splitlines()[0])
            Cleaning of `x.csv`: 3 lines in, 2 out (1 dropped, 33.3%).
        """
        share = self.rows_dropped / self.rows_in if self.rows_in else 0.0
        lines = [
            f"Cleaning of `{self.source}`: {self.rows_in:,} lines in, {self.rows_out:,} out "
            f"({self.rows_dropped:,} dropped, {share:.1%}).",
            "",
            "| # | rule | policy | matched | dropped | note |",
            "|---|---|---|---:|---:|---|",
        ]
        for i, s in enumerate(self.steps, 1):
            lines.append(f"| {i} | {s.rule} | {s.policy} | {s.rows_matched:,} | {s.rows_dropped:,} | {s.note} |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers
def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT or value is pd.NA:
        return "<empty>"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return str(value)
    return repr(str(value))


def _describe_row(df: pd.DataFrame, pos: int) -> str:
    """``row 17: basket_id='C1', item_id='x', quantity=-1.0`` (index label = source row)."""
    row = df.iloc[pos]
    label = df.index[pos]
    shown = [c for c in (C.USER, C.BASKET, C.ITEM, C.TIMESTAMP, C.QUANTITY, C.PRICE) if c in df.columns]
    values = ", ".join(f"{c}={_show(row[c])}" for c in shown)
    return f"row {label}: {values}"


def non_product_mask(items: pd.Series, pattern: str) -> np.ndarray:
    """Boolean mask of item ids fully matching ``pattern`` (case-sensitive, surrounding blanks ignored).

    The regex runs once per distinct id; the result is mapped back to the lines by code.
    """
    codes, uniq = pd.factorize(items, use_na_sentinel=True)
    if len(uniq) == 0:
        return np.zeros(len(items), dtype=bool)
    regex = re.compile(pattern)
    hit = np.array([regex.fullmatch(str(u).strip()) is not None for u in uniq] + [False])
    return hit[np.where(codes >= 0, codes, len(uniq))]


def item_in_mask(items: pd.Series, ids: Collection[str]) -> np.ndarray:
    """Boolean mask of lines whose item id (surrounding blanks ignored) is one of ``ids``.

    The test runs once per distinct id; the result is mapped back to the lines by code.
    """
    codes, uniq = pd.factorize(items, use_na_sentinel=True)
    if len(uniq) == 0 or not ids:
        return np.zeros(len(items), dtype=bool)
    wanted = set(ids)
    hit = np.array([str(u).strip() in wanted for u in uniq] + [False])
    return hit[np.where(codes >= 0, codes, len(uniq))]


def _missing_text(values: pd.Series) -> np.ndarray:
    """Missing or blank cells."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        blank = pd.Series(values.cat.categories).astype("string").str.strip().eq("").fillna(True).to_numpy(dtype=bool)
        codes = values.cat.codes.to_numpy()
        return np.append(blank, True)[np.where(codes >= 0, codes, len(blank))]
    if not (pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)):
        return values.isna().to_numpy()
    s = values.astype("string")
    return (s.isna() | (s.str.strip() == "")).to_numpy(dtype=bool)


# ---------------------------------------------------------------------- clean
def clean(
    df: pd.DataFrame,
    policy: CleaningPolicy | None = None,
    *,
    source: str,
    cancelled: np.ndarray | pd.Series | None = None,
    non_product_items: Mapping[str, Collection[str]] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules (vectorised) and report counts.

    Args:
        df: canonical lines (``basket_id``, ``item_id`` and any of ``user_id``,
            ``quantity``, ``price``, ``timestamp``, plus extra columns such as line-level
            titles). The index labels are used as row numbers in messages.
        policy: the switches; ``None`` means :class:`CleaningPolicy` defaults.
        source: file or dataset name for messages and the report.
        cancelled: boolean mask of cancellation lines, from the loader; ``None`` when
            the source has no cancellation marker (the rule is then "not applicable").
        non_product_items: item ids the loader knows to be non-products from the source's
            product hierarchy, by reason (``{"fuel": {...}, "coupons": {...}}``); they join
            ``non_product_pattern`` under the ``non_product`` rule and its switch, and the
            step's note counts the lines per reason (a line counted under the first that matches).

    Returns:
        The kept lines (original index labels preserved) and the :class:`CleaningReport`.

    Raises:
        DataError: a rule set to ``"raise"`` matched, or no lines remain (the message
            names the rule that removed the last lines).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"basket_id": ["1", "1", "C2"], "item_id": ["a", "POST", "a"],
        ...                    "user_id": ["u", "u", "u"], "quantity": [3, 1, -1], "price": [2.0, 5.0, 2.0]})
        >>> out, rep = clean(df, source="toy", cancelled=df["basket_id"].str.startswith("C"))
        >>> len(out), [(s.rule, s.rows_dropped) for s in rep.steps if s.rows_dropped]
        (1, [('cancellations', 1), ('non_product', 1)])
    """
    policy = policy or CleaningPolicy()
    n = len(df)
    alive = np.ones(n, dtype=bool)
    steps: list[CleaningStep] = []
    last_nonzero: str | None = None

    def apply(rule: str, matched: np.ndarray | None, note: str = "") -> None:
        nonlocal alive, last_nonzero
        action = getattr(policy, rule)
        if matched is None:
            steps.append(CleaningStep(rule, action, 0, 0, note or "not applicable to this source"))
            return
        hit = matched & alive
        count = int(hit.sum())
        if count and action == "raise":
            first = int(np.flatnonzero(hit)[0])
            raise DataError(
                f"{source}: cleaning rule '{rule}' ({RULES[rule]}) matched {count:,} line(s) and its policy is "
                f"'raise'; first at {_describe_row(df, first)}. Set {rule}=drop or {rule}=keep to continue."
            )
        dropped = count if action == "drop" else 0
        if action == "drop" and count:
            alive = alive & ~hit
            if not alive.any():
                last_nonzero = rule
        if action == "keep" and count:
            note = f"{note}; {count:,} matching line(s) kept" if note else f"{count:,} matching line(s) kept"
        steps.append(CleaningStep(rule, action, count, dropped, note))

    # 1 cancellations
    if cancelled is None:
        apply("cancellations", None, "not applicable: the source marks no cancellations")
    else:
        mask = np.asarray(cancelled, dtype=bool)
        if mask.shape != (n,):
            raise DataError(f"{source}: cancellation mask has shape {mask.shape}, expected ({n},)")
        apply("cancellations", mask)

    # 1b the original lines the cancellations reverse (matched on all lines, counted among the survivors)
    match = None
    if cancelled is not None:
        known_user = ~_missing_text(df[C.USER]) if C.USER in df.columns else np.zeros(n, dtype=bool)
        match = match_cancelled_originals(df, np.asarray(cancelled, dtype=bool), known_user)
    if match is None:
        why = "the source marks no cancellations" if cancelled is None else "the source has no user ids or quantities"
        apply("cancelled_originals", None, f"not applicable: {why}")
    else:
        apply("cancelled_originals", match.originals, match.note())

    # 2 returns / non-positive quantity
    if C.QUANTITY in df.columns:
        q = pd.to_numeric(df[C.QUANTITY], errors="coerce").to_numpy(dtype=float)
        apply("returns", ~(q > 0) & ~np.isnan(q))
    else:
        apply("returns", None, "not applicable: the source has no quantities")

    # 3 missing customer
    if C.USER in df.columns:
        apply("missing_customer", _missing_text(df[C.USER]))
    else:
        apply("missing_customer", None, "not applicable: the source has no user ids")

    # 4 non-product codes: the id pattern, then the loader's product-hierarchy lists
    by_pattern = non_product_mask(df[C.ITEM], policy.non_product_pattern)
    reasons: list[tuple[str, np.ndarray]] = [("item-id pattern", by_pattern)]
    for reason, ids in (non_product_items or {}).items():
        reasons.append((reason, item_in_mask(df[C.ITEM], ids)))
    matched = np.logical_or.reduce([m for _, m in reasons])
    note = ""
    if len(reasons) > 1:
        seen = ~alive
        parts = []
        for reason, m in reasons:
            own = m & ~seen
            parts.append(f"{reason}: {int(own.sum()):,}")
            seen = seen | m
        note = "lines by reason — " + "; ".join(parts)
    apply("non_product", matched, note)

    # 5 non-positive price
    if C.PRICE in df.columns:
        p = pd.to_numeric(df[C.PRICE], errors="coerce").to_numpy(dtype=float)
        apply("nonpositive_price", (p <= 0) & ~np.isnan(p))
    else:
        apply("nonpositive_price", None, "not applicable: the source has no prices")

    # 6 exact duplicates among surviving lines
    survivors = df.loc[alive]
    dup_alive = survivors.duplicated(keep="first").to_numpy(dtype=bool)
    dup = np.zeros(n, dtype=bool)
    dup[np.flatnonzero(alive)] = dup_alive
    apply("duplicates", dup)

    report = CleaningReport(
        source=source,
        rows_in=n,
        rows_out=int(alive.sum()),
        steps=tuple(steps),
        policy=policy.to_dict(),
    )
    if n and report.rows_out == 0:
        summary = "; ".join(f"{s.rule} dropped {s.rows_dropped:,}" for s in steps if s.rows_dropped)
        raise DataError(
            f"{source}: no lines left after cleaning ({n:,} in; {summary}). Rule '{last_nonzero}' removed the "
            f"last lines — check the data or relax it (e.g. --clean {last_nonzero}=keep)."
        )
    return df.loc[alive], report
