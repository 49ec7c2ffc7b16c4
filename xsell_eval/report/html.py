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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5; color: #111;
       margin: 0; background: #fff; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid #222; padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { font-size: 1.1rem; margin-top: 1.6rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.86rem; display: block; overflow-x: auto; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #eee; }
tbody tr:nth-child(even) { background: #f7f7f7; }
code { font-family: "SFMono-Regular", Consolas, monospace; font-size: 0.9em; background: #f2f2f2;
       padding: 0 0.2em; }
pre { background: #f2f2f2; padding: 0.7rem; overflow-x: auto; }
pre code { background: none; padding: 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; margin: 0.6rem 0; }
li { margin: 0.2rem 0; }
@media print { main { max-width: none; padding: 0; } h2 { page-break-after: avoid; } img { page-break-inside: avoid; } }
""".strip()


def _renderer(images: Mapping[str, bytes]) -> Any:
    from markdown_it import MarkdownIt

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

    md.add_render_rule("image", image)
    return md


def render_html(markdown: str, *, images: Mapping[str, bytes] | None = None, title: str | None = None) -> str:
    """A complete HTML page for ``markdown``.

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
    body = _renderer(images or {}).render(markdown)
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
    import re

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
