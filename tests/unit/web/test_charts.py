"""The dashboard's SVG bar chart: well-formed XML, bars in proportion to their values and
inside the plot whatever the values, labels and names escaped, no data said as much."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.web.admin.charts import bar_chart

NS = {"svg": "http://www.w3.org/2000/svg"}
DAYS = ["2026-12-01", "2026-12-02", "2026-12-03"]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:rect[@class='bar']", NS)


def plot(root: ET.Element) -> tuple[Decimal, Decimal]:
    """The plot area's top and bottom."""
    area = root.find("svg:rect[@class='plot']", NS)
    assert area is not None
    top = Decimal(area.get("y", ""))
    return top, top + Decimal(area.get("height", ""))


def extent(bar: ET.Element) -> tuple[Decimal, Decimal]:
    top = Decimal(bar.get("y", ""))
    return top, top + Decimal(bar.get("height", ""))


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{{{NS['svg']}}}text")]


def test_a_chart_is_an_svg_image_with_its_title_axes_and_legend() -> None:
    svg = bar_chart(
        [("Revenue", [Decimal("1.50"), Decimal("3"), Decimal(0)])],
        DAYS,
        "Revenue per day",
        x_label="Day (UTC)",
        y_label="USD",
        chart_id="money",
    )
    root = parse(svg)
    assert root.tag == f"{{{NS['svg']}}}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "money-title money-desc"
    title = root.find("svg:title", NS)
    assert title is not None
    assert (title.get("id"), title.text) == ("money-title", "Revenue per day")
    assert root.find("svg:desc", NS) is not None
    shown = texts(root)
    assert {"Day (UTC)", "USD", "Revenue", *DAYS} <= set(shown)
    assert "0.00" in shown  # the zero line is labelled
    assert len(root.findall(".//svg:rect[@class='swatch']", NS)) == 1
    # No script, no style to trip the dashboard's Content-Security-Policy.
    assert "<script" not in svg
    assert "style=" not in svg


def test_bars_are_in_proportion_to_their_values() -> None:
    values = [Decimal("1"), Decimal("2.5"), Decimal("10")]
    root = parse(bar_chart([("Revenue", values)], DAYS, "t"))
    heights = [Decimal(bar.get("height", "")) for bar in bars(root)]
    bottoms = {extent(bar)[1] for bar in bars(root)}
    assert len(bottoms) == 1  # all stand on the zero line
    for value, height in zip(values, heights, strict=True):
        # Coordinates are written to 0.01: the ratio holds to that.
        assert abs(height / heights[2] * values[2] - value) < Decimal("0.01")
    assert heights[0] < heights[1] < heights[2]


def test_each_label_has_one_bar_per_series_side_by_side() -> None:
    root = parse(
        bar_chart(
            [("Revenue", [Decimal(1)] * 3), ("Payout", [Decimal(2)] * 3)],
            DAYS,
            "t",
        )
    )
    drawn = bars(root)
    assert [(bar.get("data-series"), bar.get("data-index")) for bar in drawn] == [
        (series, index) for index in "012" for series in "01"
    ]
    xs = [Decimal(bar.get("x", "")) for bar in drawn]
    assert xs == sorted(xs)
    assert len({bar.get("fill") for bar in drawn}) == 2
    assert len(root.findall(".//svg:rect[@class='swatch']", NS)) == 2


def test_a_negative_value_hangs_below_the_zero_line() -> None:
    root = parse(bar_chart([("Payout", [Decimal(3), Decimal(-1)])], DAYS[:2], "t"))
    up, down = bars(root)
    assert extent(up)[1] == extent(down)[0]  # the zero line
    assert Decimal(up.get("height", "")) == 3 * Decimal(down.get("height", ""))
    assert "-1.00" in texts(root)


@pytest.mark.parametrize(
    ("series", "labels"),
    [([], []), ([("Revenue", [])], []), ([], DAYS)],
)
def test_no_data_is_a_chart_that_says_so(
    series: list[tuple[str, list[Decimal]]], labels: list[str]
) -> None:
    root = parse(bar_chart(series, labels, "Nothing yet"))
    assert bars(root) == []
    assert "No data" in texts(root)


def test_all_zero_values_draw_flat_bars_on_an_axis_from_zero() -> None:
    root = parse(bar_chart([("Revenue", [Decimal(0)] * 3)], DAYS, "t"))
    assert [bar.get("height") for bar in bars(root)] == ["0.00"] * 3
    assert extent(bars(root)[0])[1] == plot(root)[1]


def test_text_is_escaped_everywhere() -> None:
    nasty = "</title><script>alert('x')</script> & \"quoted\""
    svg = bar_chart([(nasty, [Decimal(1)])], [nasty], nasty, x_label=nasty, y_label=nasty)
    assert "<script>" not in svg
    root = parse(svg)
    title = root.find("svg:title", NS)
    assert title is not None
    assert title.text == nasty
    assert texts(root).count(nasty) == 4  # the label, both axis titles, the legend
    tooltip = bars(root)[0].find("svg:title", NS)
    assert tooltip is not None
    assert tooltip.text == f"{nasty}, {nasty}: 1.00"
    tricky_id = parse(bar_chart([], [], "t", chart_id='a"b'))
    assert tricky_id.get("aria-labelledby") == 'a"b-title a"b-desc'


def test_many_labels_are_thinned_so_they_do_not_overlap() -> None:
    labels = [f"2026-12-{day:02}" for day in range(1, 32)]
    root = parse(bar_chart([("Revenue", [Decimal(day) for day in range(31)])], labels, "t"))
    shown = [text for text in texts(root) if text in labels]
    assert labels[0] in shown
    assert 3 < len(shown) < len(labels)
    assert len(bars(root)) == 31


def test_values_must_match_the_labels_and_be_finite_decimals() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        bar_chart([("Revenue", [Decimal(1), Decimal(2)])], DAYS, "t")
    with pytest.raises(ValueError, match="finite"):
        bar_chart([("Revenue", [Decimal("NaN")])], DAYS[:1], "t")


amounts = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda count: st.lists(
            st.lists(amounts, min_size=count, max_size=count), min_size=1, max_size=4
        )
    )
)
def test_no_bar_ever_leaves_the_plot(columns: list[list[Decimal]]) -> None:
    labels = [f"day {index}" for index in range(len(columns[0]))]
    series = [(f"series {number}", values) for number, values in enumerate(columns)]
    root = parse(bar_chart(series, labels, "any"))
    top, bottom = plot(root)
    drawn = bars(root)
    assert len(drawn) == len(labels) * len(series)
    zero_lines = set()
    for bar, value in zip(drawn, _by_label(columns), strict=True):
        upper, lower = extent(bar)
        assert top <= upper <= lower <= bottom
        assert Decimal(bar.get("data-value", "")) == value
        zero_lines.add(lower if value > 0 else upper)
    assert len(zero_lines) == 1  # every bar starts at the same zero line


def _by_label(columns: list[list[Decimal]]) -> list[Decimal]:
    return [values[index] for index in range(len(columns[0])) for values in columns]
