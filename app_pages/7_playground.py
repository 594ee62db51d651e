"""2-D playground: TF Playground's datasets and tiny networks, the decision boundary redrawn as the network learns."""

import numpy as np
import streamlit as st

from dlcore import DLCoreError, optim, toy
from dlcore.config import MAX_TOY_LAYERS, MAX_TOY_POINTS, MAX_TOY_UNITS, ToyConfig, bounds
from ui import literal, live, pictures
from ui.classroom import keep_setup_in_address, linked, nearest, new_link, note_on_link, presenting
LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]  # TF Playground's list
REG_RATES = [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]


def data_ui() -> tuple[str, int, int, int, int, int]:
    dataset = st.selectbox("Dataset", list(toy.DATASETS), format_func=toy.DATASETS.get, key="toy_dataset",
                           index=list(toy.DATASETS).index(linked("toy_dataset", "circle")))
    noise = st.slider("Noise (%)", *bounds(ToyConfig, "noise"), linked("toy_noise", 0), 5, key="toy_noise")
    ratio = st.slider("Training points (%)", 10, 90, linked("toy_ratio", 50), 10, key="toy_ratio")
    points = st.slider("Points", 100, MAX_TOY_POINTS, linked("toy_points", 500), 100, key="toy_points")
    batch = st.slider("Batch size", 1, 30, linked("toy_batch", 10), key="toy_batch")
    seed = st.number_input("Seed (new points, new first weights)", 0, 9999, linked("toy_seed", 0), key="toy_seed")
    return dataset, noise, ratio, points, batch, seed


def open_link() -> None:
    """A link's settings become the widgets' values, once per link; a setting no widget offers is rounded to one
    that does, and each value not used as written, each key this page does not use, and a link that cannot be used
    at all, is said in the note."""
    config = new_link("toy", toy.LINK_FIELDS, toy.from_link)
    if config is None:
        return
    offered = {  # field: (widget key, the value the widget takes, the link's value in the widget's units)
        "noise": ("toy_noise", nearest(range(0, 51, 5), config.noise), config.noise),
        "train_ratio": ("toy_ratio", nearest(range(10, 91, 10), config.train_ratio * 100), config.train_ratio * 100),
        "points": ("toy_points", nearest(range(100, MAX_TOY_POINTS + 1, 100), config.points), config.points),
        "batch_size": ("toy_batch", min(config.batch_size, 30), config.batch_size),
        "seed": ("toy_seed", min(config.seed, 9999), config.seed),
        "lr": ("toy_lr", nearest(LEARNING_RATES, config.lr), config.lr),
        "reg_rate": ("toy_reg_rate", nearest(REG_RATES, config.reg_rate), config.reg_rate),
    }
    rounded = [f"{name} {asked:g} became {taken:g}" for name, (_, taken, asked) in offered.items() if taken != asked]
    notes = [f"This page offers no such setting, so the nearest one is used: {', '.join(rounded)}."] if rounded else []
    if config.momentum != ToyConfig().momentum:  # no widget offers it: the page always trains with the default
        notes.append(f"This page trains with momentum {ToyConfig().momentum:g}, so the link's momentum "
                     f"{config.momentum:g} was not used.")
    note_on_link("toy", toy.LINK_FIELDS, notes)
    state = st.session_state
    state.update({key: taken for key, taken, _ in offered.values()})
    state.update(toy_dataset=config.dataset, toy_features=toy.used_features(config), toy_layers=len(config.hidden),
                 toy_activation=config.activation, toy_optimizer=config.optimizer, toy_reg=config.regularization,
                 toy_init=config.init, toy_loss=config.loss)
    state.update({f"toy_units_{i}": units for i, units in enumerate(config.hidden)})


def keep_link(config: ToyConfig) -> None:
    """The settings in the address bar, so the page's address is a link to this setup."""
    query = toy.to_link(config)
    keep_setup_in_address(query)
    st.session_state["toy_link"] = query


def network_ui() -> tuple[list[str], tuple[int, ...], str]:
    features = st.pills("Input features", list(toy.FEATURES), selection_mode="multi",
                        default=linked("toy_features", ["x1", "x2"]), format_func=toy.FEATURES.get, key="toy_features")
    first = ToyConfig().hidden  # TF Playground's first network
    layers = st.number_input("Hidden layers", 0, MAX_TOY_LAYERS, linked("toy_layers", len(first)), key="toy_layers")
    columns = st.columns(3)
    hidden = tuple(columns[i % 3].number_input(f"Layer {i + 1}", 1, MAX_TOY_UNITS,
                                               linked(f"toy_units_{i}", first[i] if i < len(first) else 4),
                                               key=f"toy_units_{i}") for i in range(layers))
    activation = st.selectbox("Activation", list(toy.ACTIVATIONS), format_func=toy.ACTIVATIONS.get, key="toy_activation",
                              index=list(toy.ACTIVATIONS).index(linked("toy_activation", ToyConfig().activation)))
    return features, hidden, activation


