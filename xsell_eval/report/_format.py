"""The one set of formatters every report renderer uses (compare, tuning, A/B).

One Markdown table writer (cells escape ``|`` and newlines), one percent formatter, one
p-value formatter, one number and one money formatter: the same number reads the same
in every section and every report.
"""

from __future__ import annotations

import math
from typing import Any

from xsell_eval.report.plots import CURRENCY_SYMBOL, metric_unit


def num(x: Any) -> float:
    """``float(x)``; NaN for None and anything that is not a number."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def ok(x: Any) -> bool:
    """True for a finite number."""
    return math.isfinite(num(x))


def fmt(x: Any, digits: int = 4) -> str:
    """Compact number: thousands separators from 100, 3 decimals from 1, ``digits`` decimals below.

    None, NaN and inf read ``—``; booleans ``true``/``false``; text is kept as it is.
    """
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return x
    if x is None or not ok(x):
        return "—"
    if isinstance(x, int):
        return f"{x:,}"
    v = float(x)
    ax = abs(v)
    if ax >= 100:
        return f"{v:,.1f}"
    if ax >= 1:
        return f"{v:.3f}"
    return f"{v:.{digits}f}"


def signed(x: Any, digits: int = 4) -> str:
    """:func:`fmt` with a ``+`` on positive values."""
    s = fmt(x, digits)
    return s if s == "—" or s.startswith("-") else "+" + s


def pct(x: Any, *, signed: bool = False) -> str:
    """A share as a percentage: ``0.6327`` -> ``63.3%``; small values keep 2 significant digits."""
    if not ok(x):
        return "—"
    v = 100 * float(x)
    ax = abs(v)
    body = f"{v:,.1f}" if ax >= 1 or ax == 0 else f"{v:.2g}"
    return f"{'+' if signed and v > 0 else ''}{body}%"


def pp(x: Any) -> str:
    """A difference of shares in percentage points, signed."""
    if not ok(x):
        return "—"
    v = 100 * float(x)
    body = f"{v:.1f}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"
    return f"{'+' if v > 0 else ''}{body} pp"


def p_value(x: Any) -> str:
    """A p-value: ``< 0.0001`` below that, 2 significant digits below 0.01, else 2 decimals."""
    if not ok(x):
        return "—"
    v = float(x)
    if v < 1e-4:
        return "< 0.0001"
    if v < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}"


def p_eq(x: Any) -> str:
    """``p = 0.13`` or ``p < 0.0001``."""
    t = p_value(x)
    return f"p {t}" if t.startswith("<") else f"p = {t}"


def currency_label(code: str | None) -> tuple[str, str]:
    """(prefix, suffix) for money: ``("£", "")`` for GBP, ``("", " CHF")`` for other codes, none if unknown."""
    if not code:
        return "", ""
    sym = CURRENCY_SYMBOL.get(code.upper())
    return (sym, "") if sym else ("", f" {code}")


def currency_name(code: str | None) -> str:
    """How the report names the currency: ``"£"``, ``"CHF"`` or ``"the data's currency"``."""
    if not code:
        return "the data's currency"
    return CURRENCY_SYMBOL.get(code.upper(), code)


def money(x: Any, currency: str | None, *, signed: bool = False, decimals: int = 0) -> str:
    """An amount with the currency (``£1,234``, ``1,234 CHF``); ``signed`` adds ``+`` to gains."""
    if not ok(x):
        return "—"
    v = float(x)
    pre, suf = currency_label(currency)
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    return f"{sign}{pre}{abs(v):,.{decimals}f}{suf}"


def value(metric: str, x: Any, currency: str | None = None) -> str:
    """A metric value in its unit (shares as %, money with the currency)."""
    unit = metric_unit(metric)
    if unit == "share":
        return pct(x)
    if unit == "currency":
        return money(x, currency, decimals=2)
    return fmt(x)


def diff(metric: str, x: Any, currency: str | None = None) -> str:
    """A difference of a metric in its unit (shares in pp, money signed, others signed)."""
    unit = metric_unit(metric)
    if unit == "share":
        return pp(x)
    if unit == "currency":
        return money(x, currency, signed=True, decimals=2)
    return signed(x)


def ci(mean: Any, lo: Any, hi: Any) -> str:
    """``mean [low, high]`` with :func:`fmt`."""
    return f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


def cell(text: Any) -> str:
    """A Markdown table cell: ``|`` escaped, newlines folded to spaces."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one letter per column (``l``/``r``, default: first left, rest right)."""
    al = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else ":---" for a in al]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
