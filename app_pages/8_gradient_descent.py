"""Gradient descent you can watch: the engine's optimizers from one start on 2-D loss surfaces, step by step."""

import base64
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative
from PIL import Image

from dlcore import DLCoreError, descent
from dlcore.config import DESCENT_OPTIMIZERS, MAX_DESCENT_STEPS, DescentConfig, bounds
from ui import literal
from ui.charts import CONFIG, margin, scaled
from ui.classroom import keep_setup_in_address, new_link, note_on_link, presenting

FRAMES = 100  # replay frames, however many steps: each is six points, so smoothness costs little
FRAME_MS = 40  # a replay takes 4 s
COLOURS = dict(zip(DESCENT_OPTIMIZERS, qualitative.Plotly))
# 12 bands of equal (log) loss, white at the bottom to mid grey, so their edges read as contour lines; drawn as a
# picture behind the axes, because an animation makes Plotly drop a heatmap or contour trace (plotly.js #4491)
GREYS = np.arange(252, 156, -8, dtype=np.uint8)
PICTURE_CELLS = 400  # the picture's side in pixels, which the browser stretches over the axes: 3-6 kB as a PNG
CLICK_CELLS = 41  # a click anywhere on the surface lands on one of 41x41 invisible points: the start moves there
LR_RANGE = (1e-5, 10.0)  # the learning-rate boxes' range


def open_link() -> None:
    """A link's settings become the widgets' values, once per link; a value the widgets cannot take, a key this page
    does not use, and a link that cannot be used at all, are said in the note."""
    config = new_link("gd", descent.LINK_FIELDS, descent.from_link)
    if config is None:
        return
    surface, state = config.surface, st.session_state
    x, y = config.start or descent.SURFACES[surface].start
    state.update({"gd_surface": surface, "gd_steps": config.steps, f"gd_x_{surface}": x, f"gd_y_{surface}": y,
                  "gd_optimizers": list(config.optimizers)})
    raised = {name: lr for name, lr in config.lrs.items() if lr < LR_RANGE[0]}
    state.update({f"gd_lr_{surface}_{name}": max(lr, LR_RANGE[0]) for name, lr in config.lrs.items()})
    notes = [f"The learning-rate boxes start at {LR_RANGE[0]:g}, so {', '.join(f'{descent.TITLES[n]} {lr:g}' for n, lr in raised.items())}"
             f" became {LR_RANGE[0]:g}."] if raised else []
    note_on_link("gd", descent.LINK_FIELDS, notes)


def keep_link(config: DescentConfig) -> None:
    """The settings in the address bar, so the page's address is a link to this setup."""
    query = descent.to_link(config)
    keep_setup_in_address(query)
    st.session_state["gd_link"] = query


def start_here() -> None:
    """A click on the surface: its point becomes the start (the chart's selection, which Streamlit hands the
    callback), for every optimizer at once."""
    chosen = [point for point in st.session_state["gd_chart"].selection.points if point.get("curve_number") == 0]
    if not chosen:
        return
    surface = st.session_state["gd_surface"]
    shape = descent.SURFACES[surface]
    (x0, x1), (y0, y1) = shape.x_range, shape.y_range
    st.session_state[f"gd_x_{surface}"] = min(max(float(chosen[0]["x"]), x0), x1)
    st.session_state[f"gd_y_{surface}"] = min(max(float(chosen[0]["y"]), y0), y1)


