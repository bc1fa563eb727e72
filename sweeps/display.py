"""A view built once and shown three ways: in the terminal (rich), as ``repr`` (plain text),
and in Jupyter (HTML tables, ``_repr_html_``).

A :class:`View` is a list of blocks, each a :class:`Line` of text or a :class:`Grid` (a
table). The CLI prints a view with :meth:`View.print`; the Python objects that ``Study``
returns are views, so a notebook shows the same lines and tables that the command prints.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Grid", "Line", "View"]

WIDTH = 120  # the width the CLI's tables were designed for


@dataclass(frozen=True)
class Line:
    """A line of text; ``lead`` (if any) comes first, in bold."""

    text: str
    lead: str = ""


@dataclass
class Grid:
    """A table: a title, column names, rows of cells (already formatted), and the row
    indices a rule goes above (a section: the baseline below the top trials, ensembles)."""

    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    title: str | None = None
    right: frozenset[str] = frozenset()  # columns aligned right (numbers)
    sections: list[int] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        self.rows.append(cells)

    def section(self) -> None:
        """A rule above the next row."""
        self.sections.append(len(self.rows))

    def rich(self) -> Table:
        title = Text(self.title) if self.title else None  # a study's name is never markup
        table = Table(title=title, title_justify="left")
        for column in self.columns:
            table.add_column(column, justify="right" if column in self.right else "left")
        for index, row in enumerate(self.rows):
            if index in self.sections and index:
                table.add_section()
            table.add_row(*(Text(cell) for cell in row))  # cells are data, never markup
        return table

    def html(self) -> str:
        def cell(tag: str, text: str, column: str, rule: bool = False) -> str:
            style = ["text-align: right" if column in self.right else "text-align: left"]
            style.append("padding: 0.15em 0.6em")
            if rule:
                style.append("border-top: 2px solid currentColor")
            return f'<{tag} style="{"; ".join(style)}">{html.escape(text)}</{tag}>'

        head = "".join(cell("th", c, c) for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(
                cell("td", text, column, rule=index in self.sections and index > 0)
                for text, column in zip(row, self.columns, strict=True)
            )
            + "</tr>"
            for index, row in enumerate(self.rows)
        )
        caption = (
            f'<caption style="text-align: left; font-weight: bold">'
            f"{html.escape(self.title)}</caption>"
            if self.title
            else ""
        )
        return (
            f'<table style="margin-bottom: 1em">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )


Block = Line | Grid
_CODE = re.compile(r"`([^`]+)`")


def _code_spans(text: str) -> str:
    """A command or call in backticks (a next step) as code."""
    return _CODE.sub(r"<code>\1</code>", text)


class View:
    """Something the CLI prints and a notebook displays: the same blocks either way."""

    def blocks(self) -> Iterable[Block]:
        raise NotImplementedError

    def print(self, console: Console) -> None:
        """Print the view on ``console``: lines never wrapped inside, tables as rich draws them."""
        for block in self.blocks():
            if isinstance(block, Grid):
                console.print(block.rich())
            else:
                text = Text(block.lead, style="bold") if block.lead else Text()
                console.print(text + Text(block.text), soft_wrap=True)

    def __repr__(self) -> str:
        out = io.StringIO()
        self.print(Console(file=out, width=WIDTH, color_system=None, force_terminal=False))
        return out.getvalue().rstrip("\n")

    def _repr_html_(self) -> str:
        parts = []
        for block in self.blocks():
            if isinstance(block, Grid):
                parts.append(block.html())
            else:
                lead = f"<b>{html.escape(block.lead)}</b>" if block.lead else ""
                parts.append(f"<p>{lead}{_code_spans(html.escape(block.text))}</p>")
        return "<div>" + "\n".join(parts) + "</div>"
