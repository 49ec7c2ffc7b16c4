"""Basket drawing of the synthetic shop: the small-shop daily model and the scale model.

:func:`daily_baskets` is the small-shop model of :mod:`xsell_eval.data.synthetic` (its
module docstring states it); :func:`draw_scale_baskets` is used with ``generate_shop(n_lines=...)``.

The small-shop model of :mod:`xsell_eval.data.synthetic` draws every (basket, item) seed
independently, which costs ``baskets × catalog`` random numbers per day: fine for 300
items, impossible for an Instacart-size shop (3M baskets × 50k items). At scale the same
shop (categories, segments, complements ``Q``, users, release and join days) fills its
baskets differently, with cost proportional to the lines::

    popularity  a_j = rank_j ** -zipf_exponent (ranks a random permutation): Zipf item popularity
    segment s   P_s(j) ∝ a_j * taste_s[c_j]  (over all items; unreleased draws are dropped)
    basket b    user u_b ~ activity_u * (days the user is present); guests at guest_share;
                day d_b uniform over the user's days (join day .. last day)
    seeds       k_b = 1 + NegativeBinomial(r=basket_dispersion, mean = mean_seeds - 1) draws
                of P_s (with replacement; duplicates merged, items not yet released dropped)
    complements each seed i adds each released j with probability Q[i, j] (noisy-OR, as small shops)

``mean_seeds = mean_basket_size / (1 + c)`` where ``c`` is the expected number of items a
seed adds, so baskets average about ``mean_basket_size`` lines (Instacart: 10.1 lines per
order, median 8). The truth's complements ``Q`` stay exact; its ``base_prob`` is the
probability that ``j`` is among a basket's seeds, ``1 - (1 - P_s(j)) * E[(1 - P_s(j)) ** (k - 1)]``
(exact for the draws above, ignoring release days). Seeds of one basket are not independent
here (their count is drawn first), so the truth's law is an approximation at scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class ScaleBaskets:
    """Lines and baskets drawn at scale (generator indices).

    Attributes:
        line_basket: basket index per line (int32, sorted).
        line_item: item index per line (int32).
        basket_user: user index per basket (-1 = guest).
        basket_day: day per basket.
        base_prob: (n_segments × n_items) seed inclusion probability per basket.
        mean_seeds: mean number of seed draws per basket.
    """

    line_basket: np.ndarray
    line_item: np.ndarray
    basket_user: np.ndarray
    basket_day: np.ndarray
    base_prob: np.ndarray
    mean_seeds: float


def zipf_attractiveness(rng: np.random.Generator, n_items: int, exponent: float) -> np.ndarray:
    """``rank ** -exponent`` over a random permutation of the ranks 1..n_items."""
    ranks = rng.permutation(n_items) + 1
    return np.asarray(ranks, dtype=np.float64) ** -float(exponent)


def _seed_counts(rng: np.random.Generator, mean_seeds: float, r: float, n: int) -> np.ndarray:
    """``1 + NegativeBinomial(r, mean = mean_seeds - 1)`` seed draws per basket."""
    extra = mean_seeds - 1.0
    if extra <= 0:
        return np.ones(n, dtype=np.int64)
    return 1 + rng.negative_binomial(r, r / (r + extra), n)


@dataclass(frozen=True)
class _Filler:
    """Fills baskets ``lo..hi`` with seeds and their complements (see the module docstring)."""

    flat_cum: np.ndarray
    comp: sp.csr_matrix
    release: np.ndarray
    bd: np.ndarray
    seg: np.ndarray

    def lines(self, rng: np.random.Generator, lo: int, hi: int, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(basket index, item index) of the lines of baskets ``lo..hi``, sorted, duplicates merged."""
        n_items = self.comp.shape[0]
        indptr, indices, qdata = self.comp.indptr, self.comp.indices, self.comp.data
        sb = np.repeat(np.arange(lo, hi, dtype=np.int64), k)
        ss = self.seg[sb]
        pos = np.searchsorted(self.flat_cum, ss + rng.random(len(sb)), side="right")
        si = np.minimum(pos - ss * n_items, n_items - 1)
        ok = self.release[si] <= self.bd[sb]
        sb, si = sb[ok], si[ok]
        lens = indptr[si + 1] - indptr[si]
        rb = np.repeat(sb, lens)
        offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        qpos = np.repeat(indptr[si], lens) + offs
        cj = indices[qpos]
        added = (rng.random(len(qpos)) < qdata[qpos]) & (self.release[cj] <= self.bd[rb])
        key = np.unique(np.r_[sb * n_items + si, rb[added] * n_items + cj[added]])
        return (key // n_items).astype(np.int64), (key % n_items).astype(np.int32)


def draw_scale_baskets(
    rng: np.random.Generator,
    *,
    n_baskets: int,
    mean_basket_size: float,
    basket_dispersion: float,
    attract: np.ndarray,
    taste: np.ndarray,
    item_cat: np.ndarray,
    release: np.ndarray,
    comp: sp.csr_matrix,
    user_seg: np.ndarray,
    seg_share: np.ndarray,
    join: np.ndarray,
    activity: np.ndarray,
    guest_share: float,
    n_days: int,
    chunk_baskets: int = 200_000,
) -> ScaleBaskets:
    """Draw ``n_baskets`` baskets; memory is bounded by ``chunk_baskets`` beyond the output arrays.

    Returns:
        The :class:`ScaleBaskets` (baskets without any line are dropped and renumbered).
    """
    n_users = len(user_seg)
    n_segments = taste.shape[0]
    pop = attract[None, :] * taste[:, item_cat]
    prob = pop / pop.sum(axis=1, keepdims=True)  # P_s(j)
    r = float(basket_dispersion)

    # ---- baskets: users (by activity × presence), days, segments
    n_guest = int(rng.binomial(n_baskets, guest_share))
    weight = activity * (n_days - join)
    users = rng.choice(n_users, size=n_baskets - n_guest, p=weight / weight.sum())
    bu = rng.permutation(np.r_[users, np.full(n_guest, -1)]).astype(np.int64)
    start = np.where(bu >= 0, join[np.maximum(bu, 0)], 0)
    bd = start + (rng.random(n_baskets) * (n_days - start)).astype(np.int64)
    seg = np.where(bu >= 0, user_seg[np.maximum(bu, 0)], rng.choice(n_segments, n_baskets, p=seg_share))

    # one increasing array over all segments: segment s occupies (s, s + 1]
    cum = np.cumsum(prob, axis=1)
    cum /= cum[:, -1:]
    fill = _Filler(flat_cum=(cum + np.arange(n_segments)[:, None]).ravel(), comp=comp, release=release, bd=bd, seg=seg)

    # ---- mean seed draws: 1 + c added per seed, then one pilot of <= 20k baskets corrects for
    # merged duplicates and unreleased draws, so baskets average about mean_basket_size lines
    c = float((seg_share @ prob) @ np.asarray(comp.sum(axis=1)).ravel())
    mean_seeds = max(1.0, float(mean_basket_size) / (1.0 + c))
    pilot_rng = np.random.default_rng(rng.integers(0, 2**63))
    n_pilot = min(n_baskets, 20_000)
    k_pilot = _seed_counts(pilot_rng, mean_seeds, r, n_pilot)
    got = len(fill.lines(pilot_rng, 0, n_pilot, k_pilot)[0]) / max(1, n_pilot)
    if got > 0:
        mean_seeds = max(1.0, mean_seeds * float(mean_basket_size) / got)
    k = _seed_counts(rng, mean_seeds, r, n_baskets)
    extra = mean_seeds - 1.0
    p_nb = r / (r + extra) if extra > 0 else 1.0
    # P(j among the seeds) = 1 - (1-P) * E[(1-P)^(k-1)], E[z^X] = (p / (1 - (1-p) z))^r for X ~ NB(r, p)
    z = 1.0 - prob
    base = 1.0 - z * (p_nb / (1.0 - (1.0 - p_nb) * z)) ** r

    out_b: list[np.ndarray] = []
    out_i: list[np.ndarray] = []
    for lo in range(0, n_baskets, chunk_baskets):
        hi = min(lo + chunk_baskets, n_baskets)
        b, i = fill.lines(rng, lo, hi, k[lo:hi])
        out_b.append(b)
        out_i.append(i)
    lb = np.concatenate(out_b)
    li = np.concatenate(out_i)
    new = np.r_[True, lb[1:] != lb[:-1]]  # lb is sorted: chunks in order, keys sorted in a chunk
    kept = lb[new]
    lb_new = (np.cumsum(new) - 1).astype(np.int32)
    del lb
    return ScaleBaskets(
        line_basket=lb_new,
        line_item=li,
        basket_user=bu[kept],
        basket_day=bd[kept],
        base_prob=base,
        mean_seeds=mean_seeds,
    )


def daily_baskets(
    rng: np.random.Generator,
    n_days: int,
    n_users: int,
    n_items: int,
    n_segments: int,
    join: np.ndarray,
    activity: np.ndarray,
    guest_rate: float,
    user_seg: np.ndarray,
    seg_share: np.ndarray,
    release: np.ndarray,
    base: np.ndarray,
    comp: sp.csr_matrix,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Small-shop baskets, one day at a time (vectorised over the day's baskets; see the module docstring).

    Returns:
        ``(basket user, basket day, line basket, line item, number of baskets)``.
    """
    b_user: list[np.ndarray] = []
    b_day: list[np.ndarray] = []
    l_basket: list[np.ndarray] = []
    l_item: list[np.ndarray] = []
    n_b = 0
    indptr, indices = comp.indptr, comp.indices
    for d in range(n_days):
        active = join <= d
        counts = rng.poisson(activity * active)
        users = np.repeat(np.arange(n_users), counts)
        n_guest = rng.poisson(guest_rate)
        users = np.r_[users, np.full(n_guest, -1)]
        if len(users) == 0:
            continue
        seg = np.where(users >= 0, user_seg[np.maximum(users, 0)], rng.choice(n_segments, len(users), p=seg_share))
        released = release <= d
        p_seed = base[seg] * released[None, :]
        seeds = rng.random(p_seed.shape, dtype=np.float32) < p_seed
        sb, si = np.nonzero(seeds)
        # complements of every seed, drawn independently (noisy-OR)
        lens = indptr[si + 1] - indptr[si]
        rb = np.repeat(sb, lens)
        offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.repeat(indptr[si], lens) + offs
        cj = indices[pos]
        added = (rng.random(len(pos)) < comp.data[pos]) & released[cj]
        key = np.unique(np.r_[sb * n_items + si, rb[added] * n_items + cj[added]])
        lb, li = key // n_items, key % n_items
        nonempty, new_b = np.unique(lb, return_inverse=True)
        b_user.append(users[nonempty])
        b_day.append(np.full(len(nonempty), d))
        l_basket.append(new_b + n_b)
        l_item.append(li)
        n_b += len(nonempty)

    if n_b == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, 0
    bu = np.concatenate(b_user)
    bd = np.concatenate(b_day)
    lb = np.concatenate(l_basket)
    li = np.concatenate(l_item)
    return bu, bd, lb, li, n_b
