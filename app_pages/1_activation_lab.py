"""Activation lab: activation functions and their slopes, softmax at work, and gradients measured layer by layer."""

import plotly.graph_objects as go
from plotly.colors import qualitative
import streamlit as st

from dlcore import activations
from dlcore.config import DLCoreError
from ui import literal
from ui.charts import margin

# A network's scores for a handwritten 7: something to start from before the user edits them.
EXAMPLE_LOGITS = [-1.2, 0.3, 1.1, 0.8, -0.5, 0.2, -2.0, 4.1, 0.6, 1.5]


def title(name: str) -> str:
    return activations.ACTIVATIONS[name].title


def color(name: str) -> str:
    """One colour per activation, the same in every chart on the page."""
    return qualitative.Dark24[activations.HIDDEN_ACTIVATIONS.index(name) % len(qualitative.Dark24)]


def figure(heading: str, x_title: str, y_title: str, **layout) -> go.Figure:
    return go.Figure(layout=dict(
        title=dict(text=heading, x=0, xanchor="left", y=0.98, yanchor="top"), xaxis_title=x_title,
        yaxis_title=y_title, height=420, margin=margin(top=90),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0), **layout,
    ))


def activations_ui(where, label: str, default: list[str], key: str) -> list[str]:
    """A picker of activations where typing a name and Enter adds that one: Streamlit's "Select N matches" would
    otherwise come first, and "ELU" + Enter added ELU, SELU and Leaky ReLU."""
    return where.multiselect(label, activations.HIDDEN_ACTIVATIONS, default, format_func=title, key=key, select_all=False)


def params_ui(name: str) -> dict[str, float]:
    """A slider for each tunable parameter of one activation (Leaky ReLU's slope, ELU's α, Softplus's β)."""
    values = {}
    for param, default in activations.get(name).params.items():
        spec = activations.PARAMETERS[param]
        values[param] = st.slider(f"{title(name)} {spec.label}", spec.low, spec.high, float(default), spec.step,
                                  help=spec.help, key=f"lab-{name}-{param}")
    return values


def plot_ui() -> tuple[list[str], dict[str, dict[str, float]], float, float]:
    """Which functions to draw, with their parameters, and over which inputs."""
    left, right = st.columns([2, 1])
    names = activations_ui(left, "Activation functions", ["relu", "sigmoid", "gelu"], key="lab-functions")
    low, high = right.slider("Input range x", -10.0, 10.0, (-5.0, 5.0), 0.5, key="lab-range")
    tunable = [name for name in names if activations.get(name).params]
    params = {name: {} for name in names}
    for column, name in zip(st.columns(3), tunable):
        with column:
            params[name] = params_ui(name)
    return names, params, low, high


def use_in_network(name: str) -> None:
    """Build & train puts it in every hidden layer of the network there when it next opens, and in new layers."""
    st.session_state["default_activation"] = st.session_state["use_activation"] = name


def card_ui(name: str) -> None:
    """Formula, output range and when to use one activation, with the button that hands it to Build & train."""
    activation = activations.get(name)
    with st.container(border=True):
        st.subheader(activation.title)
        st.latex(activation.formula)
        st.markdown(f"**Output range** {activation.output_range}  \n{activation.note}")
        st.button(f"Use {activation.title} in my network", key=f"lab-use-{name}", on_click=use_in_network, args=(name,))
        if st.session_state.get("default_activation") == name:
            st.success(f"The hidden layers of your network in Build & train now use {activation.title}, and so do "
                       "layers you add.")
            st.page_link("app_pages/2_build_and_train.py", label="Open Build & train", icon=":material/model_training:")


def logits_ui() -> tuple[list[str], list[float]]:
    """The logits as an editable table, or a random draw."""
    state = st.session_state.setdefault("lab-logits", {"draw": 0, "logits": EXAMPLE_LOGITS})
    if st.button("Draw random logits", icon=":material/casino:"):
        state["draw"] += 1
        state["logits"] = activations.random_logits(st.session_state.get("lab-logit-count", 10), seed=state["draw"])
    table = {"class": [str(i) for i in range(len(state["logits"]))], "logit": state["logits"]}
    edited = st.data_editor(table, num_rows="dynamic", key=f"lab-logits-{state['draw']}", width="stretch")
    st.session_state["lab-logit-count"] = max(1, min(len(edited["logit"]), activations.MAX_LOGITS))
    classes = [label or f"#{i}" for i, label in enumerate(edited["class"])]
    return classes, list(edited["logit"])


