"""The plan's figure (matplotlib): annual cost by term, access curves, utilisation by site.

Why one figure of three panels: it is what a director reads first (what it costs, who gains
access, whether the units are used), it fits a notebook cell and a page of the HTML report, and
tests find each panel by its label (``costs``, ``access``, ``utilization``). Figures are made
with :class:`matplotlib.figure.Figure`, never pyplot: no global state, no GUI backend needed on a
headless machine, and notebooks display the returned Figure.

Nothing is clipped (tests/test_geography.py draws each figure and checks every text inside it):
figures use constrained layout, which makes room for tick labels and axis titles; the texts it
cannot move (the figure's title, panel titles, axis labels) are broken into lines that fit the
figure's width; sites are named by their short name and id.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from planner.model.ledger import term_words
from planner.pictures.data import PictureData, site_label

PANELS = ("costs", "access", "utilization")
# Site and scenario names may be Chinese: DejaVu Sans (matplotlib's own) has no CJK glyphs, so
# the first of these that is installed is its fallback (.ci/run installs WenQuanYi Micro Hei).
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "Microsoft YaHei", "PingFang SC", "SimHei")


def font_families() -> list[str]:
    """DejaVu Sans, then the installed CJK fonts of :data:`CJK_FONTS` (glyph fallback)."""
    # lazy: matplotlib loads only to draw
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *[name for name in CJK_FONTS if name in installed]]


def plan_figure(data: PictureData, *, figsize: tuple[float, float] | None = None):
    """The three panels of `data` (see the module docstring); returns the Figure."""
    # lazy: matplotlib loads only to draw
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    families = font_families()
    sites_drawn = max(1, int((data.equipment["total"] > 0).groupby(
        data.equipment["site_id"]).any().sum()))
    with matplotlib.rc_context({"font.family": families}):
        figure = Figure(figsize=figsize or (13.0, 4.0 + 0.22 * sites_drawn),
                        layout="constrained")
        axes = figure.subplot_mosaic([["costs", "access"], ["utilization", "utilization"]],
                                     height_ratios=[4.0, max(2.0, 0.22 * sites_drawn)])
        for name in PANELS:
            axes[name].set_label(name)
            axes[name].set_gid(f"panel-{name}")   # the group id in an SVG
        draw_costs(axes["costs"], data)
        draw_access(axes["access"], data)
        draw_utilization(axes["utilization"], data)
        width = figure.get_figwidth() * 72.0
        for name, share in (("costs", 0.5), ("access", 0.5), ("utilization", 1.0)):
            fit_labels(axes[name], share * width)
        figure.suptitle(wrap(f"{data.scenario}: annual cost {_millions(data.objective)} M "
                             f"{data.currency}", width, 11), fontsize=11)
    for text in figure.findobj(Text):   # drawn later (notebook, savefig): keep the fallback
        text.set_fontfamily(families)
    return figure


def wrap(text: str, width: float, fontsize: float) -> str:
    """`text` broken at spaces into lines of at most `width` points at `fontsize`, with a safe
    estimate of glyph widths (0.62 em a Latin character, 1 em a wide one such as Chinese):
    matplotlib's own wrapping is applied only when drawing, so a layout engine cannot see it."""
    def ems(words: str) -> float:
        return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.62 for c in words)

    limit = max(width - 12.0, fontsize) / fontsize   # a margin on each side
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and ems(candidate) > limit:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    return "\n".join(lines)


def fit_labels(ax, width: float) -> None:
    """Wrap the title and the x-axis label of `ax` to `width` points (its share of the
    figure), so that neither runs past the figure's edge."""
    for text in (ax.title, ax.xaxis.label):
        text.set_text(wrap(text.get_text(), width, text.get_fontsize()))


def _millions(value) -> str:
    return "n/a" if value is None else f"{value / 1e6:,.2f}"


