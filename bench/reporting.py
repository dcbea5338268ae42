"""What every benchmark prints: percentiles, and a table on the console and in Markdown."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table


def percentile(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def print_table(
    console: Console,
    title: str,
    headers: Sequence[str],
    lines: Sequence[Sequence[str]],
    markdown: bool,
) -> None:
    """``lines`` as a Rich table, and as a Markdown table for docs/performance.md if asked."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right")
    for line in lines:
        table.add_row(*line)
    console.print(table)
    if markdown:
        console.print("| " + " | ".join(headers) + " |", soft_wrap=True)
        console.print("|" + "---|" * len(headers), soft_wrap=True)
        for line in lines:
            console.print("| " + " | ".join(line) + " |", soft_wrap=True)
