"""Gradient descent you can watch: the engine's optimizers from one start on 2-D loss surfaces, step by step."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from dlcore import DLCoreError, descent
from dlcore.config import DESCENT_OPTIMIZERS, MAX_DESCENT_STEPS, DescentConfig, bounds
from ui import literal
from ui.charts import margin, scaled
from ui.classroom import presenting, settings_container

FRAMES = 60  # animation frames, however many steps: smooth enough, and the figure stays small
COLOURS = dict(zip(DESCENT_OPTIMIZERS, qualitative.Plotly))
# 12 bands of equal (log) loss, white at the bottom to mid grey, so their edges read as contour lines: a heatmap,
# because Plotly's animation of the paths breaks a contour trace beside them
BANDS = [[edge / 12, f"rgb({grey},{grey},{grey})"] for i, grey in enumerate(range(252, 150, -8)[:12])
         for edge in (i, i + 1)]


def settings_ui() -> DescentConfig:
    """The surface, the start, how far, and who races; each surface keeps its own start and rates."""
    left, middle, right = st.columns([1, 1, 2])
    surface = left.selectbox("Surface", list(descent.SURFACES), format_func=lambda s: descent.SURFACES[s].title,
                             key="gd_surface")
    shape = descent.SURFACES[surface]
    low, high = bounds(DescentConfig, "steps")
    steps = left.slider("Steps", int(low), MAX_DESCENT_STEPS, 200, 10, key="gd_steps")
    x = middle.number_input("Start x", *map(float, shape.x_range), float(shape.start[0]), 0.1, key=f"gd_x_{surface}")
    y = middle.number_input("Start y", *map(float, shape.y_range), float(shape.start[1]), 0.1, format="%.3f",
                            key=f"gd_y_{surface}")
    chosen = right.multiselect("Optimizers", list(DESCENT_OPTIMIZERS), default=list(DESCENT_OPTIMIZERS),
                               format_func=descent.TITLES.get, key="gd_optimizers", select_all=False)
    rates = right.columns(3)
    lrs = {name: rates[i % 3].number_input(f"{descent.TITLES[name]} lr", 1e-5, 10.0, shape.lrs[name], format="%g",
                                           key=f"gd_lr_{surface}_{name}")
           for i, name in enumerate(DESCENT_OPTIMIZERS)}
    if not chosen:
        raise DLCoreError("Choose at least one optimizer.")
    return DescentConfig(surface=surface, start=(x, y), steps=steps,
                         optimizers=tuple(n for n in DESCENT_OPTIMIZERS if n in chosen), lrs=lrs)


@st.cache_data(max_entries=64, show_spinner=False)
def paths(config: DescentConfig) -> list[descent.Path]:
    return descent.descend(config)


@st.cache_data(max_entries=8, show_spinner=False)
def contours(surface: str):
    xs, ys, losses = descent.contours(surface)
    return xs, ys, np.log10(losses - losses.min() + 1e-2)  # log: the walls would hide the floor's shape


def path_figure(config: DescentConfig, results: list[descent.Path], presenter: bool) -> go.Figure:
    """The surface in bands of equal loss, each path in full, and frames that replay them step by step."""
    shape = descent.SURFACES[config.surface]
    xs, ys, levels = contours(config.surface)
    base = [
        dict(type="heatmap", x=xs, y=ys, z=levels.round(3), colorscale=BANDS, showscale=False, hoverinfo="skip",
             zsmooth="best"),
        dict(type="scatter", x=[m[0] for m in shape.minima], y=[m[1] for m in shape.minima], mode="markers",
             name="minimum", marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1)),
             hoverinfo="skip"),
        dict(type="scatter", x=[config.start[0]], y=[config.start[1]], mode="markers", name="start", hoverinfo="skip",
             marker=dict(symbol="circle-open", size=14, color="black", line=dict(width=3))),
    ]

    def lines(upto: int) -> list[dict]:
        return [dict(type="scatter", x=p.points[: upto + 1, 0].round(4).tolist(), y=p.points[: upto + 1, 1].round(4).tolist(),
                     mode="lines+markers", name=descent.TITLES[p.optimizer], line=dict(color=COLOURS[p.optimizer], width=2),
                     marker=dict(size=4)) for p in results]

    marks = np.unique(np.linspace(0, config.steps, FRAMES).astype(int))
    path_traces = list(range(len(base), len(base) + len(results)))
    frames = [dict(name=str(step), data=lines(step), traces=path_traces) for step in marks]
    layout = dict(
        height=560, margin=margin(10), uirevision=config.surface, hovermode="closest",
        xaxis=dict(range=list(shape.x_range), title="x"), yaxis=dict(range=list(shape.y_range), title="y"),
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"),
        updatemenus=[dict(type="buttons", x=0, y=-0.08, xanchor="left", yanchor="top", direction="left", buttons=[
            dict(label="▶ Replay", method="animate",
                 args=[None, dict(frame=dict(duration=60, redraw=False), transition=dict(duration=0), fromcurrent=False)]),
        ])],
        sliders=[dict(x=0.15, y=-0.05, len=0.85, currentvalue=dict(prefix="step "), active=len(marks) - 1, steps=[
            dict(label=str(step), method="animate",
                 args=[[str(step)], dict(mode="immediate", frame=dict(duration=0, redraw=False))]) for step in marks])],
    )
    figure = go.Figure({"data": base + lines(config.steps), "layout": layout, "frames": frames})
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
st.caption("Every optimizer is the one Build & train uses, moving one point instead of a network's weights. They "
           "start together from the ring; move the start, change a learning rate, and press Replay to watch again.")
with settings_container("gd"):
    try:
        config = settings_ui()
    except DLCoreError as exc:
        st.error(literal(exc))
        st.stop()
results = paths(config)
st.info(descent.SURFACES[config.surface].note, icon=":material/lightbulb:")
st.plotly_chart(path_figure(config, results, presenting()), key="gd_chart", width="stretch")
outcomes_ui(results)
