"""GAN lab: GAN Lab's lesson on real PyTorch, a generator learning to draw a 2-D playground dataset's points live."""

import streamlit as st

from dlcore import DLCoreError, generative, point_gan, toy
from dlcore.config import MAX_GAN_LAYERS, MAX_GAN_UNITS, MAX_SEED, MAX_TOY_POINTS, PointGanConfig, bounds
from ui import literal, live, pictures
from ui.classroom import keep_setup_in_address, linked, nearest, new_link, note_on_link, presenting

LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
DATASETS = {name: toy.DATASETS[name] for name in PointGanConfig.__pydantic_fields__["dataset"].annotation.__args__}
ACTIVATIONS = {"relu": "ReLU", "leaky-relu": "Leaky ReLU", "tanh": "Tanh"}
OPTIMIZERS = {"adam": "Adam (β₁ 0.5)", "sgd": "SGD"}
SHOW = ["Manifold", "Arrows"]
TRAIN = {"both": "Both", "discriminator": "D only", "generator": "G only"}


def open_link() -> None:
    """A link's settings become the widgets' values, once per link; one no widget offers is rounded to the nearest
    that it does, and the note says so, as it says any key left out."""
    config = new_link("gan", point_gan.LINK_FIELDS, point_gan.from_link)
    if config is None:
        return
    offered = {  # field: (widget key, the value the widget takes, the link's value)
        "noise": ("gan_noise", nearest(range(0, 51, 5), config.noise), config.noise),
        "points": ("gan_points", nearest(range(100, MAX_TOY_POINTS + 1, 50), config.points), config.points),
        "lr": ("gan_lr", nearest(LEARNING_RATES, config.lr), config.lr),
    }
    rounded = [f"{name} {asked:g} became {taken:g}" for name, (_, taken, asked) in offered.items() if taken != asked]
    note_on_link("gan", point_gan.LINK_FIELDS,
                 [f"This page offers no such setting, so the nearest one is used: {', '.join(rounded)}."] if rounded else [])
    state = st.session_state
    state.update({key: taken for key, taken, _ in offered.values()})
    state.update(gan_dataset=config.dataset, gan_colour=config.colour, gan_seed=config.seed, gan_batch=config.batch_size,
                 gan_activation=config.activation, gan_optimizer=config.optimizer)
    for part in ("generator", "discriminator"):
        widths = getattr(config, part)
        state[f"gan_{part}_layers"] = len(widths)
        state.update({f"gan_{part}_{i}": units for i, units in enumerate(widths)})


def widths_ui(part: str) -> tuple[int, ...]:
    first = getattr(PointGanConfig(), part)
    layers = st.number_input(f"{part.title()}'s hidden layers", 1, MAX_GAN_LAYERS,
                             linked(f"gan_{part}_layers", len(first)), key=f"gan_{part}_layers")
    columns = st.columns(MAX_GAN_LAYERS)
    return tuple(columns[i].number_input(f"Layer {i + 1}", 1, MAX_GAN_UNITS,
                                         linked(f"gan_{part}_{i}", first[i] if i < len(first) else first[-1]),
                                         key=f"gan_{part}_{i}") for i in range(layers))


def settings_ui() -> PointGanConfig:
    """Three popovers in one row, so the picture stays above the fold; a line says what is set."""
    widths = [1.2, 1.6, 1.5, 2.4] if presenting() else [1, 1.25, 1, 3.75]  # room for "Networks"
    data, networks, training, summary = st.columns(widths, vertical_alignment="center")
    default = PointGanConfig()
    with data.popover("Data", icon=":material/scatter_plot:", width="stretch"):
        dataset = st.selectbox("Dataset", list(DATASETS), format_func=DATASETS.get, key="gan_dataset",
                               index=list(DATASETS).index(linked("gan_dataset", default.dataset)))
        colour = st.segmented_control("Real points", list(point_gan.COLOURS), format_func=str.title, key="gan_colour",
                                      default=linked("gan_colour", default.colour), help="Which of the dataset's points the generator "
                                      "learns to draw: the circle's orange points are a ring.") or default.colour
        noise = st.slider("Noise (%)", *bounds(PointGanConfig, "noise"), linked("gan_noise", default.noise), 5,
                          key="gan_noise")
        points = st.slider("Points", 100, MAX_TOY_POINTS, linked("gan_points", default.points), 50, key="gan_points")
        seed = st.number_input("Seed (new points, new first weights)", 0, MAX_SEED, linked("gan_seed", default.seed),
                               key="gan_seed")
    with networks.popover("Networks", icon=":material/hub:", width="stretch"):
        generator = widths_ui("generator")
        discriminator = widths_ui("discriminator")
        activation = st.selectbox("Activation", list(ACTIVATIONS), format_func=ACTIVATIONS.get, key="gan_activation",
                                  index=list(ACTIVATIONS).index(linked("gan_activation", default.activation)))
    with training.popover("Training", icon=":material/tune:", width="stretch"):
        optimizer = st.selectbox("Optimizer", list(OPTIMIZERS), format_func=OPTIMIZERS.get, key="gan_optimizer",
                                 index=list(OPTIMIZERS).index(linked("gan_optimizer", default.optimizer)),
                                 help="Both networks' own, with the same settings.")
        lr = st.select_slider("Learning rate", LEARNING_RATES, linked("gan_lr", default.lr), key="gan_lr")
        batch = st.number_input("Batch size", *bounds(PointGanConfig, "batch_size"), linked("gan_batch", default.batch_size),
                                key="gan_batch")
    config = PointGanConfig(dataset=dataset, colour=colour, noise=noise, points=points, generator=generator,
                            discriminator=discriminator, activation=activation, optimizer=optimizer, lr=lr,
                            batch_size=batch, seed=seed)
    noisy = f", noise {noise} %" if noise else ""
    summary.caption(f"{DATASETS[dataset]}, {point_gan.COLOURS[colour].removeprefix('the ')}{noisy} · G 2-"
                    f"{'-'.join(map(str, generator))}-2, D 2-{'-'.join(map(str, discriminator))}-1, "
                    f"{ACTIVATIONS[activation]} · {OPTIMIZERS[optimizer].split(' (')[0]} {lr:g}, batch {batch}")
    return config