def gradient_ui() -> tuple[list[str], int, int, str, float]:
    """The experiment's settings: activations to compare, the MLP's shape and how its weights start."""
    left, middle, right = st.columns([2, 1, 1])
    names = activations_ui(left, "Activations to compare", ["sigmoid", "relu"], key="lab-flow-functions")
    depth = middle.slider("Hidden layers", activations.MIN_DEPTH, activations.MAX_DEPTH, 20, key="lab-depth")
    width = right.select_slider("Units per layer", [16, 32, 64, 128, 256, 512], 128, key="lab-width")
    init = left.selectbox("Initial weights", list(activations.INITS), format_func=activations.INITS.get, key="lab-init")
    gain = middle.select_slider("Weight scale", [0.5, 0.75, 1.0, 1.5, 2.0, 3.0], 1.0, key="lab-gain",
                                help="Multiplies every initial weight: above 1 gradients can explode, below 1 shrink.")
    return names, depth, width, init, gain


@st.cache_data(show_spinner="Pushing a batch of digits through the network…", max_entries=256)
def measure(name: str, depth: int, width: int, init: str, gain: float) -> activations.GradientFlow:
    return activations.measure_gradient_flow(name, depth, width, init=init, gain=gain)


st.title("Activation lab")
st.markdown("An activation function bends each unit's output; its slope decides how much gradient flows back "
            "through the unit during training. Pick some, compare their shapes and slopes, then measure what they "
            "do to the gradient of a deep network.")

st.header("Functions and their derivatives")
names, params, low, high = plot_ui()
if not names:
    st.info("Pick at least one activation function to plot.")
else:
    values, slopes = figure("f(x)", "x", "f(x)"), figure("f′(x), from autograd", "x", "f′(x)")
    for name in names:
        x, y, dy = activations.curve_points(name, low, high, **params[name])
        values.add_scatter(x=x, y=y, name=title(name), mode="lines", line_color=color(name))
        slopes.add_scatter(x=x, y=dy, name=title(name), mode="lines", line_color=color(name))
    left, right = st.columns(2)
    left.plotly_chart(values, key="lab-values")
    right.plotly_chart(slopes, key="lab-slopes")
    for start in range(0, len(names), 3):
        for column, name in zip(st.columns(3), names[start:start + 3]):
            with column:
                card_ui(name)

st.header("Softmax: from scores to probabilities")
softmax = activations.get("softmax")
st.latex(softmax.formula)
st.caption(f"{softmax.note} Output range {softmax.output_range}.")
left, right = st.columns([1, 2])
with left:
    classes, logits = logits_ui()
temperature = right.slider("Temperature T", 0.1, 5.0, 1.0, 0.1, key="lab-temperature",  # beside the chart it changes
                           help="Below 1 sharpens the probabilities towards the largest logit; above 1 flattens them.")
try:
    probabilities = activations.probabilities(logits, temperature)
except DLCoreError as exc:
    right.warning(literal(exc))
else:
    bars = figure(f"Probabilities at T = {temperature:g}", "class", "probability",  # headroom for a winner's label
                  yaxis=dict(range=[0, 1.15], tickvals=[0, 0.25, 0.5, 0.75, 1], tickformat=".0%"), xaxis=dict(type="category"))
    bars.add_bar(x=classes, y=probabilities, text=[f"{p:.1%}" for p in probabilities], textposition="outside")
    right.plotly_chart(bars, key="lab-softmax")

st.header("Vanishing and exploding gradients, measured")
st.markdown("A batch of 256 real MNIST digits goes forward through a freshly initialised MLP and the loss's gradient "
            "comes back. Each point is the size (L2 norm) of one layer's weight gradient; a dead unit outputs zero "
            "for every digit in the batch.")
flow_names, depth, width, init, gain = gradient_ui()
if not flow_names:
    st.info("Pick at least one activation to measure.")
else:
    try:
        flows = [measure(name, depth, width, init, gain) for name in flow_names]
    except DLCoreError as exc:
        st.warning(literal(exc))
    else:
        layers = list(range(1, depth + 2))
        norms = figure("Gradient size per layer", f"layer (1 = first hidden layer, {depth + 1} = output layer)",
                       "‖∂loss/∂W‖", yaxis=dict(type="log", exponentformat="power"))
        dead = figure("Dead units per hidden layer", "hidden layer (1 = first)", "share of units", barmode="group",
                      yaxis=dict(range=[0, 1], tickformat=".0%"))
        for flow in flows:
            name, line = title(flow.activation), color(flow.activation)
            norms.add_scatter(x=layers, y=flow.grad_norms, name=name, mode="lines+markers", line_color=line)
            dead.add_bar(x=layers[:-1], y=flow.dead_share, name=name, marker_color=line)
        left, right = st.columns(2)
        left.plotly_chart(norms, key="lab-norms")
        right.plotly_chart(dead, key="lab-dead")
        for flow in flows:
            st.info(flow.explain())
