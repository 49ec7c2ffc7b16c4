"""``rules``: association rules mined from the training baskets, fired by the context.

Fit mines single-consequent rules ``A ⇒ {j}`` with :func:`xsell_eval.mining.mine_rules`
on the train baskets. A query is answered from its context (the cart, the viewed item or
the history), so cold users are served; items never bought in train are not.

::

    context  (n × items)  @  antecedentᵀ (items × rules)  =  items of A found in the cart
    a rule fires when that number == |A|;  fired rules vote for their consequent j
    score(q, j) = max  over fired rules A ⇒ {j} of the rule measure   (aggregation="max")
                = sum  over fired rules A ⇒ {j} of the rule measure   (aggregation="sum")

Defaults (chosen on UCI Online Retail, temporal split, basket completion): pair rules
(``max_len=2``) at ``min_support=0.001`` and ``min_confidence=0.1``. With one revealed
item only pair rules can fire, and with ~24-item contexts longer rules at the higher
support they need did not help either; ``max_len=3`` at ``min_support=0.001`` works but
fits ~5× slower, and lower supports with ``max_len >= 3`` hit the miner's guard.

The measure is ``metric``: confidence, lift, conviction or leverage. Conviction is
infinite for rules of confidence 1; for scoring it is taken at confidence
``count(A) / (count(A) + 1)`` (one pseudo-basket with A but not j), which is finite and
grows with the evidence ``count(A)``. Ties between items (frequent with ``max`` of
confidence) go to the item bought in more train baskets, then to the lower item index.
Consequents already in the context are never recommended.

Fallback: with ``fallback="popular"`` the slots that rules did not fill are filled with
the most bought train items not in the context and not already recommended; their
scores lie on a separate scale strictly below every rule score of the same query
(``min(0, lowest rule score) − 1 + share_of_baskets / 2``). ``Recommendations.fallback``
is True for the queries where no rule produced a recommendable item, i.e. the query was
served by the fallback alone. With ``fallback="none"`` those queries get empty lists
(item -1) and the flag is False everywhere.

Cost follows the fired rules: a batch's fired (query, rule) pairs are reduced to (query,
item) candidates by sorting their keys, and only those are ranked; the popular fill tests
membership on a (n_batch × (k + context size)) block. No (n_batch × n_items) array is built.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError
from xsell_eval.mining import RuleSet, mine_rules
from xsell_eval.queries import Recommendations, Requests, row_top_entries

METRICS = ("confidence", "lift", "conviction", "leverage")
AGGREGATIONS = ("max", "sum")
FALLBACKS = ("popular", "none")


class AssociationRulesAdapter(BaseAdapter):
    """Association rules (Apriori on sparse matrices) scored over the context items.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> a = AssociationRulesAdapter(min_support=0.01, min_confidence=0.05).fit(ds)
        >>> recs = a.recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1], a.n_rules_ > 0
        (3, True)
    """

    name = "rules"
    family = "association rules"
    description = "Association rules A ⇒ {j} mined from train baskets (support, confidence, lift...), fired by the cart"
    serves_cold_users = True
    serves_cold_items = False
    hyperparams = (
        HyperParam(
            "min_support",
            "float",
            0.001,
            low=0.0,
            high=1.0,
            log=True,
            tune_low=0.001,
            tune_high=0.02,
            help="minimum support of A ∪ {j} among train baskets, in (0, 1]",
        ),
        HyperParam(
            "min_confidence",
            "float",
            0.1,
            low=0.0,
            high=1.0,
            tune_low=0.01,
            tune_high=0.5,
            help="minimum confidence count(A ∪ {j}) / count(A), in [0, 1]",
        ),
        HyperParam(
            "max_len",
            "int",
            2,
            low=2,
            high=4,
            tune_low=2,
            tune_high=3,
            help="largest |A ∪ {j}|; 2 = pair rules (the only ones a one-item context can fire)",
        ),
        HyperParam("metric", "categorical", "confidence", choices=METRICS, help="rule measure used as the score"),
        HyperParam(
            "aggregation",
            "categorical",
            "max",
            choices=AGGREGATIONS,
            help="max: best measure among fired rules for the item; sum: sum of their measures",
        ),
        HyperParam(
            "fallback",
            "categorical",
            "popular",
            choices=FALLBACKS,
            tunable=False,
            help="fill slots no rule filled with the most bought train items, or leave them empty",
        ),
    )

    def _check_params(self) -> None:
        if not self.params["min_support"] > 0:
            raise ConfigError(
                f"adapter '{self.name}': hyperparameter 'min_support' must be > 0, got {self.params['min_support']!r}"
            )

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset) -> None:
        p = self.params
        rows = train.baskets[C.BASKET_IDX].to_numpy()
        baskets = train.basket_item[rows]
        rs = mine_rules(
            baskets,
            min_support=p["min_support"],
            min_confidence=p["min_confidence"],
            max_len=p["max_len"],
            max_consequent_len=1,
        )
        self.rules_: RuleSet = rs
        self.n_rules_ = len(rs)
        ante = rs.antecedent_matrix()
        self.antecedent_t_ = sp.csr_matrix(ante.T)  # items × rules
        self.antecedent_len_ = np.diff(ante.indptr).astype(np.int64)
        self.consequent_ = rs.consequent_matrix().indices.astype(np.int64)
        self.weight_ = _rule_weight(rs, p["metric"])
        counts = train.item_basket_count.astype(np.int64)
        self.popularity_ = counts
        sold = np.flatnonzero(counts > 0)
        self.popular_order_ = sold[np.lexsort((sold, -counts[sold]))]
        self.popular_share_ = counts / max(len(rows), 1)

    # ------------------------------------------------------------------ recommend
    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        n, n_items = len(batch), batch.n_items
        ctx = sp.csr_matrix(batch.context, dtype=np.float32, copy=True)
        ctx.eliminate_zeros()
        ctx.data[:] = 1.0
        ctx_rows = np.repeat(np.arange(n), np.diff(ctx.indptr))
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), np.nan)
        n_rule = np.zeros(n, dtype=np.int64)
        if self.n_rules_ and n:
            q, j, s = self._rule_candidates(ctx, n_items)
            q, j, s = self._ranked(q, j, s, n, k)
            if len(q):
                start = np.searchsorted(q, np.arange(n))
                rank = np.arange(len(q)) - start[q]
                top = rank < k
                items[q[top], rank[top]] = j[top]
                scores[q[top], rank[top]] = s[top]
                n_rule = np.bincount(q[top], minlength=n).astype(np.int64)

        fallback = np.zeros(n, dtype=bool)
        if self.params["fallback"] == "popular" and n:
            fallback = n_rule == 0
            self._fill_popular(ctx_rows, ctx.indices, n_items, items, scores, n_rule, k)
        return Recommendations(items, scores, self.name, fallback)

    def _rule_candidates(self, ctx: sp.csr_matrix, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, item, score) of every item a fired rule recommends, context items left out.

        The score aggregates the measures of the fired rules with the same consequent (max or
        sum, summed in rule order); only fired (query, consequent) pairs are built, sorted by
        their key ``query · n_items + item`` — never a dense (n × items) block.
        """
        n = ctx.shape[0]
        hits = sp.csr_matrix(ctx @ self.antecedent_t_)  # antecedent items present, per (query, rule)
        fired = hits.data == self.antecedent_len_[hits.indices]
        q = np.repeat(np.arange(n, dtype=np.int64), np.diff(hits.indptr))[fired]
        r = hits.indices[fired]
        keys = q * n_items + self.consequent_[r]
        w = self.weight_[r]
        order = np.argsort(keys, kind="stable")
        keys, w = keys[order], w[order]
        if not len(keys):
            z = np.zeros(0, dtype=np.int64)
            return z, z, np.zeros(0)
        first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        reduce = np.add if self.params["aggregation"] == "sum" else np.maximum
        agg = reduce.reduceat(w, first)
        ukeys = keys[first]
        ctx_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(ctx.indptr)) * n_items + ctx.indices
        in_ctx = np.isin(ukeys, ctx_keys)
        ukeys, agg = ukeys[~in_ctx], agg[~in_ctx]
        finite = np.isfinite(agg)
        return ukeys[finite] // n_items, ukeys[finite] % n_items, agg[finite]

    def _ranked(
        self, q: np.ndarray, j: np.ndarray, s: np.ndarray, n: int, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates in order: query, then score desc, train popularity desc, item index asc.

        Only candidates scoring at least their query's k-th best score can be in its top k
        (ties included, so the popularity tie-break stays exact); the others are dropped
        before the final sort. ``q`` must be non-decreasing (it is: candidates come sorted by key).
        """
        if len(q) > 2 * k * n:
            indptr = np.concatenate([[0], np.cumsum(np.bincount(q, minlength=n))])
            pos, rank = row_top_entries(indptr, j, s, k)
            kth = np.full(n, -np.inf)
            last = pos[rank == k - 1]
            kth[q[last]] = s[last]
            keep = s >= kth[q]
            q, j, s = q[keep], j[keep], s[keep]
        order = np.lexsort((j, -self.popularity_[j], -s, q))
        return q[order], j[order], s[order]

    def _fill_popular(
        self,
        ctx_rows: np.ndarray,
        ctx_items: np.ndarray,
        n_items: int,
        items: np.ndarray,
        scores: np.ndarray,
        n_rule: np.ndarray,
        k: int,
    ) -> None:
        """Fill free slots in place with popular items not in the context nor already chosen.

        Only the first ``k + (most items a query must skip)`` popular items can be needed, so
        the membership test is a (n × that width) block, not (n × items).
        """
        n = len(n_rule)
        need = np.maximum(k - n_rule, 0)
        if not need.any() or not len(self.popular_order_):
            return
        pos_in = np.full(n_items, -1, dtype=np.int64)
        pos_in[self.popular_order_] = np.arange(len(self.popular_order_))
        chosen = items >= 0
        r_b = np.concatenate([ctx_rows, np.nonzero(chosen)[0]]).astype(np.int64)
        p_b = pos_in[np.concatenate([ctx_items, items[chosen]]).astype(np.int64)]
        skip = np.bincount(r_b[p_b >= 0], minlength=n)
        width = min(len(self.popular_order_), k + int(skip.max(initial=0)))
        cand = self.popular_order_[:width]
        taken = np.zeros((n, width), dtype=bool)
        inside = (p_b >= 0) & (p_b < width)
        taken[r_b[inside], p_b[inside]] = True
        free = ~taken
        rank = np.cumsum(free, axis=1)
        take = free & (rank <= need[:, None])
        r, c = np.nonzero(take)
        slot = n_rule[r] + rank[r, c] - 1
        lowest = np.where(n_rule > 0, np.min(np.where(chosen, scores, np.inf), axis=1), 0.0)
        base = np.minimum(0.0, lowest) - 1.0
        items[r, slot] = cand[c]
        scores[r, slot] = base[r] + 0.5 * self.popular_share_[cand[c]]


def _rule_weight(rs: RuleSet, metric: str) -> np.ndarray:
    """Per-rule score; conviction of certain rules made finite (see module docstring)."""
    rules = rs.rules
    if metric != "conviction":
        return rules[metric].to_numpy(dtype=np.float64)
    count = rules["count"].to_numpy(dtype=np.float64)
    count_a = np.rint(rules["antecedent_support"].to_numpy(dtype=np.float64) * rs.n_baskets)
    conf = np.where(count >= count_a, count_a / (count_a + 1.0), rules["confidence"].to_numpy(dtype=np.float64))
    return (1.0 - rules["consequent_support"].to_numpy(dtype=np.float64)) / (1.0 - conf)