def train_which(ground: point_gan.PointGanPlayground) -> None:
    choice = st.session_state.get("gan_train") or "both"
    ground.step_only(generative.PARTS if choice == "both" else (choice,))


def view_ui(ground: point_gan.PointGanPlayground, playing: bool) -> None:
    """Redrawn by st.fragment while playing: the latest picture the GAN's thread drew."""
    live.controls_ui("gan", ground, playing, point_gan.PointGanPlayground,
                     "Train one epoch: every real point once, for each network chosen under Train.")
    picture = live.latest(ground, playing)
    if picture.message:
        (st.error if picture.status == "diverged" else st.info)(literal(picture.message))
    large = presenting()
    left, right = st.columns([1.15, 1])
    with left:
        shown = st.session_state.get("gan_show", SHOW)  # the pills come after the picture: at first, their default
        image = pictures.gan_image(picture.heat, ground.real, picture.samples, picture.pulls, picture.mesh,
                                   480 if large else 380, "Manifold" in shown, "Arrows" in shown)
        st.html(pictures.as_html(image, "real points and the generator's samples"))
    with right:
        epoch, gap, accuracy = st.columns([0.9, 1.1, 1])
        epoch.metric("Epoch", f"{picture.epoch:,}")
        gap.metric("Divergence", f"{picture.divergence[-1][1]:.3f}", help="Jensen-Shannon divergence between the real "
                   "points and 2,000 samples, in bits: 1 when they lie apart, near 0 when the generator draws like "
                   f"the data (two halves of the real points differ by about {ground.baseline:.2f}).")
        accuracy.metric("D right on", f"{picture.d_accuracy:.0%}" if picture.d_accuracy is not None else "–",
                        help="The discriminator's accuracy on the test points and as many samples; 50 % when it can "
                             "no longer tell them apart.")
        which, show = (st.container(), st.container()) if large else st.columns([1.2, 1])  # large: one each row
        which.segmented_control("Train", list(TRAIN), format_func=TRAIN.get, key="gan_train", default="both",
                                on_change=train_which, args=(ground,),
                                help="GAN Lab's: step only the discriminator, only the generator, or both in turn.")
        show.pills("Show", SHOW, selection_mode="multi", default=SHOW,
                 key="gan_show", help="Manifold: where the generator sends a grid of its noise. Arrows: the way "
                                      "its loss pulls each sample, towards where the discriminator says real.")
        st.html(pictures.as_html(pictures.curves_image(
            [(picture.d_loss, tuple(pictures.GREEN.tolist())), (picture.g_loss, tuple(pictures.PURPLE.tolist()))],
            "loss per epoch (0 to {top:.3g}): discriminator green, generator purple",
            "loss per epoch: press Play or Step", large), "losses"))
        st.html(pictures.as_html(pictures.curves_image(
            [([value for _, value in picture.divergence], (90, 90, 90))], "divergence (0 to 1 bit)",
            "divergence: press Play or Step", large, top=1.0), "divergence"))


st.title("GAN lab")
if not presenting():  # on a projector the teacher says it, and the picture keeps its place above the fold
    st.caption(":green[Green dots are real], :violet[purple ones the generator's]. The background is the "
               "discriminator's verdict (green: real, purple: drawn); arrows show where the generator's loss pushes "
               "each sample, the grey mesh where it sends its noise. Press Play and watch it learn the shape.")
open_link()
note = st.empty()
with st.container(key="gan_settings"):
    try:
        config = settings_ui()
    except DLCoreError as exc:
        st.error(literal(exc))
        st.stop()
query = point_gan.to_link(config)
keep_setup_in_address(query)
st.session_state["gan_link"] = query
ground = live.current("gan", config, point_gan.PointGanPlayground)
train_which(ground)  # a fresh GAN trains what the control says
if link_note := st.session_state.get("gan_link_note"):
    note.warning(literal(link_note))
live.run("gan", ground, view_ui)
