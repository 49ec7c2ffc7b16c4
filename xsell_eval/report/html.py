"""A standalone HTML page from the Markdown report (``report.html``).

The Markdown is converted with ``markdown-it-py`` (already a dependency of ``rich``;
CommonMark plus GitHub tables, raw HTML disabled), and the figures are embedded as
base64 ``data:`` URIs, so the page is one file that opens anywhere and can be mailed.
The conversion is a pure function of the Markdown text and the image bytes: the same
inputs give the same page.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the Markdown section moved to the end of the page and folded (it is a reference, not a finding)
GLOSSARY_HEADING = "Terms used"

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5; color: #111;
       margin: 0; background: #fff; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem 2rem 4rem; overflow-wrap: break-word; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid #222; padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { font-size: 1.1rem; margin-top: 1.6rem; }
h2, h3 { scroll-margin-top: 0.5rem; }
nav.toc { border: 1px solid #ccc; background: #fafafa; padding: 0.5rem 1.2rem; margin: 1.2rem 0; font-size: 0.92rem; }
nav.toc > strong { display: block; margin-bottom: 0.2rem; }
nav.toc ol { margin: 0.1rem 0; padding-left: 1.4rem; }
nav.toc > ol { columns: 2 22rem; column-gap: 2rem; }
nav.toc > ol > li { break-inside: avoid; }
nav.toc ol ol { font-size: 0.95em; }
nav.toc li { margin: 0.05rem 0; }
nav.toc a, a.anchor { text-decoration: none; }
a.anchor { color: #999; margin-left: 0.35rem; font-weight: normal; visibility: hidden; }
h2:hover a.anchor, h3:hover a.anchor, a.anchor:focus { visibility: visible; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.8rem 0; }
table { border-collapse: collapse; font-size: 0.86rem; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #eee; }
td { background: #fff; }
tbody tr:nth-child(even) td { background: #f7f7f7; }
th:first-child, td:first-child { position: sticky; left: 0; white-space: nowrap; }
td.interval { white-space: nowrap; }
.up { color: #0a7a2f; font-weight: bold; }
.down { color: #b3261e; font-weight: bold; }
code { font-family: "SFMono-Regular", Consolas, monospace; font-size: 0.9em; background: #f2f2f2;
       padding: 0 0.2em; overflow-wrap: anywhere; }
pre { background: #f2f2f2; padding: 0.7rem; overflow-x: auto; }
pre code { background: none; padding: 0; overflow-wrap: normal; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; margin: 0.6rem 0; }
li { margin: 0.2rem 0; }
details.glossary { margin-top: 2.2rem; }
details.glossary > summary { cursor: pointer; }
details.glossary > summary > h2 { display: inline; border: none; margin: 0; }
details.glossary[open] .hint { display: none; }
@media print { main { max-width: none; padding: 0; } h2 { page-break-after: avoid; } img { page-break-inside: avoid; }
               nav.toc { display: none; } .table-wrap { overflow: visible; } }
""".strip()

_MARKS = {
    "▲": '<span class="up" title="significantly better">▲</span>',
    "▼": '<span class="down" title="significantly worse">▼</span>',
}
# an interval such as "[0.1322, 0.1427]" or "[+25.5 pp, +29.6 pp]": a cell holding one is kept on one line
_INTERVAL = re.compile(r"\[[^\[\]]*\d[^\[\]]*,[^\[\]]*\d[^\[\]]*\]")
_INTERVAL_CELL_MAX = 60  # longer cells are prose (a note with an interval in it): they may wrap


