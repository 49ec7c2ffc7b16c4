"""Console tables that stay readable at any width (80 columns in a pipe included).

A :class:`FitTable` is a rich renderable: it measures its cells (no cell is ever wrapped
or cut with "…") and, at render time, lays the table out for the width it is given:

1. one table with one-line cells, if that fits;
2. otherwise the same with each cell's second part (its interval) on a second line;
3. otherwise several tables under one title line, each repeating the key column (adapter,
   arm) and holding as many whole column groups as fit; the caption (a legend) follows them.

Only when a single value column is wider than the console does rich fold it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.text import Text


@dataclass(frozen=True)
class Cell:
    """A cell in two parts (rich markup): ``main`` (a value) and ``extra`` (its interval, dimmed), either may be ''."""

    main: str
    extra: str = ""

    def lines(self, stacked: bool) -> list[str]:
        if not self.extra:
            return [self.main]
        if not self.main:
            return [self.extra]
        return [self.main, self.extra] if stacked else [f"{self.main} {self.extra}"]

    def markup(self, stacked: bool) -> str:
        return "\n".join(self.lines(stacked))


@dataclass
class Column:
    """A value column: header lines (plain text), one cell per row, a group (columns kept together when split)."""

    header: str
    cells: list[Cell]
    group: str = ""
    justify: str = "right"


@dataclass
class FitTable:
    """Key column + value columns, laid out to fit the console width (see the module docstring)."""

    title: str
    key_header: str
    keys: list[str]
    columns: list[Column]
    caption: str | None = None
    key_max_width: int = 24
    _key_style: str = field(default="bold")

    @staticmethod
    def _width(lines: Sequence[str]) -> int:
        return max((cell_len(part) for x in lines for part in Text.from_markup(x).plain.split("\n")), default=0)

    def _col_width(self, col: Column, stacked: bool) -> int:
        lines = col.header.split("\n") + [ln for c in col.cells for ln in c.lines(stacked)]
        return self._width(lines)

    def _key_width(self) -> int:
        plain = [self.key_header, *(Text.from_markup(k).plain for k in self.keys)]
        return min(max(cell_len(part) for x in plain for part in x.split("\n")), self.key_max_width)

    def _chunks(self, width: int, stacked: bool) -> list[list[Column]]:
        """Whole groups per table where they fit; a group wider than a table is split column by column."""
        base = 1 + self._key_width() + 3  # outer border + key column (padding 2 + separator 1)
        chunks: list[list[Column]] = []
        current: list[Column] = []
        used = base
        groups: dict[str, list[Column]] = {}
        for c in self.columns:
            groups.setdefault(c.group or c.header, []).append(c)
        for cols in groups.values():
            need = sum(self._col_width(c, stacked) + 3 for c in cols)
            if current and used + need > width:
                chunks.append(current)
                current, used = [], base
            for c in cols:
                w = self._col_width(c, stacked) + 3
                if current and used + w > width:
                    chunks.append(current)
                    current, used = [], base
                current.append(c)
                used += w
        if current:
            chunks.append(current)
        return chunks

    def layout(self, width: int) -> tuple[bool, list[list[Column]]]:
        """(stacked cells?, column chunks) for a console ``width`` columns wide."""
        for stacked in (False, True):
            chunks = self._chunks(width, stacked)
            if len(chunks) <= 1:
                return stacked, chunks
        return True, chunks

    def renderables(self, width: int) -> list[Any]:
        """One table with its title and caption; or, split, the title line, the tables, the caption line."""
        from rich.table import Table
        from rich.text import Text

        stacked, chunks = self.layout(width)
        split = len(chunks) > 1
        out: list[Any] = [Text.from_markup(f"[italic]{self.title}[/]")] if split else []
        for cols in chunks or [[]]:
            table = Table(
                title=None if split else self.title,
                caption=None if split else self.caption,
                caption_justify="left",
            )
            table.add_column(self.key_header, style=self._key_style, overflow="fold", max_width=self.key_max_width)
            for c in cols:
                table.add_column(
                    c.header,
                    justify=c.justify,  # type: ignore[arg-type]
                    no_wrap=True,
                    min_width=self._col_width(c, stacked),
                )
            for r, key in enumerate(self.keys):
                table.add_row(key, *(c.cells[r].markup(stacked) for c in cols))
            out.append(table)
        if split and self.caption:
            out.append(Text.from_markup(f"[dim]{self.caption}[/]"))
        return out

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        yield from self.renderables(options.max_width)