def settings_ui() -> DescentConfig:
    """The surface, the start, how far, and who races, stacked beside the chart so both are on screen together;
    each surface keeps its own start and rates."""
    surface = st.selectbox("Surface", list(descent.SURFACES), format_func=lambda s: descent.SURFACES[s].title,
                           key="gd_surface")
    shape = descent.SURFACES[surface]
    low, high = bounds(DescentConfig, "steps")
    steps = st.slider("Steps", int(low), MAX_DESCENT_STEPS, 200, 10, key="gd_steps")
    left, right = st.columns(2)
    x = left.number_input("Start x", *map(float, shape.x_range), float(shape.start[0]), 0.1, key=f"gd_x_{surface}")
    y = right.number_input("Start y", *map(float, shape.y_range), float(shape.start[1]), 0.1, format="%.3f",
                           key=f"gd_y_{surface}")
    chosen = st.multiselect("Optimizers", list(DESCENT_OPTIMIZERS), default=list(DESCENT_OPTIMIZERS),
                            format_func=descent.TITLES.get, key="gd_optimizers", select_all=False)
    with st.expander("Learning rates", icon=":material/tune:"):
        rates = st.columns(2)
        lrs = {name: rates[i % 2].number_input(f"{descent.TITLES[name]} lr", *LR_RANGE, shape.lrs[name], format="%g",
                                               key=f"gd_lr_{surface}_{name}")
               for i, name in enumerate(DESCENT_OPTIMIZERS)}
    if not chosen:
        raise DLCoreError("Choose at least one optimizer.")
    return DescentConfig(surface=surface, start=None if (x, y) == shape.start else (x, y), steps=steps,
                         optimizers=tuple(n for n in DESCENT_OPTIMIZERS if n in chosen),
                         lrs={name: lr for name, lr in lrs.items() if lr != shape.lrs[name]})  # a link names changes


@st.cache_data(max_entries=64, show_spinner=False)
def paths(config: DescentConfig) -> list[descent.Path]:
    return descent.descend(config)


@st.cache_data(max_entries=8, show_spinner=False)
def surface_picture(surface: str) -> str:
    """The surface in its bands as a PNG data URI, made once per surface: the one part of the chart that never
    changes."""
    _, _, losses = descent.contours(surface, PICTURE_CELLS)
    levels = np.log10(losses - losses.min() + 1e-2)  # log: the walls would hide the floor's shape
    bands = np.minimum((levels - levels.min()) / np.ptp(levels) * len(GREYS), len(GREYS) - 1).astype(int)
    png = io.BytesIO()
    Image.fromarray(GREYS[bands[::-1]]).save(png, format="PNG", optimize=True)  # a picture's first row is its top
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()


