"""Charts for the dashboard as inline SVG: drawn on the server, no script, no library.

A chart is markup the page embeds as it is; every text in it (title, labels, series names) is
escaped here. Geometry is computed in exact decimals and written to 0.01 of a unit, so a bar
never pokes out of the plot through rounding. Pages put the same numbers in a table beside
the chart: the chart is for the eye, the table for everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from html import escape

# Colours that keep 3:1 against white and against each other's neighbours.
PALETTE = ("#1d4ed8", "#b45309", "#15803d", "#7c3aed", "#be123c", "#0f766e")
WIDTH = 720
HEIGHT = 320
# The plot area inside the chart: room for the legend above, the axes' labels left and below.
PLOT_LEFT = Decimal(84)
PLOT_RIGHT = Decimal(WIDTH - 16)
PLOT_TOP = Decimal(44)
PLOT_BOTTOM = Decimal(HEIGHT - 52)
TICKS = 4  # about this many steps on the value axis
FONT_SIZE = 12
_CHAR_WIDTH = Decimal("7")  # a generous average glyph width at FONT_SIZE, for spacing labels
_COORDINATE = Decimal("0.01")
_GAP = Decimal("0.1")  # of each day's slot, left empty on either side of its bars
_TEXT = "#374151"
_GRID = "#e5e7eb"


def bar_chart(
    series: Sequence[tuple[str, Sequence[Decimal]]],
    labels: Sequence[str],
    title: str,
    *,
    x_label: str = "",
    y_label: str = "",
    places: int = 2,
    chart_id: str = "chart",
    description: str = "",
) -> str:
    """A grouped bar chart: for each of ``labels`` (left to right), one bar per series.

    ``series`` are (name, values) with one value per label; values may be negative, bars
    then hang below the zero line. ``places`` is how values are written (axis, tooltips).
    ``chart_id`` prefixes the ids of the chart's title and description (unique per page).
    With no labels or no series the chart says there is no data.
    """
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
        if not all(isinstance(value, Decimal) and value.is_finite() for value in values):
            raise ValueError(f"series {name!r} has a value that is not a finite Decimal")
    low, high, step = _axis([value for _, values in series for value in values])
    # A step finer than ``places`` (every value tiny) is written to the step's own places.
    quantum = Decimal(1).scaleb(-max(places, _places_of(step)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" role="img"'
        f' aria-labelledby="{_attr(chart_id)}-title {_attr(chart_id)}-desc"'
        f' font-family="system-ui, sans-serif" font-size="{FONT_SIZE}">',
        f'<title id="{_attr(chart_id)}-title">{_text(title)}</title>',
        f'<desc id="{_attr(chart_id)}-desc">{_text(description or _describe(series, labels))}'
        "</desc>",
        f'<rect class="plot" x="{PLOT_LEFT}" y="{PLOT_TOP}" width="{PLOT_RIGHT - PLOT_LEFT}"'
        f' height="{PLOT_BOTTOM - PLOT_TOP}" fill="#ffffff"/>',
    ]
    parts += _value_axis(low, high, step, quantum)
    if not labels or not series:
        parts.append(
            f'<text class="empty" x="{(PLOT_LEFT + PLOT_RIGHT) / 2}"'
            f' y="{(PLOT_TOP + PLOT_BOTTOM) / 2}" text-anchor="middle" fill="{_TEXT}">'
            "No data</text>"
        )
    else:
        parts += _bars(series, labels, low, high, quantum)
        parts += _label_axis(labels)
    parts += _axis_titles(x_label, y_label)
    parts += _legend([name for name, _ in series])
    parts.append("</svg>")
    return "".join(parts)


def _axis(values: Sequence[Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    """The value axis: from ``low`` to ``high`` (zero always on it) in steps of 1, 2 or 5
    times a power of ten, about ``TICKS`` of them."""
    low = min([Decimal(0), *values])
    high = max([Decimal(0), *values])
    if low == high:
        return Decimal(0), Decimal(1), Decimal("0.25")
    raw = (high - low) / TICKS
    power = Decimal(1).scaleb(raw.adjusted())
    step = next(power * m for m in (1, 2, 5, 10) if power * m >= raw)
    low = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    high = (high / step).to_integral_value(rounding=ROUND_CEILING) * step
    return low, high, step


def _y(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    """Where ``value`` sits on the value axis, within the plot whatever the rounding."""
    share = min(max((value - low) / (high - low), Decimal(0)), Decimal(1))
    return _at(PLOT_BOTTOM - share * (PLOT_BOTTOM - PLOT_TOP))


def _at(coordinate: Decimal) -> Decimal:
    return coordinate.quantize(_COORDINATE, rounding=ROUND_HALF_UP)


def _value_axis(low: Decimal, high: Decimal, step: Decimal, quantum: Decimal) -> list[str]:
    parts = ['<g class="value-axis">']
    tick = low
    while tick <= high:
        y = _y(tick, low, high)
        colour = _TEXT if tick == 0 else _GRID
        parts.append(
            f'<line x1="{PLOT_LEFT}" y1="{y}" x2="{PLOT_RIGHT}" y2="{y}" stroke="{colour}"/>'
            f'<text x="{PLOT_LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle"'
            f' fill="{_TEXT}">{_text(_number(tick, quantum))}</text>'
        )
        tick += step
    parts.append(
        f'<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}"'
        f' stroke="{_TEXT}"/></g>'
    )
    return parts


def _bars(
    series: Sequence[tuple[str, Sequence[Decimal]]],
    labels: Sequence[str],
    low: Decimal,
    high: Decimal,
    quantum: Decimal,
) -> list[str]:
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(labels)
    width = slot * (1 - 2 * _GAP) / len(series)
    zero = _y(Decimal(0), low, high)
    parts = ['<g class="bars">']
    for index, label in enumerate(labels):
        for number, (name, values) in enumerate(series):
            value = values[index]
            end = _y(value, low, high)
            top, bottom = min(zero, end), max(zero, end)
            x = _at(PLOT_LEFT + slot * index + slot * _GAP + width * number)
            parts.append(
                f'<rect class="bar" data-series="{number}" data-index="{index}"'
                f' data-value="{_attr(str(value))}" x="{x}" y="{top}" width="{_at(width)}"'
                f' height="{bottom - top}" fill="{PALETTE[number % len(PALETTE)]}">'
                f"<title>{_text(f'{name}, {label}: {_number(value, quantum)}')}</title></rect>"
            )
    parts.append("</g>")
    return parts


def _label_axis(labels: Sequence[str]) -> list[str]:
    """The labels under their slots; when they would overlap, every n-th only."""
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(labels)
    widest = max(len(label) for label in labels) * _CHAR_WIDTH + 8
    every = max(1, int((widest / slot).to_integral_value(rounding=ROUND_CEILING)))
    parts = ['<g class="label-axis">']
    for index in range(0, len(labels), every):
        x = _at(PLOT_LEFT + slot * index + slot / 2)
        parts.append(
            f'<text x="{x}" y="{PLOT_BOTTOM + 18}" text-anchor="middle" fill="{_TEXT}">'
            f"{_text(labels[index])}</text>"
        )
    parts.append("</g>")
    return parts


def _axis_titles(x_label: str, y_label: str) -> list[str]:
    parts = []
    if x_label:
        parts.append(
            f'<text class="axis-title" x="{(PLOT_LEFT + PLOT_RIGHT) / 2}" y="{HEIGHT - 10}"'
            f' text-anchor="middle" fill="{_TEXT}">{_text(x_label)}</text>'
        )
    if y_label:
        middle = (PLOT_TOP + PLOT_BOTTOM) / 2
        parts.append(
            f'<text class="axis-title" x="16" y="{middle}" text-anchor="middle"'
            f' transform="rotate(-90 16 {middle})" fill="{_TEXT}">{_text(y_label)}</text>'
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = ['<g class="legend">']
    x = PLOT_LEFT
    for number, name in enumerate(names):
        parts.append(
            f'<rect class="swatch" x="{x}" y="14" width="12" height="12"'
            f' fill="{PALETTE[number % len(PALETTE)]}"/>'
            f'<text x="{x + 18}" y="20" dominant-baseline="middle" fill="{_TEXT}">'
            f"{_text(name)}</text>"
        )
        x += 18 + len(name) * _CHAR_WIDTH + 16
    parts.append("</g>")
    return parts


def _describe(series: Sequence[tuple[str, Sequence[Decimal]]], labels: Sequence[str]) -> str:
    if not labels or not series:
        return "No data."
    names = ", ".join(name for name, _ in series)
    return f"Bars of {names}, {labels[0]} to {labels[-1]} ({len(labels)} in all)."


def _places_of(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 0


def _number(value: Decimal, quantum: Decimal) -> str:
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP):,}"


def _text(text: str) -> str:
    return escape(text, quote=False)


def _attr(text: str) -> str:
    return escape(text, quote=True)
