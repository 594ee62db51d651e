"""Figures of generative models, from plain arrays: the 2-D map of codes, digits drawn again, grids, morphs and the
mode meter."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from ui.charts import CLASS_COLOURS, PRESENTER_FONT, bare_figure, margin
from ui.pictures import data_url

CLICK_CELLS = 31  # a click anywhere on the map lands on one of 31x31 invisible points: what decodes there is drawn
ELLIPSE_POINTS = 48


def digits_image(rows: list[np.ndarray], scale: int = 3, gap: int = 2) -> np.ndarray:
    """Rows of 28x28 digits (uint8, or floats in [0, 1]) as one uint8 picture, light on dark as MNIST keeps them,
    enlarged by whole pixels and parted by thin grey lines."""
    tiles = [np.asarray(row if np.asarray(row).dtype == np.uint8 else np.round(np.asarray(row) * 255), np.uint8)
             for row in rows]
    columns = max(len(row) for row in tiles)
    side = 28 * scale
    picture = np.full((len(tiles) * (side + gap) - gap, columns * (side + gap) - gap), 90, np.uint8)
    for r, row in enumerate(tiles):
        for c, digit in enumerate(row):
            top, left = r * (side + gap), c * (side + gap)
            picture[top : top + side, left : left + side] = np.kron(digit, np.ones((scale, scale), np.uint8))
    return picture


def digits_ui(rows: list[np.ndarray], caption: str, scale: int = 3, gap: int = 2) -> None:
    """digits_image inline, its size fixed before it loads: a picture loading above the drawing canvas moved it after
    the canvas had measured where it was, and the first stroke landed outside it (a media file also loads late)."""
    picture = digits_image(rows, scale, gap)
    height, width = picture.shape
    st.html(f'<figure style="margin:0;text-align:center"><img alt="{html.escape(caption)}" width="{width}" '
            f'height="{height}" style="max-width:100%;height:auto" src="{data_url(Image.fromarray(picture))}">'
            f'<figcaption style="font-size:0.85rem;opacity:0.7">{html.escape(caption)}</figcaption></figure>')


def map_figure(codes: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], span: float,
               drawn: tuple[np.ndarray, np.ndarray | None] | None = None, chosen: tuple[float, float] | None = None,
               title: str = "Where the test digits' codes lie", presenter: bool = False,
               clickable: bool = True) -> go.Figure:
    """The test digits' 2-D codes coloured by class; the student's drawing as a star (with a VAE's spread as an
    ellipse of one standard deviation); the point last clicked as a cross. Invisible points over the map make a
    click anywhere on it a selection (Plotly selects points, not empty space)."""
    traces = []
    if clickable:
        axis = np.linspace(-span, span, CLICK_CELLS)
        xs, ys = np.meshgrid(axis, axis)
        traces.append(dict(type="scatter", x=xs.ravel().round(3).tolist(), y=ys.ravel().round(3).tolist(),
                           mode="markers", name="decode here", showlegend=False, marker=dict(size=12, opacity=0),
                           hovertemplate="click to draw what (%{x}, %{y}) decodes to<extra></extra>",
                           selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0))))
    for c, name in enumerate(classes):
        mine = labels == c
        traces.append(dict(type="scattergl", x=codes[mine, 0].round(3).tolist(), y=codes[mine, 1].round(3).tolist(),
                           mode="markers", name=name, hovertemplate=f"a test {name}: (%{{x}}, %{{y}})<extra></extra>",
                           marker=dict(size=9 if presenter else 6, color=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                                       opacity=0.75), unselected=dict(marker=dict(opacity=0.75))))
    if drawn is not None:
        point, spread = drawn
        if spread is not None:
            angle = np.linspace(0, 2 * np.pi, ELLIPSE_POINTS)
            traces.append(dict(type="scatter", x=(point[0] + spread[0] * np.cos(angle)).round(3).tolist(),
                               y=(point[1] + spread[1] * np.sin(angle)).round(3).tolist(), mode="lines",
                               name="its spread", line=dict(color="black", width=2, dash="dot"), hoverinfo="skip"))
        traces.append(dict(type="scatter", x=[float(point[0])], y=[float(point[1])], mode="markers", name="your drawing",
                           marker=dict(symbol="star", size=22, color="gold", line=dict(color="black", width=1.5)),
                           hovertemplate="your drawing: (%{x:.2f}, %{y:.2f})<extra></extra>"))
    if chosen is not None:
        traces.append(dict(type="scatter", x=[chosen[0]], y=[chosen[1]], mode="markers", name="decoded",
                           marker=dict(symbol="x-thin", size=18, line=dict(color="black", width=3)),
                           hovertemplate="decoded: (%{x:.2f}, %{y:.2f})<extra></extra>"))
    font = PRESENTER_FONT if presenter else 12
    reach = max(span, float(np.abs(codes).max()) * 1.05 if len(codes) else span)
    return bare_figure(traces, dict(
        title=dict(text=title, font=dict(size=font + 2)), height=520 if presenter else 430, margin=margin(36),
        xaxis=dict(range=[-reach, reach], zeroline=False, title=dict(text="code 1", font=dict(size=font)),
                   tickfont=dict(size=font)),
        yaxis=dict(range=[-reach, reach], zeroline=False, scaleanchor="x", title=dict(text="code 2", font=dict(size=font)),
                   tickfont=dict(size=font)),
        legend=dict(orientation="h", y=-0.22 if presenter else -0.16, font=dict(size=font)), dragmode="pan",
        clickmode="event+select",
        hovermode="closest"))


def mode_figure(shares: list[float], classes: tuple[str, ...], presenter: bool = False) -> go.Figure:
    """The share of a GAN's drawings a digit model reads as each class; the dotted line is an even tenth each."""
    font = PRESENTER_FONT if presenter else 12
    bars = dict(type="bar", x=list(classes), y=shares, text=[f"{share:.0%}" for share in shares], textposition="outside",
                marker=dict(color=[CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(classes))]),
                hovertemplate="read as %{x}: %{y:.1%}<extra></extra>", textfont=dict(size=font))
    even = 1 / max(len(classes), 1)
    return bare_figure([bars], dict(
        title=dict(text="Which classes it draws (the mode meter)", font=dict(size=font + 2)),
        height=320 if presenter else 260, margin=margin(36), showlegend=False,
        xaxis=dict(type="category", tickfont=dict(size=font)),
        yaxis=dict(range=[0, max(max(shares, default=0) * 1.25, even * 2)], tickformat=".0%", tickfont=dict(size=font)),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=even, y1=even, line=dict(dash="dot", color="grey"))]))
