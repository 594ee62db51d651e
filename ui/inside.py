"""Inside the network, drawn: a digit's path through the layers, weights as pictures, weight and gradient histograms
over the epochs, the embedding, and the live strip of test digits. The figure builders are pure (bench/inside_path.py
times them); the *_ui helpers are shared by Inside the network and Build & train."""

from __future__ import annotations

import base64
import functools
import math
import zlib
from html import escape

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import sample_colorscale, unlabel_rgb

from ui import pictures
from ui.charts import CLASS_COLOURS, bare_figure, margin, scaled
from ui.classroom import presenting

PAGE = "app_pages/4_inside_the_network.py"
MAX_MAPS = 64  # feature maps drawn per layer: a 256-channel layer shows its 64 strongest
DRAWN = "inside_drawn"  # Draw & classify leaves its last digit here (MNIST-style 28x28 in [0, 255]) for PAGE
MAX_CELLS = 24_000  # pixels of feature maps sent per layer: a wide layer shows fewer maps, its strongest
TILE_PIXELS = 44  # how tall one tile is drawn, whatever its size in pixels
UNITS_PER_ROW = 64
UNIT_CELL = (10, 6)  # one unit's cell in the strip's picture (tall, wide), drawn UNIT_ZOOM times larger
UNIT_ZOOM = 1.65
WRONG, RIGHT, WAITING = (228, 87, 46), (46, 160, 67), (150, 150, 150)
IMAGE_SIDE = 28


GAP = 255  # the byte drawn as the page between tiles; values are scaled to 0..254


def _mosaic(tiles: np.ndarray, columns: int, low: float, high: float) -> np.ndarray:
    """Tiles (n, h, w) laid out in rows of `columns` with one GAP pixel between them, each value scaled from
    [low, high] to a byte: a quarter of the float32 bytes to send, and the hover points carry the real values."""
    count, height, width = tiles.shape
    rows = math.ceil(count / columns)
    scaled_tiles = np.clip((tiles - low) / ((high - low) or 1.0) * (GAP - 1), 0, GAP - 1).round().astype(np.uint8)
    grid = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), GAP, dtype=np.uint8)
    for i, tile in enumerate(scaled_tiles):
        row, column = divmod(i, columns)
        grid[row * (height + 1) : row * (height + 1) + height, column * (width + 1) : column * (width + 1) + width] = tile
    return grid


def link_ui(run_id: int, label: str = "See inside this network") -> None:
    """A link to Inside the network, opened on this run, in the same session (so a drawn digit goes along).

    A page run on its own, without app.py's navigation (`streamlit run app_pages/...`, a page's AppTest), has no
    other page to link to, so it shows none.
    """
    try:
        st.page_link(PAGE, label=label, icon=":material/layers:", query_params={"run": str(run_id)})
    except StreamlitPageNotFoundError:
        pass


# ---- a digit's path ------------------------------------------------------------------------------

@functools.cache
def _palette(name: str) -> np.ndarray:
    """A named colour scale as 255 RGB bytes for the mosaic's values 0..254, and white for GAP."""
    colours = [unlabel_rgb(colour) for colour in sample_colorscale(name, np.linspace(0, 1, GAP))]
    return np.array([*colours, (255, 255, 255)], dtype=np.uint8)


def _tiles_html(grid: np.ndarray, colours: str, tiles: tuple[int, int, int], columns: int, hover: list[str],
                width: float, alt: str) -> str:
    """A mosaic (_mosaic's bytes) as one PNG in a named colour scale, under a grid of cells whose tooltips name each
    tile. A picture, not a chart: a page of charts cost a laptop's browser a relayout each, on every new drawing
    and every step of the epoch slider, and a fresh tab a second more."""
    _, height, tile_width = tiles
    cells = []
    for i, text in enumerate(hover):
        row, column = divmod(i, columns)
        cells.append(f'<div title="{escape(text)}" style="position:absolute;'
                     f'left:{column * (tile_width + 1) / grid.shape[1]:.3%};top:{row * (height + 1) / grid.shape[0]:.3%};'
                     f'width:{tile_width / grid.shape[1]:.3%};height:{height / grid.shape[0]:.3%}"></div>')
    image = pictures.data_url(Image.fromarray(_palette(colours)[grid]))
    return (f'<div style="position:relative;width:{width:.0f}px;max-width:100%;margin:0 auto">'
            f'<img alt="{escape(alt)}" src="{image}" style="display:block;width:100%;image-rendering:pixelated">'
            + "".join(cells) + "</div>")


