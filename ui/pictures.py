"""The 2-D playground's live pictures, drawn on the server as PNG images: the boundary under the points, every neuron
with its links, and the loss curves. No Streamlit here.

Images, not charts: redrawn five times a second, an <img> costs the browser one decode, where a chart of a heatmap
and 500 points cost it a full relayout, which a busy classroom laptop (or a shared server's browser) cannot keep up.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ORANGE, WHITE, BLUE = np.array([245, 147, 34]), np.array([232, 234, 235]), np.array([8, 119, 189])  # TF's colours
EXTENT = 6.0  # the square every dataset lies in, [-6, 6]²
PLAIN = str.maketrans({"₁": "1", "₂": "2", "²": "^2"})


def _font(size: int):
    return ImageFont.load_default(size=size)


def colours(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] -> RGB, orange through white to blue, as TF Playground paints them."""
    v = np.clip(values, -1, 1)[..., None]
    return np.where(v < 0, WHITE + (ORANGE - WHITE) * -v, WHITE + (BLUE - WHITE) * v).astype(np.uint8)


def data_url(image: Image.Image) -> str:
    """The PNG itself as an address: a media file would be gone before the browser asked for it."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def as_html(image: Image.Image, alt: str) -> str:
    """An <img> carrying its PNG."""
    return f'<img alt="{alt}" style="max-width:100%" src="{data_url(image)}">'


def boundary_image(boundary: np.ndarray, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                   size: int = 400) -> tuple[Image.Image, tuple[int, int, int]]:
    """The output (rows from y = -6 up) smoothed over the square; training points filled with a white ring, test
    points with a black one; ticks at -6, 0 and 6. Also where the square is: (left, top, side) in pixels."""
    text = max(11, size // 32)
    pad, top = text * 2 + 4, text // 2 + 2  # room for the ticks on the left and below, and for the top one's label
    image = Image.new("RGB", (size + pad + text, size + pad + top), "white")
    field = Image.fromarray(colours(boundary[::-1])).resize((size, size), Image.BILINEAR)
    image.paste(field, (pad, top))
    draw = ImageDraw.Draw(image)
    radius = max(3, size // 110)
    for (xy, labels), ring in ((train, (255, 255, 255)), (test, (0, 0, 0))):
        pixels = (xy * [1, -1] + EXTENT) / (2 * EXTENT) * size + [pad, top]
        fills = colours(labels) if labels.dtype.kind == "f" else np.where(labels[:, None] == 1, BLUE, ORANGE)  # a
        for (x, y), fill in zip(pixels, fills.tolist()):  # regression's values, or the classes
            fill = tuple(fill)
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill, outline=ring)
    _ticks(draw, pad, top, size, text)
    return image, (pad, top, size)


def _ticks(draw: ImageDraw.ImageDraw, pad: int, top: int, size: int, text: int) -> None:
    """-6, 0 and 6 below the square and to its left."""
    font = _font(text)
    for value in (-6, 0, 6):
        at = (value + EXTENT) / (2 * EXTENT) * (size - 1)
        draw.text((pad + at, top + size + 3), str(value), fill=(90, 90, 90), font=font, anchor="mt")
        if value > -EXTENT:  # the corner's -6 is the x axis's, for both
            draw.text((pad - 4, top + size - 1 - at), str(value), fill=(90, 90, 90), font=font, anchor="rm")


def network_image(inputs: np.ndarray, neurons: list[np.ndarray], weights: list[np.ndarray], names: list[str],
                  large: bool = False) -> tuple[Image.Image, list[tuple[int, int, int]]]:
    """Every input and neuron as a small picture of its output over the square; links coloured by sign, as thick
    as the weight is large next to the layer's largest. Also each tile's (x, y, side) in pixels, inputs first, for
    hover_html."""
    tile, gap_x, gap_y = (64, 150, 14) if large else (44, 110, 10)
    columns = [inputs, *neurons]
    height = max(len(c) for c in columns) * (tile + gap_y) + gap_y
    image = Image.new("RGB", (len(columns) * (tile + gap_x) - gap_x + 20, height), "white")
    draw = ImageDraw.Draw(image)

    def corner(layer: int, unit: int) -> tuple[int, int]:
        offset = (height - len(columns[layer]) * (tile + gap_y) + gap_y) // 2
        return 10 + layer * (tile + gap_x), offset + unit * (tile + gap_y)

    for layer, matrix in enumerate(weights[: len(columns) - 1], start=1):
        scale = max(float(np.abs(matrix).max()), 1e-6)
        for out, row in enumerate(matrix):
            for into, weight in enumerate(row):
                (x0, y0), (x1, y1) = corner(layer - 1, into), corner(layer, out)
                colour = tuple(int(c) for c in colours(np.array(weight / scale)))
                draw.line([(x0 + tile, y0 + tile // 2), (x1, y1 + tile // 2)], fill=colour,
                          width=max(1, round(4 * abs(weight) / scale)))
    tiles = []
    for layer, column in enumerate(columns):
        for unit, values in enumerate(column):
            pixels = Image.fromarray(unit_colours(values, layer == 0)).resize((tile, tile), Image.NEAREST)
            x, y = corner(layer, unit)
            image.paste(pixels, (x, y))
            draw.rectangle([x, y, x + tile - 1, y + tile - 1], outline=(80, 80, 80))
            tiles.append((x, y, tile))
            if layer == 0:
                label = names[unit].translate(PLAIN)  # the built-in font has no sub- or superscripts
                draw.text((x + 2, y + 1), label, fill=(0, 0, 0), font=_font(16 if large else 12))
    return image, tiles


def unit_colours(values: np.ndarray, is_input: bool) -> np.ndarray:
    """An input's or a neuron's output over the square (rows from y = -6 up) as colours, top row first: inputs reach
    ±36 and are scaled to their largest; tanh units are ±1."""
    span = max(1.0, float(np.abs(values).max())) if is_input else 1.0
    return colours(values[::-1] / span)


def network_html(network: Image.Image, tiles: list[tuple[int, int, int]], alt: str) -> str:
    """The network's picture with a hover zone over each tile: hovering one shows that unit's output over the whole
    square on the boundary picture (boundary_html), as TF Playground does, by CSS alone."""
    width, height = network.size
    zones = "".join(f'<div class="tp-unit tp-unit-{i}" title="hover: this unit\'s output on the big picture" '
                    f'style="position:absolute;left:{x / width:.3%};top:{y / height:.3%};width:{side / width:.3%};'
                    f'height:{side / height:.3%};cursor:crosshair"></div>' for i, (x, y, side) in enumerate(tiles))
    return (f'<div style="position:relative;display:inline-block;max-width:100%">'
            f'<img alt="{alt}" style="max-width:100%;display:block" src="{data_url(network)}">{zones}</div>')


def boundary_html(boundary: Image.Image, field: tuple[int, int, int], units: list[np.ndarray], alt: str) -> str:
    """The boundary picture with each unit's output (network_html's order) laid over its square, hidden until that
    unit's tile is hovered; the browser smooths the small pictures as it scales them up."""
    width, height = boundary.size
    left, top, side = field
    place = f"position:absolute;left:{left / width:.3%};top:{top / height:.3%};width:{side / width:.3%};" \
            f"height:{side / height:.3%};opacity:0.92;display:none"
    overlays = "".join(f'<img class="tp-over tp-over-{i}" alt="" style="{place}" src="{data_url(Image.fromarray(unit))}">'
                       for i, unit in enumerate(units))
    rules = "".join(f"[data-testid=stMain]:has(.tp-unit-{i}:hover) .tp-over-{i}{{display:block !important}}"
                    for i in range(len(units)))
    return (f'<style>{rules}</style><div style="position:relative;display:inline-block;max-width:100%">'
            f'<img alt="{alt}" style="max-width:100%;display:block" src="{data_url(boundary)}">{overlays}</div>')


