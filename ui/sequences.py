"""The Sequences page's figures: a digit read row by row (the rows read so far, the state they built, the answer as
each row arrives), how far back each run's gradient reaches, the gates over a sequence, the memory horizon and the
sine waves. Pure figure builders, as charts.py's."""

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


def reach_figure(lines: list[tuple[str, list[float]]], presenter: bool = False, unit: str = "row") -> go.Figure:
    """Each run's gradient at each step's input (a digit's row) over its gradient at the last step, on a log scale:
    how far back the loss still reaches."""
    traces = []
    for label, values in lines:
        relative = np.asarray(values) / max(values[-1], 1e-30)
        traces.append(dict(type="scatter", x=list(range(1, len(values) + 1)), y=relative.tolist(), mode="lines+markers",
                           name=label, hovertemplate=f"{label}, {unit} %{{x}}: %{{y:.2g}} of the last {unit}'s<extra></extra>"))
    figure = bare_figure(traces, dict(
        height=320, margin=margin(top=30), title=dict(text=f"How strongly each {unit} still moves the loss"),
        xaxis=dict(title=unit), yaxis=dict(type="log", title=f"gradient, relative to the last {unit}'s",
                                           exponentformat="power"),
        legend=dict(orientation="h", y=-0.3)))
    return scaled(figure, presenter)


def gates_figure(gates: dict[str, np.ndarray], labels: list[str], presenter: bool = False) -> go.Figure:
    """Each gate's opening (0 shut, 1 open) for every unit at every step, a heatmap per gate, and the state the layer
    carries: which units let the input in, keep what they hold, or show it."""
    names = list(gates)
    rows = len(names)
    traces, layout = [], {}
    for i, name in enumerate(names, 1):
        state = name == "state"
        traces.append(dict(
            type="heatmap", z=gates[name].T.tolist(), x=list(range(len(labels))), xaxis=f"x{i}", yaxis=f"y{i}",
            colorscale="RdBu_r" if state else "Viridis", zmin=-1 if state else 0, zmax=1,
            showscale=i == 1 or state, colorbar=dict(thickness=10, len=1 / rows, y=1 - (i - 0.5) / rows),
            customdata=[labels] * gates[name].shape[1],
            hovertemplate=f"{name}, unit %{{y}} at %{{customdata}}: %{{z:.2f}}<extra></extra>"))
        top = 1 - (i - 1) / rows
        layout[f"yaxis{i}"] = dict(domain=[top - 1 / rows + 0.06, top], showticklabels=False, autorange="reversed",
                                   title=dict(text=name if state else f"{name} gate", font=dict(size=12)))
        layout[f"xaxis{i}"] = dict(anchor=f"y{i}", tickvals=list(range(len(labels))), ticktext=labels,
                                   showticklabels=i == rows, tickangle=0, range=[-0.5, len(labels) - 0.5])
    figure = bare_figure(traces, dict(height=110 + 90 * rows, margin=margin(top=30),
                                      title=dict(text="Inside the first layer, step by step (a unit per line)"),
                                      **layout))
    return scaled(figure, presenter)


def horizon_figure(points, cells: dict[str, str], chance: float, presenter: bool = False) -> go.Figure:
    """The memory horizon: each finished memory run's test accuracy at its delay, a colour per cell, the mean of
    each cell's runs at each delay joined up."""
    traces = []
    for i, (kind, name) in enumerate(cells.items()):
        mine = [p for p in points if p.cell == kind]
        delays = sorted({p.delay for p in mine})
        means = [float(np.mean([p.accuracy for p in mine if p.delay == d])) for d in delays]
        colour = CLASS_COLOURS[i]
        traces.append(dict(type="scatter", x=[p.delay for p in mine], y=[p.accuracy for p in mine], mode="markers",
                           marker=dict(color=colour, size=9, opacity=0.7), name=name,
                           customdata=[p.run_id for p in mine],
                           hovertemplate=f"{name}, run #%{{customdata}}: %{{y:.0%}} at delay %{{x}}<extra></extra>"))
        traces.append(dict(type="scatter", x=delays, y=means, mode="lines", line=dict(color=colour, width=2),
                           showlegend=False, hoverinfo="skip"))
    traces.append(dict(type="scatter", x=[0, max([p.delay for p in points], default=50) + 5], y=[chance, chance],
                       mode="lines", line=dict(color="grey", dash="dot"), name="chance", hoverinfo="skip"))
    figure = bare_figure(traces, dict(
        height=320, margin=margin(top=30), title=dict(text="Memory horizon: accuracy against the delay, a point per run"),
        xaxis=dict(title="delay (steps between the letter and the question)", rangemode="tozero"),
        yaxis=dict(range=[0, 1.05], tickformat=".0%"), legend=dict(orientation="h", y=-0.3)))
    return scaled(figure, presenter)


def waves_figure(waves: list[list[float]], truth: list[float], guessed: list[float], presenter: bool = False) -> go.Figure:
    """Test waves: the ten values read (line), the true next value (ring) and the network's guess (cross)."""
    traces = []
    steps = len(waves[0]) if waves else 0
    for i, (wave, true, guess) in enumerate(zip(waves, truth, guessed)):
        colour = CLASS_COLOURS[i]
        traces += [
            dict(type="scatter", x=list(range(1, steps + 1)), y=wave, mode="lines+markers", line=dict(color=colour),
                 marker=dict(size=5), name=f"wave {i + 1}", hovertemplate="step %{x}: %{y:.3f}<extra></extra>"),
            dict(type="scatter", x=[steps + 1], y=[true], mode="markers", showlegend=False,
                 marker=dict(color=colour, size=14, symbol="circle-open", line=dict(width=2)),
                 hovertemplate="the true next value: %{y:.3f}<extra></extra>"),
            dict(type="scatter", x=[steps + 1], y=[guess], mode="markers", showlegend=False,
                 marker=dict(color=colour, size=11, symbol="x"), hovertemplate="its guess: %{y:.3f}<extra></extra>"),
        ]
    figure = bare_figure(traces, dict(
        height=300, margin=margin(top=30), title=dict(text="Ten values read; the next: true (ring) and guessed (cross)"),
        xaxis=dict(title="step", dtick=1, range=[0.5, steps + 1.5]), yaxis=dict(range=[-1.25, 1.25]),
        legend=dict(orientation="h", y=-0.3)))
    return scaled(figure, presenter)
