"""report.html read as a page: contents and anchors, the glossary folded at the end, coloured marks,
interval cells on one line, tables that scroll inside the page; and the plot fixes (overlap note,
legends outside the data area). The real-browser check is tests/test_browser.py."""

from __future__ import annotations

import re

import pandas as pd
from _report_fixtures import fixed_result

from xsell_eval.report import markdown as M
from xsell_eval.report.html import CSS, GLOSSARY_HEADING, render_html
from xsell_eval.report.plots import figure_lift, overlap_note


def _page() -> str:
    return render_html(M.render_markdown(fixed_result()))


def test_contents_link_every_section_and_ids_are_unique() -> None:
    page = _page()
    md = M.render_markdown(fixed_result())
    ids = re.findall(r'<h[23] id="([^"]+)"', page) + re.findall(r'<details class="glossary" id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    n_headings = len(re.findall(r"^#{2,3} ", md, flags=re.M))
    assert len(ids) == n_headings  # every ## and ### has an anchor
    toc = page.split('<nav class="toc"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="#([^"]+)"', toc)
    assert sorted(links) == sorted(ids)
    # the contents come after the title and before the first section
    assert page.index("<h1>") < page.index('<nav class="toc"') < page.index('<h2 id="decision"')
    assert links[0] == "decision" and '<a href="#decision">Decision</a>' in toc


def test_glossary_moved_to_the_end_and_folded() -> None:
    page = _page()
    md = M.render_markdown(fixed_result())
    assert md.index(f"## {GLOSSARY_HEADING}") < md.index("## Results at k")  # the Markdown keeps its order
    start = page.index('<details class="glossary"')
    assert start > page.index('id="provenance"')  # after the last section
    folded = page[start : page.index("</details>", start)]
    assert f"<summary><h2>{GLOSSARY_HEADING}</h2>" in folded
    assert "<strong>hit_rate</strong>" in folded  # its terms are inside the fold
    assert page.count(f">{GLOSSARY_HEADING}<") == 2  # the contents link and the folded heading, nothing else


def test_marks_coloured_by_class_with_the_character_kept() -> None:
    page = _page()
    body = page.split("<body>", 1)[1]
    assert '<span class="up" title="significantly better">▲</span>' in body
    assert body.count("▲") == body.count('<span class="up"')  # every mark coloured, none lost
    assert ".up { color: #0a7a2f" in CSS and ".down { color: #b3261e" in CSS
    page2 = render_html("# t\n\n| a | b |\n|---|---|\n| x | 0.2 [0.1, 0.3] ▼ |\n")
    assert '<span class="down" title="significantly worse">▼</span>' in page2


def test_interval_cells_do_not_wrap_and_tables_scroll_inside_the_page() -> None:
    page = render_html(
        "# t\n\n| adapter | hit_rate@10 [95% CI] | note |\n|---|---:|---|\n"
        "| cf | 0.6327 [0.6161, 0.6487] ▲ | a long sentence that may wrap, and it names no interval |\n"
    )
    assert '<td style="text-align:right" class="interval">0.6327 [0.6161, 0.6487]' in page
    assert page.count('class="interval"') == 1  # the prose cell may wrap
    assert '<div class="table-wrap">\n<table>' in page and "</table>\n</div>" in page
    assert "td.interval { white-space: nowrap; }" in CSS
    assert re.search(r"\.table-wrap \{[^}]*overflow-x: auto", CSS)
    full = _page()
    assert full.count('<div class="table-wrap">') == full.count("<table>") > 5
    assert full.count('class="interval"') > 20


def test_html_is_deterministic_and_md_without_headings_still_renders() -> None:
    assert _page() == _page()
    page = render_html("# only a title\n\ntext\n")
    assert "<nav" not in page and "<p>text</p>" in page


def test_overlap_note_only_when_groups_add_up_to_more_than_the_queries() -> None:
    pop = pd.DataFrame({"bucket": ["unseen", "tail", "head"] * 2, "n": [581, 3236, 3219] * 2})
    note = overlap_note(pop, 3436)
    assert "groups overlap" in note and "7,036" in note and "3,436" in note
    hist = pd.DataFrame({"bucket": ["0", "1-2", "3-9", "10+"], "n": [510, 790, 1198, 938]})
    assert overlap_note(hist, 3436) == ""  # a partition: no note


def test_lift_plot_legend_outside_every_axes() -> None:
    fig = figure_lift(fixed_result())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)
    box = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))


def test_abtest_lift_plot_legend_outside_the_axes(shop, tmp_path, monkeypatch) -> None:
    from matplotlib.figure import Figure
    from typer.testing import CliRunner

    from xsell_eval.cli import app
    from xsell_eval.report.abtest import plot_lift
    from xsell_eval.results import read_abtest_run

    out = tmp_path / "ab"
    args = [
        "abtest",
        "popular",
        "cf",
        "--data",
        str(shop),
        "--visitors",
        "3000",
        "--bootstrap",
        "100",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    seen: list[Figure] = []
    original = Figure.savefig

    def keep(self: Figure, *a: object, **kw: object) -> None:
        seen.append(self)
        original(self, *a, **kw)

    monkeypatch.setattr(Figure, "savefig", keep)
    plot_lift(read_abtest_run(out), tmp_path / "lift.png")
    (fig,) = seen
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # pyplot closed the figure: draw it again to measure
    canvas.draw()
    renderer = canvas.get_renderer()
    assert fig.legends, "the expected-lift marker is explained"
    box = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert ax.get_legend() is None
        assert not box.overlaps(ax.get_window_extent(renderer))


def test_glossary_subsections_move_with_it() -> None:
    md = "# T\n\n## Decision\n\nx\n\n## Terms used\n\n### Words\n\n- a\n\n## Data\n\ny\n"
    page = render_html(md)
    toc = page.split('<nav class="toc"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="#([^"]+)"', toc) == ["decision", "data", "terms-used", "words"]
    assert page.index('id="data"') < page.index('<details class="glossary"') < page.index('id="words"')