def training_ui(regression: bool) -> tuple[str, float, str, float, str, str]:
    optimizer = st.selectbox("Optimizer", list(optim.OPTIMIZERS), format_func=optim.OPTIMIZERS.get, key="toy_optimizer",
                             index=list(optim.OPTIMIZERS).index(linked("toy_optimizer", ToyConfig().optimizer)))
    lr = st.select_slider("Learning rate", LEARNING_RATES, linked("toy_lr", 0.01), key="toy_lr")
    regularization = st.selectbox("Regularization", list(toy.REGULARIZATIONS), format_func=toy.REGULARIZATIONS.get,
                                  key="toy_reg", index=list(toy.REGULARIZATIONS).index(linked("toy_reg", "none")))
    rate = st.select_slider("Regularization rate", REG_RATES, linked("toy_reg_rate", 0.0), key="toy_reg_rate",
                            disabled=regularization == "none")
    init = st.selectbox("First weights", list(toy.INITS), format_func=toy.INITS.get, help=toy.INIT_NOTE,
                        key="toy_init", index=list(toy.INITS).index(linked("toy_init", ToyConfig().init)))
    loss = st.selectbox("Loss", list(toy.LOSSES), format_func=toy.LOSSES.get, key="toy_loss", disabled=regression,
                        index=list(toy.LOSSES).index(linked("toy_loss", ToyConfig().loss)),
                        help=toy.LOSS_NOTE + (" A regression's points have values, not classes: squared error."
                                              if regression else ""))
    return optimizer, lr, regularization, rate if regularization != "none" else 0.0, init, \
        "squared-error" if regression else loss


def settings_ui() -> ToyConfig:
    """Three popovers in one row, so the network and its boundary stay above the fold; a line says what is set."""
    widths = [1.2, 1.5, 1.5, 2.5] if presenting() else [1, 1, 1, 4]  # presenter mode's large labels need room
    data, network, training, summary = st.columns(widths, vertical_alignment="center")
    with data.popover("Data", icon=":material/scatter_plot:", width="stretch"):
        dataset, noise, ratio, points, batch, seed = data_ui()
    with network.popover("Network", icon=":material/hub:", width="stretch"):
        features, hidden, activation = network_ui()
    with training.popover("Training", icon=":material/tune:", width="stretch"):
        optimizer, lr, regularization, rate, init, loss = training_ui(dataset in toy.REGRESSION)
    if not features:
        raise DLCoreError("Choose at least one input feature (Network).")
    config = ToyConfig(dataset=dataset, noise=noise, train_ratio=ratio / 100, points=points, features=tuple(features),
                       hidden=hidden, activation=activation, optimizer=optimizer, lr=lr, batch_size=batch,
                       regularization=regularization, reg_rate=rate, init=init, loss=loss, seed=seed)
    shape = "-".join(map(str, hidden)) or "no hidden layer"
    reg = f" · {toy.REGULARIZATIONS[regularization]} {rate:g}" if regularization != "none" else ""
    reg += " · cross-entropy" if loss == "cross-entropy" else ""
    summary.caption(f"{toy.DATASETS[dataset]}, {points} points, noise {noise} %, {ratio} % for training · "
                    f"{', '.join(toy.FEATURES[f] for f in toy.used_features(config))} → {shape} "
                    f"{toy.ACTIVATIONS[activation].lower()} · {optim.OPTIMIZERS[optimizer].split(' (')[0]} lr {lr:g}, "
                    f"batch {batch}{reg}")
    return config


def set_shape(hidden: tuple[int, ...]) -> None:
    """The hidden layers a + or − asked for, absolute (not a step: a fragment's st.rerun() replays the click's
    callback). Kept aside, not written into the Network popover's widgets here: this runs in the live view's
    fragment, whose st.rerun() sends the browser's old widget values, and those won (CI: + while playing was lost)."""
    st.session_state["toy_shape"] = hidden


def take_asked_shape() -> None:
    """At the top of a whole-page run, before the widgets are drawn: a + or −'s shape becomes their values."""
    if (hidden := st.session_state.pop("toy_shape", None)) is not None:
        st.session_state["toy_layers"] = len(hidden)
        st.session_state.update({f"toy_units_{i}": units for i, units in enumerate(hidden)})


def shape_asked(ground: toy.Playground) -> tuple[int, ...]:
    """The hidden layers a + or − asked for since the page last ran whole, else the network's."""
    return st.session_state.get("toy_shape", ground.config.hidden)


