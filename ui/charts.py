"""Plotly figures of runs, built from plain data: no Streamlit here, so the live poll, the results, the comparison
and bench/ui_overhead.py build exactly the same charts, and presenter mode is an argument, not a lookup."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

MAX_POINTS = 1000  # loss points sent to the browser per curve; longer series are thinned evenly
MAX_MARKERS = 300  # of which drawn as faint dots: each is an SVG element the browser redraws on every live poll
PRESENTER_FONT = 20  # chart text size on a projector
MAX_TICKS = 5  # labelled ticks on an axis whose step is chosen here (epochs, accuracy)
MIN_PERCENT_SPAN = 0.01  # an accuracy axis spans at least one point, so ticks never go finer than 0.2 %
LOSS_HEADROOM = 1.3  # a loss axis that something leaves through the top ends this far above the highest first loss
# Plotly's toolbar sat on the charts' titles (issue 23.5); dragging still zooms, a double click resets, and Streamlit's
# own button shows a chart full screen
CONFIG = {"displayModeBar": False}
_SPLIT_STYLE = {"train": "dot", "test": "solid"}
# One colour per class wherever classes are coloured: Okabe and Ito's eight colour-blind-safe colours, then grey and
# Tol's wine. Any two differ by a CIEDE2000 of 21 or more (Plotly's default palette gave 4 and 9 light orange and
# yellow, 18 apart), and stay apart for red-, green- and blue-blind eyes.
CLASS_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#999999",
                 "#882255")


def margin(top: int = 40) -> dict:
    """The pages' chart margins: tight sides, room on top for the title (or none)."""
    return dict(l=10, r=10, t=top, b=10)


