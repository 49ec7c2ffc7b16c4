"""``business-rules``: cross-sell rules a merchandiser writes by hand, read from TOML or CSV.

A rule says "if the cart holds this item (or an item of this category), recommend
these items (or the best sellers of these categories)", with a weight. TOML form::

    [[rule]]
    if_item = "85123A"                 # WHITE HANGING HEART T-LIGHT HOLDER
    then_items = ["21733", "84029G"]
    weight = 1.0                       # optional, default 1.0, must be > 0

    [[rule]]
    if_category = "candles"
    then_categories = ["candle holders"]
    weight = 0.5
    name = "candles need holders"      # optional label, ignored

Each rule has exactly one of ``if_item`` / ``if_category`` and at least one of
``then_items`` / ``then_categories``. CSV form, one consequent per row (blank lines
and lines starting with ``#`` are skipped; ``weight`` may be omitted)::

    antecedent_type,antecedent,consequent_type,consequent,weight
    item,85123A,item,21733,1.0
    category,candles,category,candle holders,0.5

Scoring of a query (context = the cart)::

    score(j) =   Σ weight   over fired rules naming item j
               + Σ weight · count_j / max_{i in cat(j)} count_i   over fired rules naming j's category
               + 1e-6 · count_j / max count                         (tie-break: best seller first)

An item rule fires once when its item is in the context; a category rule fires once
when any context item belongs to the category. ``count`` is the number of train
baskets containing the item, so a category rule recommends the category's items
ranked by train popularity (items never sold in train are not recommended by a
category rule; an item rule can name them — new items are what merchandisers push).
Weights of several rules naming the same item add up. Item ids match exactly;
category names match after ``strip().casefold()``.

Unknown ids (not in the dataset's items / categories) follow ``on_unknown``:
``raise`` (DataError), ``warn`` (default; one ``BusinessRulesWarning`` naming file,
rule number, line and id) or ``ignore``. A rule whose antecedent is unknown is dropped;
unknown consequents are dropped from their rule.

With ``fallback = "popular"`` (default) the slots the rules leave empty are filled by
train best sellers, scored in ``[-2, -1]`` (below every rule score), and
``Recommendations.fallback`` is True for queries where *no* rule fired (the whole list
comes from the fallback). With ``fallback = "none"`` lists may be shorter than k and
``Recommendations.fallback`` is None.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.queries import Recommendations, Requests, top_k

#: The shipped example rules file (relative to the repository root), cited in messages.
EXAMPLE_RULES = "experiments/rules/online_retail.toml"
_TIE_EPS = 1e-6
_TOML_KEYS = ("if_item", "if_category", "then_items", "then_categories", "weight", "name")
_CSV_REQUIRED = ("antecedent_type", "antecedent", "consequent_type", "consequent")
_CSV_COLUMNS = (*_CSV_REQUIRED, "weight")
_KINDS = ("item", "category")
_MAX_LISTED = 10


class BusinessRulesWarning(UserWarning):
    """A rules file names items or categories the dataset does not have (``on_unknown="warn"``)."""


@dataclass(frozen=True)
class Rule:
    """One hand-written rule as read from the file (ids not yet resolved).

    Attributes:
        number: 1-based position of the rule in the file.
        line: 1-based line where the rule starts (0 if unknown).
        if_type: ``"item"`` or ``"category"``.
        if_id: the antecedent item id or category name.
        then_items: consequent item ids.
        then_categories: consequent category names.
        weight: positive weight.
        name: optional label.
    """

    number: int
    line: int
    if_type: str
    if_id: str
    then_items: tuple[str, ...]
    then_categories: tuple[str, ...]
    weight: float
    name: str = ""

    def where(self, path: str | Path) -> str:
        """``"rules.toml: rule #3 (line 12)"`` for messages."""
        line = f" (line {self.line})" if self.line else ""
        return f"{path}: rule #{self.number}{line}"


# ---------------------------------------------------------------------- reading
def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: 'weight' must be a number > 0, got {value!r}")
    w = float(value)
    if not np.isfinite(w) or w <= 0:
        raise DataError(f"{where}: 'weight' must be a finite number > 0, got {value!r}")
    return w


def _ids(value: Any, key: str, where: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise DataError(f"{where}: '{key}' must hold strings (ids or category names), got {v!r}")
        s = str(v).strip()
        if not s:
            raise DataError(f"{where}: '{key}' contains an empty id")
        out.append(s)
    if not out:
        raise DataError(f"{where}: '{key}' is an empty list")
    return tuple(out)


def _read_toml(path: Path, text: str) -> list[Rule]:
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path}: not valid TOML: {exc}") from exc
    extra = sorted(set(doc) - {"rule"})
    if extra:
        raise DataError(f"{path}: unknown top-level key(s) {extra}; a rules file holds only [[rule]] tables")
    raw = doc.get("rule", [])
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise DataError(f"{path}: 'rule' must be an array of tables written as [[rule]]")
    lines = [i + 1 for i, ln in enumerate(text.splitlines()) if re.match(r"\s*\[\[\s*rule\s*\]\]", ln)]
    rules: list[Rule] = []
    for n, r in enumerate(raw, start=1):
        line = lines[n - 1] if len(lines) == len(raw) else 0
        where = f"{path}: rule #{n}" + (f" (line {line})" if line else "")
        unknown = sorted(set(r) - set(_TOML_KEYS))
        if unknown:
            raise DataError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(_TOML_KEYS)}")
        has_item, has_cat = "if_item" in r, "if_category" in r
        if has_item == has_cat:
            raise DataError(f"{where}: give exactly one of 'if_item' or 'if_category'")
        if "then_items" not in r and "then_categories" not in r:
            raise DataError(f"{where}: give 'then_items' and/or 'then_categories'")
        if_type = "item" if has_item else "category"
        if isinstance(r["if_" + if_type], list):
            raise DataError(f"{where}: 'if_{if_type}' must be a single id, got a list")
        (if_id,) = _ids(r["if_" + if_type], "if_" + if_type, where)
        name = r.get("name", "")
        if not isinstance(name, str):
            raise DataError(f"{where}: 'name' must be a string, got {name!r}")
        rules.append(
            Rule(
                number=n,
                line=line,
                if_type=if_type,
                if_id=if_id,
                then_items=_ids(r["then_items"], "then_items", where) if "then_items" in r else (),
                then_categories=_ids(r["then_categories"], "then_categories", where) if "then_categories" in r else (),
                weight=_weight(r.get("weight", 1.0), where),
                name=name,
            )
        )
    return rules


def _read_csv(path: Path, text: str) -> list[Rule]:
    rows = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        raise DataError(f"{path}: empty rules file; expected a header {','.join(_CSV_COLUMNS)}")
    header_line, header_text = rows[0]
    header = [h.strip().lower() for h in next(csv.reader([header_text]))]
    missing = [c for c in _CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in _CSV_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        raise DataError(
            f"{path}: line {header_line}: header must be {','.join(_CSV_COLUMNS)} (weight optional); "
            f"missing {missing}, unknown {unknown}, found {header}"
        )
    col = {h: i for i, h in enumerate(header)}
    rules: list[Rule] = []
    for n, (line, body) in enumerate(rows[1:], start=1):
        where = f"{path}: rule #{n} (line {line})"
        fields = [f.strip() for f in next(csv.reader([body]))]
        if len(fields) != len(header):
            raise DataError(f"{where}: expected {len(header)} fields ({','.join(header)}), got {len(fields)}")
        rec = {h: fields[i] for h, i in col.items()}
        kinds = {}
        for key in ("antecedent_type", "consequent_type"):
            kinds[key] = rec[key].lower()
            if kinds[key] not in _KINDS:
                raise DataError(f"{where}: '{key}' must be 'item' or 'category', got {rec[key]!r}")
        for key in ("antecedent", "consequent"):
            if not rec[key]:
                raise DataError(f"{where}: '{key}' is empty")
        weight = 1.0
        if "weight" in rec and rec["weight"] != "":
            try:
                weight = float(rec["weight"])
            except ValueError:
                raise DataError(f"{where}: 'weight' must be a number > 0, got {rec['weight']!r}") from None
            weight = _weight(weight, where)
        item_cons = kinds["consequent_type"] == "item"
        rules.append(
            Rule(
                number=n,
                line=line,
                if_type=kinds["antecedent_type"],
                if_id=rec["antecedent"],
                then_items=(rec["consequent"],) if item_cons else (),
                then_categories=() if item_cons else (rec["consequent"],),
                weight=weight,
            )
        )
    return rules


def read_rules(path: str | Path) -> list[Rule]:
    """Parse a TOML (``.toml``) or CSV (``.csv``) rules file; ids are not checked here.

    Raises:
        DataError: the file is missing, has another suffix, is empty or malformed; the
            message names the file and the rule/line/key at fault.

    Example:
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = os.path.join(d, "r.csv")
        ...     _ = open(p, "w").write("antecedent_type,antecedent,consequent_type,consequent\\nitem,A,item,B\\n")
        ...     [(r.if_id, r.then_items, r.weight) for r in read_rules(p)]
        [('A', ('B',), 1.0)]
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"rules file not found: '{p}' (hyperparameter 'path' of adapter 'business-rules')")
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".csv"):
        raise DataError(f"{p}: rules file must end in .toml or .csv, got '{p.suffix}'")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc})") from exc
    rules = _read_toml(p, text) if suffix == ".toml" else _read_csv(p, text)
    if not rules:
        raise DataError(f"{p}: no rules found" + (" (expected [[rule]] tables)" if suffix == ".toml" else ""))
    return rules


