"""The Attention page's figures: one head's attention over an input (BertViz's head view, as a matrix), every head of
every block at once (its model view), a digit with each head's and the rollout's attention over its patches, the next
character's probabilities, the learnt positions' likeness, and a transformer against a recurrent network on the same
text. Pure figure builders, as charts.py's."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts import CLASS_COLOURS, bare_figure, margin, scaled

ATTENTION_SCALE = "Blues"
PATCH_OPACITY = 0.55  # the attention laid over a digit: the digit still shows through


def head_figure(weights: np.ndarray, labels: list[str], title: str, presenter: bool = False) -> go.Figure:
    """One head's attention, a row per query token and a column per key token: how much each token (left) takes
    from each other (top); a decoder's upper triangle is empty, since no token sees the ones after it."""
    steps = len(labels)
    ticks = list(range(steps))
    every = max(1, steps // 32)  # a 64-letter prompt: every other letter named, the rest on hover
    wide = max(map(len, labels)) > 1  # a digit's patches ("2,3"): upright, side by side, they run together
    figure = bare_figure([dict(
        type="heatmap", z=weights.tolist(), x=ticks, y=ticks, colorscale=ATTENTION_SCALE, zmin=0, zmax=1,
        colorbar=dict(thickness=10, tickformat=".0%", len=0.8), customdata=[[[q, k] for k in labels] for q in labels],
        hovertemplate="%{customdata[0]} attends to %{customdata[1]}: %{z:.0%}<extra></extra>")], dict(
        height=max(340, min(560, 140 + 9 * steps)), margin=margin(top=40), title=dict(text=title),
        xaxis=dict(tickvals=ticks[::every], ticktext=labels[::every], side="bottom", tickangle=-90 if wide else 0,
                   title=dict(text="read (key)"), showgrid=False),
        yaxis=dict(tickvals=ticks[::every], ticktext=labels[::every], autorange="reversed", showgrid=False,
                   scaleanchor="x", title=dict(text="reading (query)"))))
    return scaled(figure, presenter)


def model_figure(weights: np.ndarray, presenter: bool = False) -> go.Figure:
    """Every head of every block at once (BertViz's model view): a block per row, a head per column, each its
    attention matrix in small; heads of one block often learn different patterns (the previous token, the first,
    one symbol's kind)."""
    blocks, heads = weights.shape[:2]
    traces, layout = [], {}
    gap = 0.03
    for b in range(blocks):
        for h in range(heads):
            i = b * heads + h + 1
            traces.append(dict(type="heatmap", z=weights[b, h].tolist(), colorscale=ATTENTION_SCALE, zmin=0, zmax=1,
                               showscale=False, xaxis=f"x{i}", yaxis=f"y{i}",
                               hovertemplate=f"block {b + 1}, head {h + 1}: query %{{y}}, key %{{x}}: %{{z:.0%}}"
                                             "<extra></extra>"))
            left, top = h / heads, 1 - b / blocks
            layout[f"xaxis{i}"] = dict(domain=[left + gap / 2, left + 1 / heads - gap / 2], anchor=f"y{i}",
                                       visible=False)
            layout[f"yaxis{i}"] = dict(domain=[top - 1 / blocks + gap, top - gap / 2], anchor=f"x{i}",
                                       autorange="reversed", visible=False)
    annotations = [dict(text=f"head {h + 1}", x=(h + 0.5) / heads, y=1.0, xref="paper", yref="paper",
                        showarrow=False, yanchor="bottom") for h in range(heads)]
    annotations += [dict(text=f"block {b + 1}", x=-0.005, y=1 - (b + 0.5) / blocks, xref="paper", yref="paper",
                         showarrow=False, xanchor="right", textangle=-90) for b in range(blocks)]
    side = 620 // max(heads, 1)
    figure = bare_figure(traces, dict(height=min(700, 60 + side * blocks), margin=dict(l=30, r=10, t=50, b=10),
                                      title=dict(text="Every head of every block"), annotations=annotations,
                                      **layout))
    return scaled(figure, presenter)


def patches_figure(image: np.ndarray, pictures: list[tuple[str, np.ndarray]], presenter: bool = False) -> go.Figure:
    """The digit with a picture of attention over its 16 patches laid on it, once per picture (each head of a block,
    and the rollout): where the class token, which gives the answer, looked."""
    count = len(pictures)
    side = image.shape[0]
    traces, layout = [], {}
    for i, (title, picture) in enumerate(pictures, 1):
        scale = side // picture.shape[0]
        spread = np.kron(picture / max(float(picture.max()), 1e-9), np.ones((scale, scale)))
        traces += [
            dict(type="heatmap", z=image.tolist(), colorscale="Greys", reversescale=True, zmin=0, zmax=255,
                 showscale=False, xaxis=f"x{i}", yaxis=f"y{i}", hoverinfo="skip"),
            dict(type="heatmap", z=spread.tolist(), colorscale="Hot", zmin=0, zmax=1, opacity=PATCH_OPACITY,
                 showscale=False, xaxis=f"x{i}", yaxis=f"y{i}", customdata=np.kron(picture, np.ones((scale, scale))).tolist(),
                 hovertemplate="this patch: %{customdata:.1%} of the attention<extra></extra>"),
        ]
        left = (i - 1) / count
        layout[f"xaxis{i}"] = dict(domain=[left + 0.01, left + 1 / count - 0.01], visible=False, anchor=f"y{i}")
        layout[f"yaxis{i}"] = dict(autorange="reversed", visible=False, scaleanchor=f"x{i}", anchor=f"x{i}")
    annotations = [dict(text=title, x=(i + 0.5) / count, y=1.0, xref="paper", yref="paper", showarrow=False,
                        yanchor="bottom") for i, (title, _) in enumerate(pictures)]
    figure = bare_figure(traces, dict(height=max(150, 640 // max(count, 1) + 40), margin=margin(top=30),
                                      annotations=annotations, **layout))
    return scaled(figure, presenter)


def next_figure(nexts: list[tuple[str, float]], presenter: bool = False) -> go.Figure:
    """The likeliest next characters and their probabilities, the likeliest on top."""
    labels = [{" ": "␣ space", "\n": "⏎ new line"}.get(ch, ch) for ch, _ in nexts]
    figure = bare_figure([dict(type="bar", orientation="h", x=[p for _, p in nexts], y=labels,
                               marker=dict(color=CLASS_COLOURS[4]), texttemplate="%{x:.0%}", textposition="outside",
                               hovertemplate="%{y}: %{x:.1%}<extra></extra>")], dict(
        height=320, margin=margin(top=30), title=dict(text="The next letter, as it sees it"),
        xaxis=dict(range=[0, 1.1], tickformat=".0%"), yaxis=dict(autorange="reversed", type="category")))
    return scaled(figure, presenter)


def positions_figure(similarity: np.ndarray, labels: list[str], presenter: bool = False) -> go.Figure:
    """How alike the learnt position embeddings are (cosine similarity, -1 to 1): a band along the diagonal when
    near positions came to look alike; for a digit's patches, stripes of its rows and columns."""
    ticks = list(range(len(labels)))
    figure = bare_figure([dict(type="heatmap", z=similarity.tolist(), x=ticks, y=ticks, colorscale="RdBu_r", zmid=0,
                               zmin=-1, zmax=1, colorbar=dict(thickness=10),
                               customdata=[[[a, b] for b in labels] for a in labels],
                               hovertemplate="%{customdata[0]} and %{customdata[1]}: %{z:.2f}<extra></extra>")], dict(
        height=420, margin=margin(top=40), title=dict(text="How alike the learnt positions are"),
        xaxis=dict(tickvals=ticks[:: max(1, len(ticks) // 16)], ticktext=labels[:: max(1, len(ticks) // 16)],
                   showgrid=False, tickangle=0),
        yaxis=dict(tickvals=ticks[:: max(1, len(ticks) // 16)], ticktext=labels[:: max(1, len(ticks) // 16)],
                   autorange="reversed", showgrid=False, scaleanchor="x")))
    return scaled(figure, presenter)


def against_figure(lines: list[tuple[str, list[float], list[float], list[tuple[float, float]]]],
                   presenter: bool = False) -> go.Figure:
    """Runs on the same text against their training time: each one's training loss (thin, smoothed) and its held-out
    nats per character after each epoch (dots)."""
    traces = []
    for i, (label, seconds, losses, tests) in enumerate(lines):
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        traces += [
            dict(type="scatter", x=seconds, y=losses, mode="lines", line=dict(color=colour, width=1.5), name=label,
                 hovertemplate=f"{label}: %{{y:.2f}} nats per character after %{{x:.0f}} s of training<extra></extra>"),
            dict(type="scatter", x=[t for t, _ in tests], y=[v for _, v in tests], mode="markers", showlegend=False,
                 marker=dict(color=colour, size=10, line=dict(color="white", width=1)),
                 hovertemplate=f"{label}: %{{y:.3f}} nats per character on held-out text after %{{x:.0f}} s"
                               "<extra></extra>"),
        ]
    figure = bare_figure(traces, dict(
        height=330, margin=margin(top=30), title=dict(text="The same text, the same seconds: which learns faster"),
        xaxis=dict(title="seconds of training", rangemode="tozero"),
        yaxis=dict(title="nats per character", range=[0.8, 4.6]), legend=dict(orientation="h", y=-0.3)))
    return scaled(figure, presenter)