def shape_ui(ground: toy.Playground) -> None:
    """TF Playground's + and − over the network: a hidden layer more or fewer, and each layer's neurons."""
    hidden = ground.config.hidden
    shape = "-".join(map(str, hidden)) or "none"  # in each key, as Play's: a replayed + must not add a second neuron
    columns = st.columns([1.6] + [1] * max(len(hidden), 2), gap="small")  # "6 layers", then each layer's neurons

    def stepper(column, label: str, fewer: tuple[int, ...] | None, more: tuple[int, ...] | None, key: str, what: str):
        box = column.container(gap=None)
        box.caption(label)
        with box.container(horizontal=True, gap=None):
            st.button("", icon=":material/remove:", key=f"{key}_less_{shape}", type="tertiary", disabled=fewer is None,
                      on_click=set_shape, args=(fewer,), help=f"One {what} fewer")
            st.button("", icon=":material/add:", key=f"{key}_more_{shape}", type="tertiary", disabled=more is None,
                      on_click=set_shape, args=(more,), help=f"One {what} more")

    stepper(columns[0], f"{len(hidden)} layer{'' if len(hidden) == 1 else 's'}", hidden[:-1] if hidden else None,
            hidden + (4,) if len(hidden) < MAX_TOY_LAYERS else None, "toy_layer", "hidden layer")
    for i, units in enumerate(hidden):
        fewer = hidden[:i] + (units - 1,) + hidden[i + 1:] if units > 1 else None
        more = hidden[:i] + (units + 1,) + hidden[i + 1:] if units < MAX_TOY_UNITS else None
        stepper(columns[i + 1], f"{units} {'neuron' if units == 1 else 'neurons'}" if len(hidden) < 4 else str(units),
                fewer, more, f"toy_units_{i}_step", f"neuron in layer {i + 1}")


def weights_ui(picture: toy.Picture) -> None:
    """Every weight as numbers, for a paused network (while playing they change faster than anyone reads)."""
    for i, (weights, biases) in enumerate(zip(picture.weights, picture.biases)):
        into = "the output" if i == len(picture.weights) - 1 else f"layer {i + 1}"
        st.caption(f"Into {into}: one row per neuron, one column per input, then the bias")
        st.dataframe(np.column_stack([weights, biases]).round(3), hide_index=True)


def view_ui(ground: toy.Playground, playing: bool) -> None:
    """Redrawn by st.fragment while playing: the latest picture the network's thread drew, as images."""
    live.controls_ui("toy", ground, playing, toy.Playground, "Train one epoch: every training point once.")
    picture = live.latest(ground, playing)
    if picture.message:
        (st.error if picture.status == "diverged" else st.info)(literal(picture.message))
    large = presenting()
    left, right = st.columns([1.2, 1])
    with left:
        epoch, train, test, accuracy = st.columns([0.8, 1, 1, 1.2])  # room for "Accuracy" and its help in presenter mode
        epoch.metric("Epoch", f"{picture.epoch:,}")
        train.metric("Train loss", f"{picture.train_loss[-1]:.3f}" if picture.train_loss else "–")
        test.metric("Test loss", f"{picture.test_loss[-1]:.3f}" if picture.test_loss else "–")
        if ground.config.dataset not in toy.REGRESSION:  # a regression's points have no class to get right
            accuracy.metric("Accuracy", f"{picture.test_accuracy:.0%}" if picture.test_accuracy is not None else "–",
                            help="On the test points.")
        names = [toy.FEATURES[n] for n in toy.used_features(ground.config)]
        shape_ui(ground)
        network, tiles = pictures.network_image(picture.inputs, picture.neurons, picture.weights, names, large)
        st.html(pictures.network_html(network, tiles, "the network's neurons and weights"))
        st.caption("Inputs, then each hidden layer: every neuron's output over the square (blue +, orange −); links "
                   "blue for positive weights, orange for negative, thicker when larger. Hover one to see it large.")
        st.html(pictures.as_html(pictures.loss_image(picture.train_loss, picture.test_loss, large), "loss curves"))
    with right:
        points = ground.points
        boundary, field = pictures.boundary_image(picture.boundary, (points.train_xy, points.train_y),
                                                  (points.test_xy, points.test_y), 560 if large else 400)
        units = [pictures.unit_colours(values, layer == 0) for layer, column in enumerate([picture.inputs, *picture.neurons])
                 for values in column]
        st.html(pictures.boundary_html(boundary, field, units, "decision boundary"))
        says = ("its value, blue above 0 and orange below; each dot is coloured by its own value"
                if ground.config.dataset in toy.REGRESSION else "blue where the network says blue")
        st.caption(f"The output over x₁ (across) and x₂ (up): {says}. Dots with a white ring train it; dots with a "
                   "black ring test it.")
        if not playing:
            with st.expander("Weights as numbers"):
                weights_ui(picture)


st.title("2-D playground")
if not presenting():  # on a projector the teacher says it, and the boundary keeps its place above the fold
    st.caption("TensorFlow Playground on real PyTorch: pick a dataset, shape a network, press Play and watch the "
               "decision boundary form. Any change of setting starts again from fresh weights.")
open_link()
take_asked_shape()
note = st.empty()  # filled below, once it is known whether the settings moved on from the link
with st.container(key="toy_settings"):  # in presenter mode too: a live demo changes the data and the network
    try:
        config = settings_ui()
    except DLCoreError as exc:
        st.error(literal(exc))
        st.stop()
keep_link(config)
ground = live.current("toy", config, toy.Playground)
if link_note := st.session_state.get("toy_link_note"):
    note.warning(literal(link_note))
live.run("toy", ground, view_ui, changed=lambda: shape_asked(ground) != ground.config.hidden)
