"""Example recommendations: selection, storage round trip, the report section."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xsell_eval.examples import Example, Examples, item_titles, select_examples
from xsell_eval.pipeline import CompareConfig, run_compare
from xsell_eval.report.examples_section import examples_section
from xsell_eval.report.markdown import render_markdown
from xsell_eval.results import read_run, write_run
from xsell_eval.testing import toy_dataset


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    queries = pd.DataFrame(
        {
            "query_id": [0, 1, 2, 3, 4, 5, 6],
            "context": [["b"], ["a"], ["a"], ["b"], ["c", "d"], ["e", "f"], ["z"]],
            "targets": [["x"], ["y"], ["x"], ["y"], ["a"], ["b"], ["c"]],
        }
    )
    rows = []
    for q in range(7):
        for r, item in enumerate(["x", "y", "w", "v", "u", "t", "s"], 1):
            rows.append((q, "pop", r, item))
        rows.append((q, "cf", 1, "y"))
    return queries, pd.DataFrame(rows, columns=["query_id", "adapter", "rank", "item_id"])


def test_anchors_are_the_most_frequent_one_item_carts_then_seeded_carts() -> None:
    queries, recs = _frames()
    ex = select_examples(queries, recs, {"x": "Ex", "a": "Apple"}, ["pop", "cf", "absent"], k=5, n_anchors=2, n_carts=2)
    assert ex.adapters == ("pop", "cf")  # an adapter without lists is left out
    anchors = [e for e in ex.examples if e.kind == "anchor"]
    # 'a' and 'b' are each the whole cart of 2 queries (tie broken by id); the first query of each is shown
    assert [(e.cart, e.query_id, e.n_queries) for e in anchors] == [((("a", "Apple"),), 1, 2), ((("b", ""),), 0, 2)]
    carts = [e for e in ex.examples if e.kind == "cart"]
    assert sorted(e.query_id for e in carts) == [4, 5]  # carts of several items are preferred
    assert anchors[0].lists["pop"] == (("x", "Ex"), ("y", ""), ("w", ""), ("v", ""), ("u", ""))  # cut to k
    assert anchors[0].bought == (("y", ""),)
    again = select_examples(queries, recs, {}, ["pop", "cf"], k=5, n_anchors=2, n_carts=2)
    assert [e.query_id for e in again.examples] == [e.query_id for e in ex.examples]  # seeded: same picks
    assert Examples.from_dict(ex.to_dict()) == ex


def test_no_queries_or_no_lists_give_no_examples() -> None:
    queries, recs = _frames()
    assert select_examples(queries.iloc[:0], recs, {}, ["pop"]).examples == ()
    assert select_examples(queries, recs.iloc[:0], {}, ["pop"]).examples == ()
    assert examples_section(_result_with(None)) == []
    assert item_titles(None) == {} and item_titles(pd.DataFrame({"item_id": ["a"], "title": ["A"]})) == {"a": "A"}


def _result_with(examples: Examples | None):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from _report_fixtures import fixed_result

    return replace(fixed_result(), examples=examples)


def test_section_marks_bought_items_shortens_titles_and_escapes_pipes() -> None:
    long = "A VERY LONG PRODUCT TITLE THAT GOES ON AND ON"
    e = Example(
        kind="cart",
        query_id=7,
        cart=(("c1", "CART | ITEM"),),
        bought=(("b1", "BOUGHT"), ("z", "NOT SHOWN")),
        lists={"popular": (("b1", "BOUGHT"), ("p2", long)), "cf": (("q1", ""),)},
    )
    text = "\n".join(examples_section(_result_with(Examples(k=3, adapters=("popular", "cf"), examples=(e,)))))
    assert "## Example recommendations" in text
    assert "**Cart 1** (test query 7): CART \\| ITEM `c1`" in text
    assert "| 1 | ✓ BOUGHT `b1` | `q1` |" in text
    assert "| 2 | A VERY LONG PRODUCT TITLE THAT… `p2` | — |" in text
    assert "| 3 | — | — |" in text
    assert "Bought: BOUGHT `b1`, NOT SHOWN `z`" in text


def test_a_run_stores_its_examples_and_the_report_shows_them(tmp_path: Path) -> None:
    ds = toy_dataset()
    result = run_compare(
        CompareConfig(adapters=("cf",), ks=(5,), primary_metric="hit_rate@5", n_bootstrap=100), dataset=ds
    )
    ex = result.examples
    assert ex is not None and ex.adapters == ("popular", "cf") and len(ex.examples) == 6
    recs = result.recs_frame
    for e in ex.examples:
        for a, items in e.lists.items():
            expect = recs[(recs["query_id"] == e.query_id) & (recs["adapter"] == a)].sort_values("rank")["item_id"]
            assert [i for i, _ in items] == expect.head(5).tolist()  # the scored lists, not recomputed ones
    write_run(result, tmp_path / "run")
    back = read_run(tmp_path / "run")
    assert back.examples == ex
    md = render_markdown(back)
    assert md == render_markdown(result) and "## Example recommendations" in md