def bare_figure(traces: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts without Plotly's default template, which Streamlit's chart theme restyles anyway:
    copying it was nine tenths of a small figure's cost (50 of 56 ms on a busy server) and two fifths of its bytes."""
    return go.Figure({"data": traces, "layout": {"template": "none", **layout}})


def scaled(figure: go.Figure, presenter: bool) -> go.Figure:
    """For presenter mode, chart text large enough to read from the back of a room, and a taller chart."""
    if presenter:  # Streamlit's chart theme sets tick and legend sizes itself, so those are named too
        figure.update_layout(font=dict(size=PRESENTER_FONT), height=int((figure.layout.height or 300) * 1.5),
                             title_font=dict(size=PRESENTER_FONT + 4), legend_font=dict(size=PRESENTER_FONT - 2))
        figure.update_xaxes(tickfont_size=PRESENTER_FONT - 2, title_font_size=PRESENTER_FONT)
        figure.update_yaxes(tickfont_size=PRESENTER_FONT - 2, title_font_size=PRESENTER_FONT)
    return figure


def smoothed(values) -> np.ndarray:
    """The mean of the last few values at each step; the window grows with the series (5 to 200 steps)."""
    window = int(min(max(len(values) / 30, 5), 200))
    sums = np.cumsum(np.concatenate([[0.0], np.asarray(values, dtype=float)]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def nice_step(least: float) -> float:
    """The smallest tick step of 1, 2 or 5 times a power of ten that is at least `least`."""
    power = 10.0 ** math.floor(math.log10(least))
    return next(round(m * power, 12) for m in (1, 2, 5, 10) if m * power >= least * (1 - 1e-9))


def epoch_axis(epochs: int) -> dict:
    """Ticks on whole epochs only (Plotly's own put ticks at epochs 0.5 and 1.5), at most about MAX_TICKS of them."""
    return dict(tickmode="linear", tick0=0, dtick=max(1, nice_step(max(epochs, 1) / MAX_TICKS)), tickformat="d")


def percent_axis(values) -> dict:
    """An accuracy axis whose labels never repeat (Plotly's own with '.0%' read 84 %, 84 %, 83 %): the tick step
    is chosen from the values' spread and the labels carry as many decimals as the step needs."""
    finite = [value for value in values if value is not None and math.isfinite(value)]
    if not finite:  # nothing scored yet: 0 to 100 %, not Plotly's -100 % to 400 % of an empty axis
        return dict(tickformat=".0%", range=[0, 1])
    middle, span = (min(finite) + max(finite)) / 2, max(max(finite) - min(finite), MIN_PERCENT_SPAN)
    step = nice_step(span / MAX_TICKS)
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    reach = span / 2 + step / 2  # no tick beyond 0 % or 100 %
    return dict(tickmode="linear", tick0=0, dtick=step, tickformat=f".{decimals}%",
                range=[max(middle - reach, -step / 2), min(middle + reach, 1 + step / 2)])


def _thinned(count: int, limit: int = MAX_POINTS) -> np.ndarray:
    return np.unique(np.linspace(0, count - 1, limit).astype(int)) if count > limit else np.arange(count)


def chart_figure(traces: list[dict], title: str, x_title: str, y_title: str, height: int = 300, revision=None,
            legend_at: str = "top", empty: str = "", presenter: bool = False, **axes) -> go.Figure:
    """A chart made in one step from plain dicts (three times cheaper than adding traces one by one, which
    matters at several polls a second); the legend sits inside, in the corner the curves leave free ("top",
    "bottom", or "bottom left": right unless said)."""
    layout = dict(
        title=title, height=height, margin=margin(), uirevision=revision,
        xaxis=dict(title=x_title, **axes.get("xaxis", {})), yaxis=dict(title=y_title, **axes.get("yaxis", {})),
        legend=dict(x=0 if legend_at.endswith("left") else 1, y=1 if legend_at == "top" else 0,
                    xanchor="left" if legend_at.endswith("left") else "right", yanchor=legend_at.split()[0],
                    bgcolor="rgba(255,255,255,0.7)"),
    )
    if empty:
        layout["annotations"] = [dict(text=empty, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")]
        layout["xaxis"]["visible"] = layout["yaxis"]["visible"] = False
    return scaled(go.Figure({"data": traces, "layout": layout}), presenter)


def loss_figure(curves: list[tuple[str, list[float], int]], per_epoch: bool = False, revision=None,
                presenter: bool = False) -> go.Figure:
    """Training loss per step: faint raw points under a smoothed line, one curve per (name, losses, steps/epoch).

    per_epoch puts runs with different batch sizes on one x axis measured in epochs. A curve that leaves through the
    top (a diverging run) does not flatten the others: the axis then ends a little above the highest first loss.
    A diverged curve, whose last loss is not finite, ends in a cross that says at which step.
    """
    traces, ends = [], []
    firsts = [losses[0] for _, losses, _ in curves if losses and math.isfinite(losses[0])]
    top = LOSS_HEADROOM * max(firsts) if firsts else None
    for i, (name, losses, steps_per_epoch) in enumerate(curves):
        if not losses:
            continue
        values = np.asarray(losses, dtype=float)
        diverged = not np.isfinite(values[-1])  # the losses are cut after the first non-finite one
        values[~np.isfinite(values)] = np.nan
        scale = steps_per_epoch if per_epoch and steps_per_epoch else 1
        index, dots = _thinned(len(values)), _thinned(len(values), MAX_MARKERS)
        color = qualitative.Plotly[i % len(qualitative.Plotly)]
        if len(curves) == 1:
            traces.append(dict(type="scatter", x=(dots + 1) / scale, y=values[dots], mode="markers", name="each step",
                               marker=dict(size=3, color=color, opacity=0.3)))
        line = smoothed(values)
        traces.append(dict(type="scatter", x=(index + 1) / scale, y=line[index], mode="lines", name=name or "smoothed",
                           line=dict(color=color, width=2)))
        if diverged:
            ends.append((len(values) / scale, line[-2] if len(values) > 1 else np.nan, color,
                         f"{name + ' ' if len(curves) > 1 else ''}diverged at step {len(values):,}"))
    layout = {}
    if top is not None and any(np.nanmax(np.asarray(trace["y"], dtype=float), initial=0.0) > top for trace in traces):
        layout["yaxis"] = dict(range=[0, top])
    right = max((len(losses) / (steps if per_epoch and steps else 1) for _, losses, steps in curves), default=1)
    for x, y, color, text in ends:
        if top is not None and not y <= top:  # off the axis, or no finite loss to end on: the cross sits at the top
            y = top
        y = y if np.isfinite(y) else 0.0
        traces.append(dict(type="scatter", x=[x], y=[y], mode="markers+text", text=[text], showlegend=False,
                           textposition="bottom left" if x > right / 2 else "bottom right", cliponaxis=False,
                           textfont=dict(color=color), hoverinfo="skip",
                           marker=dict(symbol="x-thin", size=14, color=color, line=dict(width=3, color=color))))
    return chart_figure(traces, "Training loss per step", "epoch" if per_epoch else "step", "loss", revision=revision,
                   empty="" if traces else "The first losses appear a moment after the run starts.",
                   legend_at="bottom left" if ends else "top",  # a diverged curve ends at the top, right of the start
                   presenter=presenter, xaxis=epoch_axis(math.ceil(right)) if per_epoch else {}, **layout)


def epoch_test_label(rows: list[dict]) -> str:
    """What a run's per-epoch test scores are on, in parentheses: a fixed share of the test split since each epoch
    was scored on one (the rows say how many images); rows recorded before then were on the whole split."""
    if not rows:
        return ""
    images = rows[-1].get("test_images")
    return f" ({images:,} images)" if images else " (whole split)"


def epoch_figure(histories: list[tuple[str, list[dict]]], metric: str, revision=None,
                 presenter: bool = False) -> go.Figure:
    """Train (dotted) and test (solid) accuracy or loss after each epoch, one colour per run; the test curve's name
    says which test images it is on."""
    traces, epochs = [], max((row["epoch"] for _, rows in histories for row in rows), default=0)
    for i, (name, rows) in enumerate(histories):
        for split in ("train", "test"):
            colour = i if len(histories) > 1 else int(split == "test")  # one run: train and test differ
            color = qualitative.Plotly[colour % len(qualitative.Plotly)]
            traces.append(dict(
                type="scatter", x=[row["epoch"] for row in rows], y=[row[f"{split}_{metric}"] for row in rows],
                mode="lines+markers", line=dict(color=color, dash=_SPLIT_STYLE[split]),
                name=f"{name} {split}".strip() + (epoch_test_label(rows) if split == "test" else ""),
            ))
    values = [y for trace in traces for y in trace["y"]]
    return chart_figure(traces, f"{metric.capitalize()} per epoch", "epoch", metric, revision=revision,
                   legend_at="bottom" if metric == "accuracy" else "top",
                   empty="" if any(rows for _, rows in histories) else "Appears after the first epoch.",
                   presenter=presenter, xaxis=dict(range=[0.5, max(epochs, 1) + 0.5], **epoch_axis(epochs)),
                   yaxis=percent_axis(values) if metric == "accuracy" else {})


def curve_figures(curves: list[tuple[str, list[float], int]], histories: list[tuple[str, list[dict]]],
                  per_epoch: bool = False, revision=None, presenter: bool = False) -> list[go.Figure]:
    """The three charts of one run or several: loss per step, then accuracy and loss per epoch."""
    return [loss_figure(curves, per_epoch, revision, presenter),
            epoch_figure(histories, "accuracy", revision, presenter),
            epoch_figure(histories, "loss", revision, presenter)]


def history_figures(history: dict, presenter: bool = False) -> list[go.Figure]:
    """The same charts for a run from its saved history."""
    return curve_figures([("smoothed", history.get("steps", []), history.get("steps_per_epoch", 0))],
                         [("", history.get("epochs", []))], presenter=presenter)


def confusion_figure(confusion: list[list[int]], classes: tuple[str, ...], presenter: bool = False,
                     thumbnails: dict[tuple[int, int], str] | None = None) -> go.Figure:
    """Correct answers in green on the diagonal, mistakes in red elsewhere, each cell with its count; a cell given a
    thumbnail ((true, predicted) -> an image's address: one picture it misread so) shows it under its count."""
    counts = np.asarray(confusion, dtype=float)
    diagonal = np.eye(len(classes), dtype=bool)
    names = list(classes)
    thumbnails = thumbnails or {}
    text = [[f"{count:.0f}" if (t, p) not in thumbnails else "" for p, count in enumerate(row)]
            for t, row in enumerate(counts)]
    size = PRESENTER_FONT if presenter else 13
    traces = [
        dict(type="heatmap", z=np.where(mask, counts, np.nan), x=names, y=names, colorscale=scale, showscale=False,
             text=text, texttemplate="%{text}", textfont=dict(size=size), hoverinfo="skip")
        for mask, scale in ((diagonal, "Greens"), (~diagonal, "Reds"))
    ]
    if thumbnails:  # the count in the cell's top part, the picture below it, white on the darker reds
        darkest = max(counts[t, p] for t, p in thumbnails)
        traces.append(dict(type="scatter", x=[names[p] for _, p in thumbnails], y=[names[t] for t, _ in thumbnails],
                           text=[f"{counts[t, p]:.0f}" for t, p in thumbnails], mode="text", textposition="top center",
                           textfont=dict(size=size, color=["white" if counts[t, p] > darkest / 2 else "#333"
                                                           for t, p in thumbnails]),
                           hoverinfo="skip", showlegend=False))
    true, predicted = np.divmod(np.arange(counts.size), len(classes))
    traces.append(dict(  # invisible points on the cells: heatmaps cannot be clicked, points can
        type="scatter", x=[names[p] for p in predicted], y=[names[t] for t in true], customdata=counts.flatten(),
        mode="markers", marker=dict(size=24, symbol="square", color="rgba(0,0,0,0)"),
        unselected=dict(marker=dict(opacity=0)), showlegend=False,
        hovertemplate="true %{y}, predicted %{x}: %{customdata:.0f}<extra></extra>",
    ))
    figure = chart_figure(traces, "Confusion matrix", "predicted", "true", height=460, presenter=presenter,
                     xaxis=dict(type="category", range=[-0.5, len(names) - 0.5]),
                     yaxis=dict(type="category", range=[len(names) - 0.5, -0.5]))
    return figure.update_layout(images=[
        dict(source=source, xref="x", yref="y", x=p, y=t + 0.22, sizex=0.5, sizey=0.5, xanchor="center",
             yanchor="middle", layer="above") for (t, p), source in thumbnails.items()])


def per_class_figure(per_class: list[float], classes: tuple[str, ...], presenter: bool = False) -> go.Figure:
    bars = dict(type="bar", x=list(classes), y=per_class, text=[f"{a:.1%}" for a in per_class], textposition="outside",
                textfont=dict(size=15 if presenter else 12))
    return chart_figure([bars], "Accuracy per class", "class", "accuracy", height=460, presenter=presenter,
                   xaxis=dict(type="category"), yaxis=dict(range=[0, 1.1], tickformat=".0%"))
