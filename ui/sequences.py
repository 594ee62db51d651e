"""The Sequences page's figures: a digit read row by row (the rows read so far, the state they built, the answer as
each row arrives) and how far back each run's gradient reaches. Pure figure builders, as charts.py's."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts import CLASS_COLOURS, bare_figure, margin, scaled

DIM = 0.25  # the rows not read yet, dimmed to this share of their brightness


def rows_figure(image: np.ndarray, states: np.ndarray, rows: int, presenter: bool = False) -> go.Figure:
    """The digit with the rows read so far lit (left), and the state after each of them, a unit per line (right)."""
    shown = image.astype(np.float32).copy()
    shown[rows:] *= DIM
    state = np.full_like(states.T, np.nan)
    state[:, :rows] = states.T[:, :rows]
    traces = [
        dict(type="heatmap", z=shown, colorscale="Greys", reversescale=True, showscale=False, zmin=0, zmax=255,
             xaxis="x", yaxis="y",
             hovertemplate="row %{y}<extra></extra>", y=list(range(1, 29))),
        dict(type="heatmap", z=state, x=list(range(1, 29)), colorscale="RdBu_r", zmid=0, zmin=-1, zmax=1, xaxis="x2",
             yaxis="y2", colorbar=dict(thickness=10), hovertemplate="unit %{y} after row %{x}: %{z:.3f}<extra></extra>"),
    ]
    figure = bare_figure(traces, dict(
        height=300, margin=margin(top=30),
        title=dict(text=f"Rows read: {rows} of 28, and the state they left (a unit per line)"),
        xaxis=dict(domain=[0, 0.28], visible=False), yaxis=dict(autorange="reversed", visible=False, scaleanchor="x"),
        xaxis2=dict(domain=[0.34, 1], title="after row", dtick=4, range=[0.5, 28.5]),
        yaxis2=dict(anchor="x2", autorange="reversed", showticklabels=False, showgrid=False)))  # units: no order
    return scaled(figure, presenter)


def answers_figure(answers: np.ndarray, rows: int, classes: tuple[str, ...], presenter: bool = False) -> go.Figure:
    """Each class's probability had the digit ended after each row, the rows read so far drawn solid."""
    steps = np.arange(1, len(answers) + 1)
    traces = [dict(type="scatter", x=steps[:rows].tolist(), y=answers[:rows, c].tolist(), mode="lines+markers",
                   marker=dict(size=4), name=name,
                   line=dict(color=CLASS_COLOURS[c], width=3 if c == int(answers[rows - 1].argmax()) else 1.5),
                   hovertemplate=f"{name} after row %{{x}}: %{{y:.0%}}<extra></extra>")
              for c, name in enumerate(classes)]
    figure = bare_figure(traces, dict(
        height=300, margin=margin(top=30), title=dict(text="Its answer, had the digit ended at each row"),
        xaxis=dict(title="row", range=[0.5, 28.5], dtick=4), yaxis=dict(range=[0, 1], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.25)))
    return scaled(figure, presenter)


def reach_figure(lines: list[tuple[str, list[float]]], presenter: bool = False) -> go.Figure:
    """Each run's gradient at each row's input over its gradient at the last row, on a log scale: how far back the
    loss still reaches."""
    traces = []
    for label, values in lines:
        relative = np.asarray(values) / max(values[-1], 1e-30)
        traces.append(dict(type="scatter", x=list(range(1, len(values) + 1)), y=relative.tolist(), mode="lines+markers",
                           name=label, hovertemplate=f"{label}, row %{{x}}: %{{y:.2g}} of the last row's<extra></extra>"))
    figure = bare_figure(traces, dict(
        height=320, margin=margin(top=30), title=dict(text="How strongly each row still moves the loss"),
        xaxis=dict(title="row", dtick=4), yaxis=dict(type="log", title="gradient, relative to the last row's",
                                                     exponentformat="power"),
        legend=dict(orientation="h", y=-0.3)))
    return scaled(figure, presenter)