def path_figure(config: DescentConfig, results: list[descent.Path], presenter: bool) -> go.Figure:
    """The surface's bands, each path in full, and one trace of a ball per optimizer that the frames move along the
    paths: a frame carries only the balls, not each path so far (1.3 MB at 500 steps)."""
    shape = descent.SURFACES[config.surface]
    (x0, x1), (y0, y1) = shape.x_range, shape.y_range
    start = config.start or shape.start
    grid_x, grid_y = np.meshgrid(np.linspace(x0, x1, CLICK_CELLS), np.linspace(y0, y1, CLICK_CELLS))
    base = [
        dict(type="scatter", x=grid_x.ravel().round(3).tolist(), y=grid_y.ravel().round(3).tolist(), mode="markers",
             name="start here", showlegend=False, hovertemplate="click to start here: (%{x}, %{y})<extra></extra>",
             marker=dict(size=10, opacity=0), selected=dict(marker=dict(opacity=0)),
             unselected=dict(marker=dict(opacity=0))),
        dict(type="scatter", x=[m[0] for m in shape.minima], y=[m[1] for m in shape.minima], mode="markers",
             name="minimum", marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1)),
             hoverinfo="skip"),
        dict(type="scatter", x=[start[0]], y=[start[1]], mode="markers", name="start", hoverinfo="skip",
             marker=dict(symbol="circle-open", size=14, color="black", line=dict(width=3))),
    ]
    lines = [dict(type="scatter", x=p.points[:, 0].round(4).tolist(), y=p.points[:, 1].round(4).tolist(),
                  mode="lines+markers", name=descent.TITLES[p.optimizer],
                  line=dict(color=COLOURS[p.optimizer], width=2), marker=dict(size=4)) for p in results]

    def balls(step: int) -> dict:
        """Where every optimizer is after a number of steps (one that blew up stays where it was last seen)."""
        at = np.array([p.points[min(step, len(p.points) - 1)] for p in results]).round(4)
        return dict(type="scatter", x=at[:, 0].tolist(), y=at[:, 1].tolist())

    marks = np.unique(np.linspace(0, config.steps, FRAMES).astype(int))
    now = dict(balls(config.steps), mode="markers", name="now", showlegend=False, hoverinfo="text",
               hovertext=[line["name"] for line in lines],
               marker=dict(size=12, color=[COLOURS[p.optimizer] for p in results], line=dict(color="white", width=2)))
    frames = [dict(name=str(step), data=[balls(step)], traces=[len(base) + len(lines)]) for step in marks]
    layout = dict(
        height=440, margin=margin(10), uirevision=config.surface, hovermode="closest",
        xaxis=dict(range=[x0, x1], title="x", showgrid=False, zeroline=False),
        yaxis=dict(range=[y0, y1], title="y", showgrid=False, zeroline=False),
        images=[dict(source=surface_picture(config.surface), xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0,
                     sizey=y1 - y0, sizing="stretch", layer="below")],
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"),
        updatemenus=[dict(type="buttons", x=0, y=-0.08, xanchor="left", yanchor="top", direction="left", buttons=[
            dict(label="▶ Replay", method="animate",
                 args=[None, dict(frame=dict(duration=FRAME_MS, redraw=False), transition=dict(duration=0),
                                  fromcurrent=False)]),
        ])],
        sliders=[dict(x=0.15, y=-0.05, len=0.85, currentvalue=dict(prefix="step "), active=len(marks) - 1, steps=[
            dict(label=str(step), method="animate",
                 args=[[str(step)], dict(mode="immediate", frame=dict(duration=0, redraw=False))]) for step in marks])],
    )
    for trace in [*base[1:], *lines, now]:  # a click's selection must not grey out the paths
        trace.update(unselected=dict(marker=dict(opacity=1)))
    figure = go.Figure({"data": [*base, *lines, now], "layout": layout, "frames": frames})
    return scaled(figure, presenter)


def outcomes_ui(results: list[descent.Path]) -> None:
    """Where each path ends and how fast, as a table a class can read."""
    st.dataframe([{"optimizer": descent.TITLES[p.optimizer], "learning rate": p.lr,
                   "ends at": f"blew up after {len(p.points) - 1} steps" if p.blew_up else f"({p.end[0]:.2f}, {p.end[1]:.2f})",
                   "final loss": None if p.blew_up else float(p.losses[-1]),
                   "steps to a minimum": p.arrived_at} for p in results],
                 hide_index=True, width="stretch",
                 column_config={"final loss": st.column_config.NumberColumn(format="%.3g"),
                                "learning rate": st.column_config.NumberColumn(format="%g")})


st.title("Gradient descent you can watch")
st.caption("Every optimizer steps as the one Build & train uses (its settings and update rule), moving one point "
           "instead of a network's weights. They start together from the ring; move the start, change a learning "
           "rate, and press Replay to watch each one's ball roll along its path.")
open_link()
if link_note := st.session_state.get("gd_link_note"):
    st.warning(literal(link_note), icon=":material/link_off:")
settings, chart = st.columns([1, 2.2], gap="medium")
with settings, st.container(key="gd_settings"):  # in presenter mode too: picking a surface is the demo
    try:
        config = settings_ui()
    except DLCoreError as exc:
        st.error(literal(exc))
        st.stop()
keep_link(config)
results = paths(config)
chart.plotly_chart(path_figure(config, results, presenting()), key="gd_chart", width="stretch", on_select=start_here,
                   selection_mode="points", config=CONFIG)  # no toolbar over the legend
chart.caption("Click anywhere on the surface to start every optimizer there.")
settings.info(descent.SURFACES[config.surface].note, icon=":material/lightbulb:")
outcomes_ui(results)
