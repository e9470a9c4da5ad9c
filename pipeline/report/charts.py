"""A report's charts, drawn by matplotlib as SVG, the same bytes on every run.

Each series differs in more than its colour, so a chart reads in greyscale and for colour-blind
readers: the palette's colours are far apart in lightness, bars have hatching and an outline,
lines have markers and dash patterns. Labels come from the table (in the active language);
numbers on the axes are written as the language writes them (decimal comma in Swedish). A
masked count (fewer than 5 people) is left out of the chart: a gap in a line, no bar; the
table beside the chart says "färre än 5" there.

No pyplot and no global backend: each chart is a ``Figure`` on its own SVG canvas.
Reproducible: the SVG backend with a fixed ``svg.hashsalt`` (the ids in the file) and no date
in its metadata; text is drawn as paths, so the file needs no font on the reader's machine.
"""

from __future__ import annotations

import io
import math
from typing import Any, Literal

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from pipeline.report.tables import Chart, number

# lightness from dark to light (relative luminance about 0.02, 0.10, 0.25, 0.45, 0.70)
PALETTE = ("#1d1147", "#7b2382", "#c4453a", "#e99a3c", "#f6d98b", "#9ecae1")
HATCHES = ("", "//", "..", "xx", "\\\\", "oo")
MARKERS = ("o", "s", "^", "D", "v", "P")
DASHES = ("-", "--", ":", "-.", "-", "--")
STYLE: Any = {"svg.hashsalt": "ett-jamstallt-vastmanland", "svg.fonttype": "path",
         "font.family": "DejaVu Sans", "font.size": 10, "axes.spines.top": False,
         "axes.spines.right": False, "hatch.linewidth": 0.8}


def draw_chart(chart: Chart) -> str:
    """The chart as an SVG document."""
    with matplotlib.rc_context(STYLE):
        rows = len(chart.table.rows)
        height = 1.2 + 0.4 * rows if chart.kind == "barh" else 3.8
        figure = Figure(figsize=(7.2, max(height, 2.4)), layout="constrained")
        FigureCanvasSVG(figure)
        axes = figure.add_subplot()
        categories = [str(row[0]) for row in chart.table.rows]
        names = [chart.table.columns[i] for i in chart.series]
        values = [chart.table.column(i) for i in chart.series]
        if chart.kind == "line":
            _lines(axes, categories, names, values)
        else:
            _bars(axes, categories, names, values, horizontal=chart.kind == "barh")
        figure.suptitle(chart.title, x=0.01, horizontalalignment="left", fontsize=12,
                        fontweight="bold")
        if len(names) > 1:
            axes.legend(frameon=False, fontsize=9, loc="upper left",
                        bbox_to_anchor=(1.0, 1.0))
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _lines(axes: Axes, categories: list[str], names: list[str],
           values: list[list[int | None]]) -> None:
    positions = list(range(len(categories)))
    for n, (name, series) in enumerate(zip(names, values, strict=True)):
        points = [math.nan if v is None else v for v in series]
        axes.plot(positions, points, label=name, color=PALETTE[n % len(PALETTE)],
                  linestyle=DASHES[n % len(DASHES)], marker=MARKERS[n % len(MARKERS)],
                  linewidth=2, markersize=6, markeredgecolor="#000000", markeredgewidth=0.6)
    _category_axis(axes, categories, "x")
    _count_axis(axes, "y")


def _bars(axes: Axes, categories: list[str], names: list[str],
          values: list[list[int | None]], horizontal: bool) -> None:
    width = 0.8 / max(len(names), 1)
    for n, (name, series) in enumerate(zip(names, values, strict=True)):
        offsets = [i - 0.4 + width * (n + 0.5) for i in range(len(categories))]
        sizes = [0 if v is None else v for v in series]
        style: dict[str, Any] = {"label": name, "color": PALETTE[n % len(PALETTE)],
                                 "edgecolor": "#000000", "linewidth": 0.6,
                                 "hatch": HATCHES[n % len(HATCHES)]}
        if horizontal:
            axes.barh(offsets, sizes, height=width, **style)
        else:
            axes.bar(offsets, sizes, width=width, **style)
    if horizontal:
        _category_axis(axes, categories, "y")
        axes.invert_yaxis()  # the table's order, top to bottom
        _count_axis(axes, "x")
    else:
        _category_axis(axes, categories, "x")
        _count_axis(axes, "y")


def _category_axis(axes: Axes, categories: list[str], which: str) -> None:
    step = max(1, math.ceil(len(categories) / 12))  # at most a dozen labels on an axis
    ticks = list(range(0, len(categories), step))
    if which == "x":
        axes.set_xticks(ticks, [categories[i] for i in ticks],
                        rotation=30 if len(categories) > 4 else 0, ha="right"
                        if len(categories) > 4 else "center")
    else:
        axes.set_yticks(ticks, [categories[i] for i in ticks])


def _count_axis(axes: Axes, which: Literal["x", "y"]) -> None:
    axis = axes.yaxis if which == "y" else axes.xaxis
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: number(value)))
    if which == "y":
        axes.set_ylim(bottom=0)
    else:
        axes.set_xlim(left=0)
    axes.grid(axis=which, color="#cccccc", linewidth=0.6)
    axes.set_axisbelow(True)