def _scale_html(colours: str, low: str, high: str, presenter: bool, middle: str = "") -> str:
    """A colour scale's key under a picture: its low end's value, the colours, its high end's (larger on a
    projector)."""
    stops = ", ".join(sample_colorscale(colours, [i / 10 for i in range(11)]))
    mid = (f'<span style="position:absolute;left:50%;transform:translateX(-50%);top:-1.3em">{escape(middle)}</span>'
           if middle else "")
    size, width = (1.1, 210) if presenter else (0.8, 140)
    return (f'<div style="display:flex;align-items:center;justify-content:center;gap:0.5em;font-size:{size}rem;'
            f'color:#555;margin:0.3rem 0 1rem">{escape(low)}<span style="position:relative;display:inline-block;'
            f'width:{width}px;height:0.8em;background:linear-gradient(to right, {stops})">{mid}</span>{escape(high)}'
            '</div>')


def maps_html(layer, presenter: bool = False) -> str:
    """A layer's feature maps, strongest first, on one colour scale so strength shows, each map's range on hover."""
    channels, height, width = layer.shape
    shown = layer.order[: max(1, min(len(layer.order), MAX_CELLS // (height * width), MAX_MAPS))]
    columns = min(len(shown), 16 if height <= 14 else 8)
    values = layer.values[shown]
    low, high = float(values.min()), float(values.max())
    grid = _mosaic(values, columns, low, high)  # one scale: strength shows
    tile = TILE_PIXELS * max(1.0, height / 14) ** 0.5 * (1.5 if presenter else 1)
    hover = [f"channel {channel}: from {values[i].min():.2f} to {values[i].max():.2f}, mean {values[i].mean():.2f}"
             for i, channel in enumerate(shown)]
    return (_tiles_html(grid, "Viridis", values.shape, columns, hover, columns * tile, "feature maps")
            + _scale_html("Viridis", f"{low:.2f}", f"{high:.2f}", presenter))


def units_html(layer, presenter: bool = False) -> str:
    """A dense layer's units as a strip of cells (64 to a row) on one colour scale, each unit's value on hover."""
    values = layer.values.reshape(-1)
    columns = min(len(values), UNITS_PER_ROW)
    low, high = float(values.min()), float(values.max())
    tiles = np.broadcast_to(values[:, None, None], (len(values), *UNIT_CELL))
    hover = [f"unit {unit}: {value:.3f}" for unit, value in enumerate(values)]
    width = columns * (UNIT_CELL[1] + 1) * UNIT_ZOOM * (1.5 if presenter else 1)
    return (_tiles_html(_mosaic(tiles, columns, low, high), "Viridis", tiles.shape, columns, hover, width, "units")
            + _scale_html("Viridis", f"{low:.2f}", f"{high:.2f}", presenter))


def steps_figure(layer, presenter: bool = False, step: str = "row") -> go.Figure:
    """A recurrent layer's state after each row (a transformer's at each token): a unit per line, the steps across,
    so the state is seen building up as the digit is read."""
    steps, units = layer.shape
    where = "after row" if step == "row" else "at token"
    heatmap = dict(type="heatmap", z=layer.values.T, x=list(range(1, steps + 1)), colorscale="RdBu_r", zmid=0,
                   hovertemplate=f"unit %{{y}} {where} %{{x}}: %{{z:.3f}}<extra></extra>", colorbar=dict(thickness=10))
    figure = bare_figure([heatmap], dict(
        height=60 + min(units, 64) * 6, margin=margin(top=4),
        xaxis=dict(title=where, dtick=4), yaxis=dict(title="unit", autorange="reversed")))
    return scaled(figure, presenter)


def probabilities_figure(path, classes: tuple[str, ...], presenter: bool = False) -> go.Figure:
    colours = ["#e4572e" if i == path.prediction else "#6c8ebf" for i in range(len(classes))]
    bars = dict(type="bar", x=list(classes), y=path.probabilities, marker_color=colours,
                hovertemplate="%{x}: %{y:.1%}<extra></extra>")
    figure = bare_figure([bars], dict(
        height=220, margin=margin(top=4), yaxis=dict(range=[0, 1], tickformat=".0%"),
        xaxis=dict(type="category")))
    return scaled(figure, presenter)


def layer_caption(layer, first: bool = False, step: str = "row") -> str:
    """One line under a layer's name: its shape, and what it does or which of its units fire most."""
    shape = " × ".join(map(str, layer.shape))
    if layer.name == "flatten":
        what = "the 28×28 pixels" if first else "the maps"
        return f"{shape}: {what} laid end to end, as the next dense layer reads them."
    if layer.name.startswith("dropout"):
        return f"{shape}: dropout is off when the trained network reads, so nothing changes here."
    if layer.name.startswith("output"):
        return f"{shape} scores, turned into probabilities by softmax."
    if layer.name.startswith("rows"):
        return f"{shape}: the digit read a row at a time, top to bottom."
    top = layer.top_units(3)
    what = "channels (by mean)" if layer.is_maps else f"units (by mean over the {step}s)" if layer.is_steps else "units"
    shown = ""
    if layer.is_maps:
        count = min(len(layer.order), MAX_CELLS // (layer.shape[1] * layer.shape[2]), MAX_MAPS)
        shown = f"; the {count} strongest of {layer.shape[0]} shown" if count < layer.shape[0] else ""
    return f"{shape}; strongest {what}: " + ", ".join(f"{t['unit']} ({t['value']:.2f})" for t in top) + shown


def path_figures(path, classes: tuple[str, ...], presenter: bool = False) -> list[tuple[str, str, go.Figure | str | None]]:
    """(layer name, caption, a figure, the HTML of feature maps, or None) for every layer in order: what the page draws
    for one digit."""
    drawn = []
    for i, layer in enumerate(path.layers):
        caption = layer_caption(layer, first=i == 0, step=path.step)
        if layer.name.startswith("output"):
            figure = probabilities_figure(path, classes, presenter)
        elif layer.name == "flatten" or layer.name.startswith(("dropout", "rows")):
            figure = None
        elif layer.is_steps:
            figure = steps_figure(layer, presenter, path.step)
        elif layer.is_maps:
            figure = maps_html(layer, presenter)
        else:
            figure = units_html(layer, presenter)
        drawn.append((layer.name, caption, figure))
    return drawn


# ---- weights as pictures -------------------------------------------------------------------------

def pictures_html(pictures, presenter: bool = False, change_limit: float | None = None) -> str:
    """A conv layer's filters (a row of input-channel kernels per filter when it has several inputs), or the first
    dense layer's units as 28x28 pictures; red and blue are weights of either sign, white is zero.

    With change_limit, the pictures are changes since the random start (inside.change), in full colour at +-change_limit
    whatever the epoch, so scrubbing the epochs shows them grow.
    """
    images = pictures.images
    if pictures.is_filters:
        count, inputs = images.shape[:2]
        tiles = images.reshape(count * inputs, *images.shape[2:])
        columns = inputs if inputs > 1 else min(count, 16)
        if inputs > 1:
            hover = [f"filter {f}, input channel {c}" for f in range(count) for c in range(inputs)]
        else:
            hover = [f"filter {f}" for f in range(count)]
    else:
        tiles, columns = images, min(len(images), 6)
        hover = [f"unit {u}" for u in range(len(images))]
    limit = change_limit or pictures.largest or 1.0
    what = "changed by" if change_limit is not None else "from"
    hover = [f"{text}: {what} {tile.min():.3f} to {tile.max():.3f}" for text, tile in zip(hover, tiles)]
    tile = TILE_PIXELS * max(1.0, tiles.shape[1] / 14) ** 0.5 * (1.5 if presenter else 1)
    return (_tiles_html(_mosaic(tiles, columns, -limit, limit), "RdBu_r", tiles.shape, columns, hover, columns * tile,
                        f"{pictures.layer} weights")
            + _scale_html("RdBu_r", f"{-limit:.3f}", f"+{limit:.3f}", presenter, middle="0"))


def pictures_caption(pictures) -> str:
    if not pictures.is_filters:
        return (f"What each of the first {len(pictures.images)} of {pictures.total} units looks for in the 28×28 "
                "input: red pixels raise the unit, blue ones lower it.")
    count, inputs = pictures.images.shape[:2]
    kept = f"the first {count} of {pictures.total} filters" if count < pictures.total else f"all {count} filters"
    if pictures.inputs == 1:
        return f"{kept.capitalize()}, each a {pictures.images.shape[-1]}×{pictures.images.shape[-1]} pattern it slides over the digit."
    rows = f"the first {inputs} of its {pictures.inputs}" if inputs < pictures.inputs else f"its {inputs}"
    return f"{kept.capitalize()}; each row is one filter's kernels for {rows} input channels."


def change_caption(change, start) -> str:
    """How far a layer's weights have moved since the random start, next to how large they started."""
    return f"Its weights have moved by up to {change.largest:.3f} from a random start of up to ±{start.largest:.3f}."


# ---- histograms over the epochs --------------------------------------------------------------------

def _epoch_colours(count: int) -> list[str]:
    return sample_colorscale("Viridis", [0.85 - 0.85 * i / max(count - 1, 1) for i in range(count)])


def histogram_figures(history: list[tuple[int, list]], layer: str, gradient_edges: np.ndarray,
                      presenter: bool = False) -> list[go.Figure]:
    """One layer's weight histogram and per-unit gradient-norm histogram, one line per epoch (early light, late
    dark), TensorBoard's overlay view."""
    rows = [(epoch, next((h for h in layers if h.layer == layer), None)) for epoch, layers in history]
    rows = [(epoch, h) for epoch, h in rows if h is not None]
    colours = _epoch_colours(len(rows))
    weights, gradients = [], []
    centres = (gradient_edges[:-1] + gradient_edges[1:]) / 2
    for colour, (epoch, h) in zip(colours, rows):
        low, high = h.weight_range
        edges = np.linspace(low, high, len(h.weight_counts) + 1)
        style = dict(type="scatter", mode="lines", line=dict(color=colour, shape="hvh"), name=f"epoch {epoch}",
                     hovertemplate=f"epoch {epoch}: " + "%{y} at %{x:.3g}<extra></extra>", showlegend=False)
        weights.append({**style, "x": (edges[:-1] + edges[1:]) / 2, "y": h.weight_counts})
        if h.gradient_counts:
            gradients.append({**style, "x": 10.0 ** centres, "y": h.gradient_counts})
    empty = "" if rows else "Appears after the first epoch."
    figures = []
    for traces, title, x_title, axis in (
        (weights, "Weights", "weight value", {}),
        (gradients, "Gradient norms", "each unit's gradient norm", dict(type="log", exponentformat="power", dtick=2)),
    ):
        layout = dict(title=title, height=260, margin=margin(), xaxis=dict(title=x_title, **axis),
                      yaxis=dict(title="count"))
        if not traces:
            layout["annotations"] = [dict(text=empty or "No gradient was recorded.", showarrow=False, x=0.5, y=0.5,
                                          xref="paper", yref="paper")]
        figures.append(scaled(bare_figure(traces, layout), presenter))
    return figures


def histograms_ui(history: list[tuple[int, list]], gradient_edges: np.ndarray, key: str, empty: str = "") -> None:
    """A layer picker and its two histograms; the latest epoch is darkest. `empty` says why there are none."""
    layers = [h.layer for h in history[-1][1]] if history else []
    if not layers:
        st.caption(empty or "Weight and gradient histograms appear after the first epoch.")
        return
    layer = st.selectbox("Layer", layers, key=key)
    for column, figure in zip(st.columns(2), histogram_figures(history, layer, gradient_edges, presenting())):
        column.plotly_chart(figure, width="stretch", key=f"{key}_{figure.layout.title.text}")
    last = next((h for h in history[-1][1] if h.layer == layer), None)
    norm = f"{last.gradient_norm:.3g}" if last is not None and last.gradient_norm is not None else "not recorded"
    st.caption(f"One line per epoch, light green the first, dark purple the latest; gradients are the epoch's last "
               f"batch's. After epoch {history[-1][0]} this layer's gradient norm was {norm}. Units piling up at the far "
               "left of the gradients have stopped learning (a dead ReLU's gradient is zero); at the far right, their "
               "updates are exploding.")


# ---- where digits live -----------------------------------------------------------------------------

def _star() -> str:
    """A gold five-pointed star with a black edge, as an SVG address for a layout image."""
    corners = [(11 if i % 2 == 0 else 4.6, i * math.pi / 5) for i in range(10)]
    path = "M" + "L".join(f"{r * math.sin(a):.2f},{-r * math.cos(a):.2f}" for r, a in corners) + "Z"
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-12 -12 24 24"><path d="{path}" fill="gold" '
           'stroke="black" stroke-width="1.2"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


STAR = _star()


def _padded(values: np.ndarray) -> list[float]:
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.05 or 1.0
    return [low - pad, high + pad]


def embedding_figure(embedding, classes: tuple[str, ...], star=None, presenter: bool = False) -> go.Figure:
    """Test digits in the first two principal components of the last hidden layer, coloured by true class;
    misread ones are crosses; the user's digit is a star.

    The star is a layout image, not a trace, and layout.datarevision names the points: a new drawing then moves only
    the star in the browser (images alone are redrawn without recomputing the plot), where redrawing the 1,000 points
    took a second of a busy laptop's time on every stroke.
    """
    traces = []
    for c, name in enumerate(classes):
        for misread in (False, True):
            mask = (embedding.labels == c) & (embedding.misread == misread)
            if not mask.any():
                continue
            points = np.flatnonzero(mask)
            hover = [f"a {name}, read as {classes[p]} (test digit {i})"
                     for p, i in zip(embedding.predicted[points], embedding.indices[points])]
            traces.append(dict(
                type="scatter", x=embedding.points[points, 0], y=embedding.points[points, 1], mode="markers",
                name=name if not misread else f"{name} misread", legendgroup=name, showlegend=not misread,
                customdata=points.tolist(),  # plain numbers: a clicked point's position comes back as one
                text=hover, hovertemplate="%{text}<extra></extra>",
                marker=dict(color=CLASS_COLOURS[c % len(CLASS_COLOURS)], size=9 if misread else 5,
                            symbol="x" if misread else "circle", line=dict(width=0))))
    placed, images = embedding.points, []
    if star is not None:
        look = dict(symbol="star", size=22, color="gold", line=dict(color="black", width=1.5))
        traces.append(dict(type="scatter", x=[None], y=[None], mode="markers", name="your digit", marker=look))
        placed = np.vstack([placed, np.asarray(star, dtype=placed.dtype).reshape(1, 2)])
    x_range, y_range = _padded(placed[:, 0]), _padded(placed[:, 1])
    if star is not None:  # about 26 pixels across (40 on a projector): "contain" keeps the star's shape
        size = 1.5 if presenter else 1.0
        images.append(dict(source=STAR, xref="x", yref="y", x=float(star[0]), y=float(star[1]), xanchor="center",
                           yanchor="middle", sizex=(x_range[1] - x_range[0]) * 0.045 * size,
                           sizey=(y_range[1] - y_range[0]) * 0.06 * size, sizing="contain", layer="above"))
    share = sum(embedding.explained)
    figure = bare_figure(traces, dict(
        title=f"{len(embedding.labels):,} test digits; these two axes keep {share:.0%} of the variation",
        height=520, margin=margin(), legend=dict(itemsizing="constant"), images=images,
        datarevision=zlib.crc32(embedding.points.tobytes()),
        xaxis=dict(title="first principal component", zeroline=False, range=x_range),
        yaxis=dict(title="second principal component", zeroline=False, range=y_range)))
    return scaled(figure, presenter)


# ---- the live strip --------------------------------------------------------------------------------

STRIP_COLUMNS = 10
STRIP_SCALE = 2  # each 28x28 digit drawn 56 pixels wide
STRIP_GAP = 8  # pixels between two digits' cells, so neighbouring captions never touch
LINE_PIXELS = 16  # one line of a caption under a digit


def caption_lines(text: str) -> list[str]:
    """What the model reads, within its digit's cell (at most half the gap wider than the digit): one line, or two
    broken at a space or after a slash ("x T-shirt/" "top"), whichever break leaves the longer line shortest.
    Fashion-MNIST's names ran into their neighbours' ("T-shirt/topT-shirt/top")."""
    font, width = _font(), IMAGE_SIDE * STRIP_SCALE + 4 + STRIP_GAP // 2
    if font.getlength(text) <= width:
        return [text]
    breaks = [i + 1 for i, char in enumerate(text) if char in " /" and text[:i].strip() != "x"]
    splits = ([text[:cut].strip(), text[cut:].strip()] for cut in breaks)
    return min(splits, key=lambda lines: max(map(font.getlength, lines)), default=[text])


def caption(guess: int, label: int, classes: tuple[str, ...]) -> str:
    return classes[guess] if guess == label else f"x {classes[guess]}"  # the bundled font has no ✗


def strip_image(strip, classes: tuple[str, ...]) -> np.ndarray:
    """The strip as one RGB picture, 10 digits to a row, light on dark as MNIST stores them, framed green (read
    right), red (wrong) or grey (not read yet), with what the model reads under each (red when wrong), each caption
    in its digit's own cell. The caption rows are as tall as the dataset's longest caption needs, whatever the
    model reads now, so the picture keeps its size from one redraw to the next.

    One picture rather than a chart: a live page redraws it twice a second, and a PNG costs a fraction of a
    Plotly figure's validation and JSON, time the training thread would otherwise wait for.
    """
    side = IMAGE_SIDE * STRIP_SCALE + 4
    lines = max(len(caption_lines(caption(guess, -1, classes))) for guess in range(len(classes)))
    label = lines * LINE_PIXELS + 6
    rows = math.ceil(len(strip.labels) / STRIP_COLUMNS)
    canvas = Image.new("RGB", (STRIP_COLUMNS * (side + STRIP_GAP) - STRIP_GAP, rows * (side + label)), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for i, image in enumerate(strip.images):
        row, column = divmod(i, STRIP_COLUMNS)
        left, top = column * (side + STRIP_GAP), row * (side + label)
        guess = None if strip.guesses is None else strip.guesses[i]
        colour = WAITING if guess is None else RIGHT if guess == strip.labels[i] else WRONG
        draw.rectangle((left, top, left + side - 1, top + side - 1), fill=colour)
        digit = Image.fromarray(image).resize((side - 4, side - 4), Image.NEAREST)
        canvas.paste(digit, (left + 2, top + 2))
        if guess is not None:
            for number, line in enumerate(caption_lines(caption(guess, strip.labels[i], classes))):
                draw.text((left + side / 2, top + side + 2 + number * LINE_PIXELS), line, anchor="mt", font=font,
                          fill="#555555" if colour == RIGHT else WRONG)
    return np.asarray(canvas)


@functools.cache
def _font() -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=14)


def strip_ui(strip, classes: tuple[str, ...]) -> None:
    """The strip with each digit's guess under it, and how many are right."""
    if strip.guesses is None:
        st.caption("The model reads these test digits every few seconds once training has begun.")
    else:
        st.caption(f"At step {strip.step:,} the model reads **{strip.right} of {len(strip.labels)}** right: green "
                   "frames right, red wrong, and under each digit what it reads.")
    # inline, not st.image: a media file of a picture redrawn every 2 s is often gone before the browser asks for it
    st.html(pictures.as_html(Image.fromarray(strip_image(strip, classes)), "test digits as the model reads them"))


def live_ui(manager, run_id: int) -> None:
    """Beside a training run's curves: the strip of test digits as the model reads them now, and the histograms of
    the epochs so far."""
    from dlcore import data, inside

    trainer = manager.trainer(run_id)
    if trainer is None:
        return
    strip, histogram = st.columns(2, gap="large")
    with strip:
        st.markdown("**Test digits, read as it trains**")
        strip_ui(trainer.strip(), data.info(trainer.config.dataset).classes)
    with histogram:
        st.markdown("**Weights and gradients, epoch by epoch**")
        epoch = trainer.progress().epoch
        histograms_ui(_histograms(str(manager.store.root), run_id, epoch), inside.gradient_edges(), key="live_histogram")


@st.cache_data(max_entries=16, show_spinner=False)
def _histograms(root: str, run_id: int, epoch: int) -> list:
    """A run's stored histograms, read again only when an epoch has ended (epoch is part of the cache key)."""
    from dlcore import inside
    from dlcore.runs import RunStore

    return inside.stored_histograms(RunStore(root), run_id)