def loss_image(train: list[float], test: list[float], large: bool = False) -> Image.Image:
    """Train (blue) and test (grey) loss per epoch, from 0 up to the highest loss so far, as TF Playground's sparkline."""
    return curves_image([(test, (110, 110, 110)), (train, tuple(int(c) for c in BLUE))],
                        "loss per epoch (0 to {top:.3g}): train blue, test grey", "loss per epoch: press Play or Step",
                        large)


def curves_image(series: list[tuple[list[float], tuple[int, int, int]]], caption: str, empty: str,
                 large: bool = False, top: float | None = None) -> Image.Image:
    """Sparklines from 0 up to `top` (else the highest value so far), each stretched over the width, the last drawn
    on top; `caption` may name {top}."""
    width, height, font = (600, 160, _font(20)) if large else (420, 110, _font(13))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(0, height - 1), (width, height - 1)], fill=(180, 180, 180))
    if not any(values for values, _ in series):
        draw.text((6, height // 2), empty, fill=(120, 120, 120), font=font, anchor="lm")
        return image
    top = top or max(max(max(values, default=0.0) for values, _ in series), 1e-6)
    for values, colour in series:
        if not values:
            continue
        xs = np.linspace(0, width - 1, len(values)) if len(values) > 1 else np.array([0.0])
        ys = height - 2 - np.clip(np.asarray(values) / top, 0, 1) * (height - font.size - 8)
        draw.line(list(zip(xs.tolist(), ys.tolist())) if len(values) > 1 else [(0, ys[0]), (width, ys[0])],
                  fill=colour, width=2)
    draw.text((6, 2), caption.format(top=top), fill=(90, 90, 90), font=font)
    return image


GREEN, PURPLE = np.array([0, 136, 55]), np.array([123, 50, 148])  # GAN Lab's: real, and drawn by the generator
REAL_HEAT, FAKE_HEAT = np.array([120, 200, 120]), np.array([185, 140, 205])  # the same, paler, for the background


def gan_image(heat: np.ndarray, real: np.ndarray, samples: np.ndarray, pulls: np.ndarray, mesh: np.ndarray,
              size: int = 400, show_mesh: bool = True, show_pulls: bool = True) -> Image.Image:
    """GAN Lab's picture: the discriminator's p(real) over the square (rows from y = -6 up; green real, purple drawn),
    the generator's manifold (where a grid of noise lands, grey), the real points (green), the generator's samples
    (purple, at the edge when off it), each with the way the generator's loss pulls it (an arrow, the longest a tenth
    of the square)."""
    text = max(11, size // 32)
    pad, top = text * 2 + 4, text // 2 + 2
    image = Image.new("RGB", (size + pad + text, size + pad + top), "white")
    p = np.clip(heat[::-1], 0, 1)[..., None] * 2 - 1
    background = np.where(p < 0, WHITE + (FAKE_HEAT - WHITE) * -p, WHITE + (REAL_HEAT - WHITE) * p).astype(np.uint8)
    image.paste(Image.fromarray(background).resize((size, size), Image.BILINEAR), (pad, top))
    draw = ImageDraw.Draw(image)

    def at(xy: np.ndarray) -> np.ndarray:
        return (xy * [1, -1] + EXTENT) / (2 * EXTENT) * size + [pad, top]

    draw.rectangle([pad, top, pad + size, top + size], outline=(200, 200, 200))
    if show_mesh:
        for line in mesh:
            points = np.clip(at(line), [pad, top], [pad + size, top + size])
            draw.line([tuple(point) for point in points.tolist()], fill=(150, 150, 150), width=1)
    radius = max(3, size // 110)
    for (x, y) in at(real).tolist():
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(GREEN.tolist()), outline="white")
    samples = np.clip(samples, -EXTENT, EXTENT)  # one flung off the square shows at its edge, not nowhere
    if show_pulls and len(pulls):
        longest = max(float(np.linalg.norm(pulls, axis=1).max()), 1e-9)
        ends = at(samples + pulls / longest * (2 * EXTENT / 10))
        for (x0, y0), (x1, y1) in zip(at(samples).tolist(), ends.tolist()):
            draw.line([(x0, y0), (x1, y1)], fill=(90, 30, 110), width=1)
            draw.ellipse([x1 - 1.5, y1 - 1.5, x1 + 1.5, y1 + 1.5], fill=(90, 30, 110))
    for (x, y) in at(samples).tolist():
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(PURPLE.tolist()), outline="white")
    _ticks(draw, pad, top, size, text)
    return image
