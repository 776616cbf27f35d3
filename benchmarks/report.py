"""Tables the benchmarks print: rich when installed, plain columns otherwise."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(
    title: str, headers: Sequence[str], body: Sequence[Sequence[str]], caption: Sequence[str]
) -> None:
    try:
        from rich import box
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
        print(f"\n{title}")
        for line in [headers, ["-" * w for w in widths], *body]:
            print(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(line, widths, strict=True))
                )
            )
        for line in caption:
            print(line)
        return
    table = Table(
        caption="\n".join(caption) or None,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for line in body:
        table.add_row(*line)
    console = Console()
    console.width = max(console.width, 100)  # not a terminal (piped): rich would assume 80
    console.print(f"\n{title}", style="bold", markup=False, highlight=False)
    console.print(table)