def draw_costs(ax, data: PictureData) -> None:
    """Horizontal bars: annual cost by objective term (terms of zero cost left out)."""
    costs = data.costs[data.costs.abs() > 1e-9]
    terms = [term_words(term) for term in costs.index][::-1]   # read by people: in words
    values = costs.to_numpy(dtype=float)[::-1] / 1e6
    bars = ax.barh(terms, values, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:,.2f}" for v in values], padding=3, fontsize=8)
    ax.set_xlabel(f"annual cost (M {data.currency})")
    ax.set_title("Annual cost by term")
    ax.margins(x=0.2)


def draw_access(ax, data: PictureData) -> None:
    """Share of residents within t minutes of each equipment: before (dashed) and after."""
    from matplotlib.ticker import PercentFormatter  # lazy: matplotlib loads only to draw

    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    step = data.access is not None
    right = 0.0
    for n, equipment in enumerate(data.equipment_names):
        colour = colours[n % len(colours)]
        curve = data.access_curve(equipment)
        if len(curve):
            right = max(right, float(curve["minutes"].max()))
        for when, style in (("before", "--"), ("after", "-")):
            ax.plot(curve["minutes"], curve[f"share_{when}"], linestyle=style, color=colour,
                    label=f"{equipment} {when}", drawstyle="steps-post" if step else "default",
                    marker=None if step else "o", markersize=4)
    ax.set_xlim(0, right * 1.02 if right else 60)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("travel minutes to the nearest unit")
    ax.set_ylabel("share of residents")
    ax.set_title("Residents within t minutes of a unit")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def draw_utilization(ax, data: PictureData) -> None:
    """Grouped horizontal bars: exams over capacity at each site with units in service."""
    from matplotlib.ticker import PercentFormatter  # lazy: matplotlib loads only to draw

    used = data.equipment[data.equipment["total"] > 0]
    table = used.pivot_table(index="site_id", columns="equipment", values="utilization",
                             aggfunc="first").reindex(columns=data.equipment_names)
    table = table.dropna(axis=1, how="all").sort_index(ascending=False)
    names = dict(zip(data.sites["site_id"], data.sites["name"]))
    rows = np.arange(len(table))
    width = 0.8 / max(1, len(table.columns))
    for n, equipment in enumerate(table.columns):
        present = table[equipment].notna().to_numpy()   # no bar where the site has no unit
        ax.barh((rows + (n - (len(table.columns) - 1) / 2) * width)[present],
                table[equipment].to_numpy()[present], height=width, label=equipment)
    ax.set_yticks(rows, [f"{site_label(names.get(s, s))} ({s})" for s in table.index],
                  fontsize=8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("utilisation (exams / nameplate capacity)")
    ax.set_title("Utilisation of the units in service, by site")
    ax.grid(axis="x", alpha=0.3)
    if len(table.columns):
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def pareto_figure(front, ax=None):
    """Annual cost against covered residents of a :class:`planner.studies.pareto.ParetoFront`, each
    point labelled with its budget (or its coverage level); returns the Figure (drawn on `ax`
    when given). Costs read in millions; the label of a point in the right half of the axes
    sits to its left, so it stays inside the figure."""
    # lazy: matplotlib loads only to draw
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, StrMethodFormatter

    figure = ax.figure if ax is not None else Figure(figsize=(7, 4.5), layout="constrained")
    ax = ax if ax is not None else figure.add_subplot()
    points = front.table[front.table["annual_cost"].notna()]
    ax.plot(points["covered_population"], points["annual_cost"], marker="o")
    by_level = points["coverage_level"].notna().any()
    middle = (points["covered_population"].min() + points["covered_population"].max()) / 2
    for row in points.itertuples():
        label = (f">= {row.coverage_level:,.0f}" if by_level
                 else f"budget {row.budget / 1e6:,.6g} M")
        left = len(points) > 1 and row.covered_population > middle
        ax.annotate(label, (row.covered_population, row.annual_cost), fontsize=8,
                    xytext=(-4 if left else 4, 4), textcoords="offset points",
                    ha="right" if left else "left")
    ax.margins(x=0.08, y=0.12)
    ax.set_xlabel(f"residents within {front.minutes:g} min of {front.service}")
    ax.set_ylabel(f"annual cost (M {front.currency})")
    ax.set_title("Pareto front: annual cost against coverage")
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1e6:,.1f}"))
    return figure