# ---------------------------------------------------------------------- adapter
def _category_key(values: np.ndarray) -> np.ndarray:
    return np.array([str(v).strip().casefold() for v in values], dtype=object)


class BusinessRulesAdapter(BaseAdapter):
    """Hand-written item → items and category → categories rules with weights.

    See the module docstring for the file formats and the scoring.

    Example:
        >>> import tempfile, os
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = os.path.join(d, "rules.toml")
        ...     _ = open(p, "w").write('[[rule]]\\nif_category = "mugs"\\nthen_categories = ["cards"]\\n')
        ...     recs = BusinessRulesAdapter(path=p).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "business-rules"
    family = "rules"
    description = "Hand-written item/category cross-sell rules from a TOML or CSV file, popularity fallback"
    serves_cold_users = True
    serves_cold_items = True
    hyperparams = (
        HyperParam(
            "path",
            "str",
            "",
            tunable=False,
            help=f"TOML or CSV rules file (required), e.g. {EXAMPLE_RULES}",
        ),
        HyperParam(
            "on_unknown",
            "categorical",
            "warn",
            choices=("raise", "warn", "ignore"),
            tunable=False,
            help="what to do with rules naming items/categories not in the data",
        ),
        HyperParam(
            "fallback",
            "categorical",
            "popular",
            choices=("popular", "none"),
            tunable=False,
            help="fill slots no rule fills with train best sellers, or leave them empty",
        ),
    )

    def _check_params(self) -> None:
        path = self.params["path"]
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(
                "adapter 'business-rules': hyperparameter 'path' must name a TOML or CSV rules file, got "
                f"{path!r} (e.g. business-rules:path={EXAMPLE_RULES})"
            )

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset) -> None:
        path = Path(self.params["path"]).expanduser()
        rules = read_rules(path)
        n_items = train.n_items
        item_pos = {str(item): i for i, item in enumerate(train.item_ids)}
        cat_key = _category_key(train.catalog[C.CATEGORY].to_numpy())
        cat_names = np.array(sorted({c for c in cat_key if c}), dtype=object)
        cat_pos = {str(c): i for i, c in enumerate(cat_names)}
        item_cat = np.array([cat_pos.get(c, -1) for c in cat_key], dtype=np.int64)  # -1: no category
        n_cats = len(cat_names)

        problems: list[str] = []
        folded: dict[str, list[str]] = {}
        for item in item_pos:
            folded.setdefault(item.casefold(), []).append(item)

        def item_of(rule: Rule, item_id: str) -> int:
            idx = item_pos.get(item_id, -1)
            if idx < 0:
                near = folded.get(item_id.casefold(), [])
                hint = f" (did you mean '{near[0]}'?)" if len(near) == 1 else ""
                problems.append(f"{rule.where(path)}: unknown item '{item_id}'{hint}")
            return idx

        def cat_of(rule: Rule, name: str) -> int:
            idx = cat_pos.get(name.strip().casefold(), -1)
            if idx < 0:
                if n_cats:
                    known = f"known: {', '.join(cat_names[:8])}{', ...' if n_cats > 8 else ''}"
                else:
                    known = "the catalog has no categories"
                problems.append(f"{rule.where(path)}: unknown category '{name}' ({known})")
            return idx

        trip: dict[str, tuple[list[int], list[int], list[float]]] = {k: ([], [], []) for k in ("ii", "ic", "ci", "cc")}
        used = 0
        for rule in rules:
            a = item_of(rule, rule.if_id) if rule.if_type == "item" else cat_of(rule, rule.if_id)
            cons_items = [j for j in (item_of(rule, t) for t in rule.then_items) if j >= 0]
            cons_cats = [c for c in (cat_of(rule, t) for t in rule.then_categories) if c >= 0]
            if a < 0 or not (cons_items or cons_cats):
                continue
            used += 1
            src = "i" if rule.if_type == "item" else "c"
            for key, targets in ((src + "i", cons_items), (src + "c", cons_cats)):
                rows, cols, vals = trip[key]
                rows.extend([a] * len(targets))
                cols.extend(targets)
                vals.extend([rule.weight] * len(targets))

        if problems:
            listed = "\n  ".join(problems[:_MAX_LISTED])
            more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
            msg = f"business-rules: {len(problems)} unknown id(s) in the rules file:\n  {listed}{more}"
            if self.params["on_unknown"] == "raise":
                raise DataError(msg + "\n(set on_unknown='warn' or 'ignore' to skip them)")
            if self.params["on_unknown"] == "warn":
                warnings.warn(
                    msg + f"\n{used} of {len(rules)} rule(s) remain usable", BusinessRulesWarning, stacklevel=3
                )

        shape = {"i": n_items, "c": n_cats}

        def mat(key: str) -> sp.csr_matrix:
            rows, cols, vals = trip[key]
            m = sp.csr_matrix(
                (np.asarray(vals, dtype=np.float64), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                shape=(shape[key[0]], shape[key[1]]),
            )
            m.sum_duplicates()
            return m

        self.r_item_item_ = mat("ii")
        self.r_item_cat_ = mat("ic")
        self.r_cat_item_ = mat("ci")
        self.r_cat_cat_ = mat("cc")
        has_cat = item_cat >= 0
        self.item_cat_ = sp.csr_matrix(
            (np.ones(int(has_cat.sum())), (np.flatnonzero(has_cat), item_cat[has_cat])), shape=(n_items, n_cats)
        )
        counts = train.item_basket_count.astype(np.float64)
        cat_max = np.zeros(n_cats)
        if has_cat.any():
            np.maximum.at(cat_max, item_cat[has_cat], counts[has_cat])
        strength = np.zeros(n_items)
        sold = has_cat & (counts > 0)
        strength[sold] = counts[sold] / cat_max[item_cat[sold]]
        self.cat_strength_ = sp.csr_matrix(
            (strength[sold], (item_cat[sold], np.flatnonzero(sold))), shape=(n_cats, n_items)
        )
        self.popularity_ = counts / counts.max() if counts.max() > 0 else counts
        self.sold_ = counts > 0
        self.categories_ = cat_names
        self.n_rules_ = len(rules)
        self.n_rules_used_ = used
        self.unknown_ = tuple(problems)

    # ------------------------------------------------------------------ recommend
    def rule_scores(self, batch: Requests) -> np.ndarray:
        """Dense (n_batch × n_items) sum of fired rule weights (0 = no rule names the item)."""
        ctx = batch.context.astype(np.float64).tocsr()
        ctx.data[:] = 1.0
        cats = (ctx @ self.item_cat_).tocsr()
        cats.data[:] = 1.0
        cats.eliminate_zeros()
        direct = ctx @ self.r_item_item_ + cats @ self.r_cat_item_
        via_cat = (ctx @ self.r_item_cat_ + cats @ self.r_cat_cat_) @ self.cat_strength_
        return np.asarray((direct + via_cat).toarray(), dtype=np.float64)

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        rule = self.rule_scores(batch)
        cand = rule > 0
        scores = np.where(cand, rule + _TIE_EPS * self.popularity_[None, :], -np.inf)
        fallback = None
        if self.params["fallback"] == "popular":
            ctx = batch.context.toarray() != 0
            fallback = ~(cand & ~ctx).any(axis=1)
            fill = (~cand) & self.sold_[None, :]
            scores = np.where(fill, np.broadcast_to(self.popularity_ - 2.0, scores.shape), scores)
        items, top = top_k(scores, k, exclude=batch.context)
        return Recommendations(items, top, self.name, fallback)
