"""What the demo prints: the incident channel as a person would read it, drawn with rich.

Messages are the bot's real Mattermost markdown, turned into terminal text line by line the way the web
app shows them: headings and ``**bold**`` in bold, tables aligned, quotes marked, emoji shortcodes as emoji.
Every line starts with the seconds since the demo began, so the compressed clock is visible.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from rich import box
from rich.console import Console, Group, RenderableType
from rich.emoji import Emoji
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

MAX_WIDTH = 110
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])_(\S(?:.*?\S)?)_(?!\w)")
_CODE = re.compile(r"`([^`]+)`")
_TABLE_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def emojize(text: str) -> str:
    """``:white_check_mark:`` -> ✅ (unknown shortcodes stay as written)."""
    return Emoji.replace(text)


def inline(text: str) -> Text:
    """One line of Mattermost markdown as styled text."""
    markup = escape(emojize(text.replace("\u200d", "")))  # the bot's silent mentions: invisible in chat
    markup = _CODE.sub(r"[cyan]\1[/cyan]", markup)
    markup = _BOLD.sub(r"[bold]\1[/bold]", markup)
    markup = _ITALIC.sub(r"[italic]\1[/italic]", markup)
    return Text.from_markup(markup, emoji=False)


def plain(text: str) -> str:
    """Markdown reduced to what a reader sees, on one line: for short summaries of a post."""
    return inline(text.replace("### ", "")).plain


def render_markdown(message: str) -> Group:
    """A whole post: headings, paragraphs (each line kept, as Mattermost does), quotes, lists and tables."""
    parts: list[RenderableType] = []
    table: list[list[str]] = []
    for line in message.split("\n"):
        if line.startswith("|"):
            if not _TABLE_RULE.match(line):
                table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if table:
            parts.append(_table(table))
            table = []
        parts.append(_markdown_line(line))
    if table:
        parts.append(_table(table))
    return Group(*parts)


def _table(rows: list[list[str]]) -> Table:
    """A markdown table's rows (the first is the header) as a rich table."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))
    for cell in rows[0]:
        grid.add_column(inline(cell))
    for row in rows[1:]:
        grid.add_row(*(inline(cell) for cell in row))
    return grid


def _markdown_line(line: str) -> Text:
    """One line outside a table: a heading (shown bold), a quote, a list item or a paragraph line."""
    if line.startswith("#"):
        return inline("**" + line.lstrip("#").strip() + "**")
    if line.startswith(">"):
        return Text("▌ ", style="dim") + inline(line[1:].strip())
    if line.startswith("- "):
        return Text("• ") + inline(line[2:])
    return inline(line)


class Screen:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=False)
        if self.console.width > MAX_WIDTH:
            self.console.width = MAX_WIDTH
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _stamp(self) -> Text:
        return Text(f"{self.elapsed():5.1f}s ", style="dim")

    def line(self, text: Text | str, style: str = "") -> None:
        """One line of the story after its time stamp; long lines wrap under the text, not the stamp."""
        body = text if isinstance(text, Text) else Text(text)
        if style:
            body.stylize(style)
        row = Table.grid()
        row.add_column(no_wrap=True)
        row.add_column()
        row.add_row(self._stamp(), body)
        self.console.print(row)

    def blank(self) -> None:
        self.console.print()

    # -- the story ------------------------------------------------------------------------------------

    def title(self, text: str, lines: Iterable[str]) -> None:
        self.console.print(Panel(Group(*(Text(line) for line in lines)), title=text, title_align="left"))

    def heading(self, text: str) -> None:
        self.console.print()
        self.console.rule(Text(text, style="bold"), align="left")

    def action(self, actor: str, doing: str, what: str) -> None:
        """A person does something in their Mattermost app: ``@bob reacts ✅ to`` ``1.3 Start audio``."""
        self.line(Text.assemble(("▶ ", "bold green"), (f"@{actor}", "bold"), f" {doing} ", (what, "green")))

    def reply(self, actor: str, text: str) -> None:
        """The ephemeral answer to a slash command, seen only by whoever typed it."""
        first, *rest = text.strip().split("\n") or [""]
        more = f" (+{len(rest)} lines)" if rest else ""
        self.line(
            Text.assemble(("  ↳ only @" + actor + " sees: ", "dim"), inline(first), (more, "dim")),
        )

    def note(self, text: str) -> None:
        self.line(Text(text, style="dim"))

    def channel(self, name: str, display_name: str, header: str, private: bool) -> None:
        kind = "private channel" if private else "channel"
        self.heading(f"~{name} · {display_name}")
        self.line(Text.assemble(("Channel created", "bold"), f" ({kind}) by sev1bot"))
        self.line(Text.assemble(("Header: ", "bold"), inline(header)))

    def members(self, usernames: Iterable[str]) -> None:
        self.line(Text.assemble(("Members: ", "bold"), " ".join(f"@{u}" for u in usernames)))

    def member_added(self, username: str) -> None:
        self.line(Text(f"+ @{username} joined the channel", style="dim"))

    def panel(self, title: str, author: str, message: str, style: str = "blue") -> None:
        """A post worth reading in full: the status board, a ping, an update, a reminder."""
        self.console.print(
            Panel(
                render_markdown(message),
                title=Text.assemble(self._stamp(), (title, "bold"), f" · {author}"),
                title_align="left",
                border_style=style,
            )
        )

    def stage_root(self, message: str) -> None:
        first = message.split("\n", 1)[0]
        self.line(Text.assemble(("sev1bot ", "dim"), inline("**" + first.lstrip("#").strip() + "**")))

    def item(self, message: str) -> None:
        first = message.split("\n", 1)[0]
        self.line(Text("   └ ", style="dim") + inline(first))

    def human_post(self, author: str, message: str) -> None:
        self.line(Text.assemble((f"@{author}", "bold"), ": ") + inline(message.replace("\n", " ")))

    def system_post(self, message: str) -> None:
        self.line(Text("· " + plain(message), style="dim"))

    def edited(self, label: str, change: str, dim: bool = False) -> None:
        body = Text.assemble(("✎ ", "yellow"), inline(label), (" → ", "dim"), inline(change))
        self.line(body, "dim" if dim else "")

    def pinned(self, label: str) -> None:
        self.line(Text.assemble(("📌 pinned ", "bold"), label))

    def direct_message(self, sender: str, to: str, message: str) -> None:
        self.panel(f"DM to @{to}", f"from @{sender}", message, style="magenta")

    def summary(self, rows: list[tuple[str, str]]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for label, value in rows:
            grid.add_row(label, inline(value))
        self.console.print()
        self.console.print(Panel(grid, title="Summary", title_align="left", border_style="green"))

    def failure(self, text: str) -> None:
        self.console.print(Panel(Text(text), title="demo failed", title_align="left", border_style="red"))