def _renderer(images: Mapping[str, bytes]) -> Any:
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import escapeHtml

    md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # our links: relative paths, data: URIs
    default_image = getattr(md.renderer, "rules", {}).get("image")

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        data = images.get(src)
        if data is not None:
            token.attrSet("src", "data:image/png;base64," + base64.b64encode(data).decode("ascii"))
        return str(default_image(tokens, idx, options, env)) if default_image else ""

    def text(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        out = escapeHtml(tokens[idx].content)
        for mark, span in _MARKS.items():  # coloured by class; the character stays for screen readers and copying
            out = out.replace(mark, span)
        return out

    def table_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return '<div class="table-wrap">\n' + str(renderer.renderToken(tokens, idx, options, env))

    def table_close(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return str(renderer.renderToken(tokens, idx, options, env)) + "</div>\n"

    md.add_render_rule("image", image)
    md.add_render_rule("text", text)
    md.add_render_rule("table_open", table_open)
    md.add_render_rule("table_close", table_close)
    return md


def _slug(text: str, taken: set[str]) -> str:
    """A unique, stable HTML id for a heading: lower case words joined by '-'."""
    base = "-".join(re.findall(r"[a-z0-9]+", text.lower())) or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _prepare(md: Any, tokens: list[Any]) -> list[tuple[int, str, str]]:
    """Ids on every h2/h3 (returned as (level, id, inner HTML) in order); interval cells marked no-wrap."""
    headings: list[tuple[int, str, str]] = []
    taken: set[str] = set()
    for i, t in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t.type == "heading_open" and t.tag in ("h2", "h3") and nxt is not None and nxt.type == "inline":
            plain = "".join(c.content for c in (nxt.children or []) if c.type in ("text", "code_inline"))
            slug = _slug(plain, taken)
            t.attrSet("id", slug)
            headings.append((int(t.tag[1]), slug, md.renderer.renderInline(nxt.children or [], md.options, {})))
        elif (
            t.type == "td_open"
            and nxt is not None
            and nxt.type == "inline"
            and len(nxt.content) <= _INTERVAL_CELL_MAX
            and _INTERVAL.search(nxt.content)
        ):
            t.attrJoin("class", "interval")
    return headings


def _toc(headings: list[tuple[int, str, str]]) -> str:
    """A nested list of links: every h2, and the h3 under it."""
    lines = ['<nav class="toc" aria-label="Contents">', "<strong>Contents</strong>", "<ol>"]
    open_sub = False
    for i, (level, slug, inner) in enumerate(headings):
        if level == 3 and not open_sub and i > 0:
            lines[-1] = lines[-1].removesuffix("</li>")
            lines.append("<ol>")
            open_sub = True
        elif level == 2 and open_sub:
            lines.append("</ol></li>")
            open_sub = False
        lines.append(f'<li><a href="#{slug}">{inner}</a></li>')
    if open_sub:
        lines.append("</ol></li>")
    lines += ["</ol>", "</nav>"]
    return "\n".join(lines) + "\n"


def _arrange(body: str, headings: list[tuple[int, str, str]]) -> str:
    """Contents after the title; the glossary section moved to the end, folded in a ``<details>``."""
    starts = [m.start() for m in re.finditer(r'<h2 id="', body)]
    if not starts:
        return body
    head, sections = body[: starts[0]], [body[a:b] for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]
    h2 = [(slug, inner) for level, slug, inner in headings if level == 2]
    glossary = [i for i, (_, inner) in enumerate(h2) if inner.strip() == GLOSSARY_HEADING]
    folded = ""
    if glossary:
        i = glossary[0]
        slug, inner = h2[i]
        section = sections.pop(i)
        rest = section.split("</h2>", 1)[1] if "</h2>" in section else section
        folded = (
            f'<details class="glossary" id="{slug}">\n<summary><h2>{inner}</h2> '
            f'<span class="hint">(click to open)</span></summary>\n{rest}</details>\n'
        )
        at = next(j for j, h in enumerate(headings) if h[1] == slug)
        end = next((j for j in range(at + 1, len(headings)) if headings[j][0] == 2), len(headings))
        headings = headings[:at] + headings[end:] + headings[at:end]  # its ### (if any) travel with it
    anchored = [re.sub(r'(<h([23]) id="([^"]+)">)(.*?)(</h\2>)', _self_link, s) for s in sections]
    return head + _toc(headings) + "".join(anchored) + folded


def _self_link(m: re.Match[str]) -> str:
    """A '#' link after a heading's text (visible on hover), so that a section's address can be copied."""
    link = f'<a class="anchor" href="#{m.group(3)}" aria-label="link to this section">#</a>'
    return f"{m.group(1)}{m.group(4)}{link}{m.group(5)}"


def render_html(markdown: str, *, images: Mapping[str, bytes] | None = None, title: str | None = None) -> str:
    """A complete HTML page for ``markdown``.

    The page adds what a long report needs on screen: a table of contents linking every section
    (``##`` and ``###`` get ids), the glossary section ("Terms used") moved to the end and folded,
    ▲/▼ coloured green/red (the characters stay), interval cells that do not wrap, and tables that
    scroll sideways inside the page instead of widening it.

    Args:
        markdown: the report text.
        images: relative image path (as written in the Markdown) -> PNG bytes to embed;
            images not given stay relative links.
        title: the page title (default: the first ``# `` heading).

    Example:
        >>> page = render_html("# Title\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |\\n")
        >>> "<table>" in page and "<title>Title</title>" in page
        True
    """
    if title is None:
        first = next((ln for ln in markdown.splitlines() if ln.startswith("# ")), "# xsell-eval report")
        title = first[2:].replace("`", "").strip()
    md = _renderer(images or {})
    env: dict[str, Any] = {}
    tokens = md.parse(markdown, env)
    headings = _prepare(md, tokens)
    body = _arrange(md.renderer.render(tokens, md.options, env), headings)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="xsell-eval">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n<main>\n"
        f"{body}</main>\n</body>\n</html>\n"
    )


def image_refs(markdown: str) -> list[str]:
    """Relative image paths referenced by ``![alt](path)`` in the Markdown (in order, unique)."""
    return list(dict.fromkeys(re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)))


def render_html_for(run_dir: str | Path, markdown: str) -> str:
    """The standalone HTML of ``markdown``, embedding the figures it references from ``run_dir``.

    Written by :func:`xsell_eval.results.write_report` (the one writer of run directories).
    """
    d = Path(run_dir)
    images = {}
    for ref in image_refs(markdown):
        p = d / ref
        if not ref.startswith(("http:", "https:", "data:", "/")) and p.is_file():
            images[ref] = p.read_bytes()
    return render_html(markdown, images=images)
