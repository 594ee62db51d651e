"""Generative models: an autoencoder or a VAE learns to draw digits again from a few numbers, live; then its map,
where a drawing lands, what any point decodes to, and why a VAE's map has no holes. A GAN learns to draw digits from
noise against a discriminator, its samples forming epoch by epoch, with a digit model reading which it draws."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dlcore import DLCoreError, TrainConfig, data, generative, inside, jobs, predict, preprocess
from dlcore.config import MAX_BETA, MAX_EPOCHS, DenseLayer, ModelSpec, bounds
from ui import charts, literal
from ui.classroom import (control, control_problem_ui, keep_setup_in_address, may_control, new_link, note_on_link,
                          presenting)
from ui.generative import digits_ui, map_figure, mode_figure
from ui.inside import DRAWN
from ui.runs import ended_run_ui, live_progress_ui, picked_run_ui, submit_ui
from ui.status import dataset_reasons, usable_dataset_ui

KINDS = {"vae": "VAE", "ae": "AE", "gan": "GAN"}  # short, so all three fit their column in presenter mode too
STEPPING = {"both": ("discriminator", "generator"), "discriminator": ("discriminator",), "generator": ("generator",)}
STEPPING_TITLES = {"both": "Both", "discriminator": "D only", "generator": "G only"}
WIDTHS = (64, 128, 256, 512)
GRID_CELLS = 12  # the decoded grid: 12 x 12 digits over the map
MORPH_STEPS = 10
CANVAS = 200
DEFAULTS = {"gen_kind": "vae", "gen_latent": 2, "gen_noise": generative.PRESETS["gan"].latent, "gen_width": 256,
            "gen_beta": 1.0, "gen_epochs": 20}  # a VAE with a 2-D code: the map

manager = jobs.job_manager()


def open_link() -> None:
    """A link's setup becomes the widgets' values, once per link; a width the page does not offer becomes the
    nearest that it does, a dataset not here stays as it was, and the note says so, as it says any key left out."""
    config = new_link("gen", generative.LINK_FIELDS, generative.from_link)
    if config is None:
        return
    spec, state, notes = config.model, st.session_state, []
    width = min(WIDTHS, key=lambda offered: abs(offered - (spec.dense[0].units if spec.dense else 0)))
    if not spec.dense or spec.dense[0].units != width:
        notes.append(f"This page offers hidden layers of {', '.join(map(str, WIDTHS))}, so {width} is used.")
    titles, reasons = dataset_reasons()
    if reasons.get(config.dataset):
        notes.append(f"{titles[config.dataset]} is not on this server, so the data was left as it was.")
    else:
        state["gen_dataset"] = config.dataset
    state.update(gen_kind=spec.kind, gen_width=width, gen_epochs=config.epochs, gen_beta=spec.beta,
                 **{"gen_noise" if spec.kind == "gan" else "gen_latent": spec.latent})
    note_on_link("gen", generative.LINK_FIELDS, notes)


def settings_ui() -> tuple[TrainConfig, bool]:
    """The model, its code and width, the KL weight, the epochs and the data, in one row with Start: everything
    else is Build & train's defaults (Adam, 0.001, batch 64). Returns the config and whether Start was pressed."""
    for key, value in DEFAULTS.items():  # set once, not as each widget's default: a link may have set them first
        st.session_state.setdefault(key, value)
    kind_column, latent_column, width_column, beta_column, epochs_column, data_column, start_column = st.columns(
        [2.7, 1.2, 1.2, 1.1, 1.1, 1.8, 1.4], vertical_alignment="bottom")
    kind = kind_column.segmented_control(
        "Model", list(KINDS), format_func=KINDS.get, key="gen_kind",
        help="VAE: a variational autoencoder. AE: a plain autoencoder. GAN: a generator against a discriminator.") or "vae"
    low, high = bounds(ModelSpec, "latent")
    if kind == "gan":
        latent = latent_column.number_input("Noise size", int(low), int(high), key="gen_noise",
                                            help="How many random numbers the generator draws each digit from.")
    else:
        latent = latent_column.number_input("Code size", int(low), int(high), key="gen_latent",
                                            help="How many numbers each digit is squeezed into; 2 draws a map.")
    width = width_column.selectbox("Hidden layer", WIDTHS, key="gen_width",
                                   help="784 pixels → this many → the code, and back the same way; a GAN's generator "
                                        "noise → this many → 784, its discriminator 784 → this many → 1 (the course's: 256).")
    beta = beta_column.number_input("β (KL)", 0.0, MAX_BETA, step=0.5, key="gen_beta",
                                    disabled=kind != "vae", help="A VAE's pull of every code towards one bell curve.")
    epochs = epochs_column.number_input("Epochs", 1, MAX_EPOCHS, key="gen_epochs")
    dataset = usable_dataset_ui(data_column, "gen_dataset")
    start = start_column.button("Start", type="primary", icon=":material/play_arrow:", width="stretch")
    spec = ModelSpec(kind, dense=(DenseLayer(int(width)),), latent=int(latent), beta=float(beta))
    lr = generative.GAN_LR if kind == "gan" else TrainConfig().lr
    return TrainConfig(dataset=dataset, model=spec, epochs=int(epochs), lr=lr), start


def generative_runs() -> dict:
    """The server's autoencoder runs, newest first."""
    return {run.id: run for run in manager.store.list(with_history=False) if run.config.model.generative}


def strip_rows(images, drawn) -> list:
    """The strip's digits over their drawings: first of each class, then the second."""
    return [images[0::2], drawn[0::2], images[1::2], drawn[1::2]]


def live_ui(run_id: int, status: str) -> None:
    """A training run's drawings and map as they are now, its progress and its loss per epoch; the page reruns
    when the run ends."""
    progress = live_progress_ui(manager, run_id, status)
    if progress is None:
        return
    trainer = manager.trainer(run_id)
    config = trainer.config
    strip = trainer.strip()
    if config.model.kind == "gan":
        gan_view_ui(strip.drawn, strip.step, progress.parts, live=True)
        return
    left, right = st.columns([5, 6], gap="medium")
    with left:
        if strip.drawn is None:
            st.info("Starting: loading the data and building the network.", icon=":material/hourglass_top:")
        else:
            digits_ui(strip_rows(strip.images, strip.drawn),
                      f"Test digits (rows 1 and 3) drawn again from their codes (rows 2 and 4), at step {strip.step}", 2)
        st.plotly_chart(charts.epoch_figure([("", progress.history)], "loss", run_id, presenting()), key="gen_live_loss",
                        width="stretch", config=charts.CONFIG)
    with right:
        if strip.codes is not None:
            _, labels = inside.map_digits(config.dataset)
            st.plotly_chart(map_figure(strip.codes, labels, data.info(config.dataset).classes, generative.GRID_SPAN,
                                       title="The map as it learns", presenter=presenting(), clickable=False),
                            key="gen_live_map", width="stretch", config=charts.CONFIG)
        else:
            st.caption(f"A code of {config.model.latent} numbers has no map to draw; choose a code size of 2 for one.")


def gan_view_ui(drawn, step: int, parts, live: bool) -> None:
    """A GAN's samples from its fixed noise, and its discriminator's and generator's losses epoch by epoch."""
    left, right = st.columns([5, 6], gap="medium")
    with left:
        if drawn is None:
            st.info("Starting: loading the data and building the networks.", icon=":material/hourglass_top:")
        else:
            when = f", at step {step}" if live else ""
            digits_ui([drawn[i : i + 10] for i in range(0, len(drawn), 10)],
                      f"Drawn from the same {len(drawn)} noise vectors every time{when}: digits forming", 2)
    with right:
        rows = dict(parts)
        if rows.get("discriminator"):
            last = rows["discriminator"][-1]["test_accuracy"], rows["generator"][-1]["test_accuracy"]
            st.markdown(f"The discriminator tells real digits from drawn ones **{last[0]:.0%}** of the time and "
                        f"calls **{last[1]:.0%}** of the drawings real; 50% and 50% is a draw.")
        st.plotly_chart(charts.epoch_figure(list(parts), "loss", None, presenting()), key=f"gen_gan_loss_{live}",
                        width="stretch", config=charts.CONFIG)


def controls_ui(run_id: int, gan: bool, stepping: tuple[str, ...], train_column, stop_column) -> None:
    """Stop, and for a GAN which of its parts trains (GAN Lab's step buttons), for its student or the teacher."""
    if not may_control(manager, run_id):
        stop_column.caption("Only its student or the teacher can stop it.")
        return
    stop_column.button("Stop", icon=":material/stop:", on_click=control, args=(manager.stop, run_id), width="stretch",
                       key=f"gen_stop_{run_id}")
    if gan:
        now = next((name for name, parts in STEPPING.items() if parts == stepping), "both")
        st.session_state.setdefault("gen_stepping", now)
        train_column.segmented_control(
            "Train", list(STEPPING), format_func=STEPPING_TITLES.get, key="gen_stepping", on_change=step_only,
            args=(run_id,), label_visibility="collapsed",
            help="Which part takes its steps from the next batch on: both, the discriminator (D) or the generator (G).")
    control_problem_ui()


def step_only(run_id: int) -> None:
    """The Train choice: which of the GAN's parts takes its steps from the next batch on."""
    parts = STEPPING[st.session_state.get("gen_stepping") or "both"]
    control(lambda number, owner, teacher: manager.step_only(number, parts, owner, teacher), run_id)


def drawing_ui(drawer: generative.Drawer):
    """The student's digit, drawn here or brought from Draw & classify, MNIST-style; None without one."""
    sources = {"draw": "Draw one here"}
    if st.session_state.get(DRAWN) is not None:
        sources["drawn"] = "My digit from Draw & classify"
    source = st.radio("Your digit", list(sources), format_func=sources.get, horizontal=True, key="gen_source")
    info = data.info(drawer.config.dataset)
    if source == "drawn":
        return inside.normalized(st.session_state[DRAWN], drawer.config.dataset)
    canvas = st_canvas(stroke_width=15, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS, width=CANVAS,
                       drawing_mode="freedraw", return_image_data=True, key="gen_canvas")
    if canvas.image_data is None:
        return None
    try:
        return preprocess.mnist_style(canvas.image_data, info.mean, info.std).normalized
    except preprocess.EmptyImageError:
        return None


def clicked() -> None:
    """A click on the map: its point is decoded below it."""
    points = [p for p in st.session_state["gen_map"].selection.points if p.get("curve_number") == 0]
    if points:
        st.session_state["gen_point"] = (float(points[0]["x"]), float(points[0]["y"]))


def finished_ui(run, runs: dict) -> None:
    """A finished run: its drawings of the strip, then (for a 2-D code) its map with the student's digit on it, a
    point decoded by a click, the decoded grid and a morph; and another run's map beside it."""
    try:
        drawer = generative.shared(run.checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{run.id} cannot be shown: {exc}"))
        return
    if run.config.model.kind == "gan":
        gan_finished_ui(run, drawer)
        return
    classes = data.info(run.config.dataset).classes
    images, _ = inside.strip_digits(run.config.dataset)
    loss = f"test loss {run.results.loss:.1f} per digit" if run.results else run.status
    st.markdown(f"**Run #{run.id}: {run.config.model.summary()}** on {run.config.dataset} · {loss}. "
                f"{generative.lesson(run.config.model)}")
    left, right = st.columns([5, 6], gap="medium")
    with left:  # the canvas first: in view without scrolling, where its strokes land where they are drawn
        normalized = drawing_ui(drawer)
        digits_ui(strip_rows(images, generative.strip_drawings(drawer)),
                  "Test digits (rows 1 and 3) drawn again from their codes (rows 2 and 4)", 2)
    placed = generative.place(drawer, normalized) if normalized is not None else None
    if not drawer.mapped:
        with right:
            st.caption(f"A code of {drawer.model.latent} numbers has no map to draw; train one with a code size of 2.")
            if placed is not None:
                digits_ui([[placed[2]]], "your digit, drawn again from its code", 4)
        return
    found = generative.latent_map(run.checkpoint)
    span = max(generative.GRID_SPAN, float(abs(found.codes).max()) if run.config.model.kind == "ae" else 0.0)
    point = st.session_state.get("gen_point")
    with right:
        st.plotly_chart(map_figure(found.codes, found.labels, classes, span, placed[:2] if placed else None, point,
                                   presenter=presenting()),
                        key="gen_map", on_select=clicked, selection_mode="points", width="stretch", config=charts.CONFIG)
        shown = []
        if placed is not None:
            shown.append((placed[2], "your digit, drawn again"))
        if point is not None:
            shown.append((generative.decode(drawer.model, [point])[0], f"what ({point[0]:.1f}, {point[1]:.1f}) decodes to"))
        if shown:
            for column, (digit, caption) in zip(st.columns(len(shown) + 1), shown):
                with column:
                    digits_ui([[digit]], caption, 4)
        else:
            st.caption("Click anywhere on the map to see what the decoder draws there; draw a digit to place it.")
    if placed is not None and point is not None:
        digits_ui([generative.morph(drawer.model, placed[0], point, MORPH_STEPS)],
                  "From your digit to the point you clicked: the decoder's drawings along the way")
    grid_column, other_column = st.columns(2, gap="large")
    with grid_column:
        cells = generative.grid_codes(span, GRID_CELLS)
        rows = generative.decode(drawer.model, cells).reshape(GRID_CELLS, GRID_CELLS, 28, 28)
        digits_ui(list(rows), f"What the decoder draws over the map, from ({-span:.0f}, {span:.0f}) at the top left to "
                              f"({span:.0f}, {-span:.0f}) at the bottom right", 1, 0)
    with other_column:
        compare_ui(run, runs)


def gan_finished_ui(run, drawer: generative.Drawer) -> None:
    """A finished GAN: its samples (the training noise's, or new noise), its losses, and the mode meter: which
    classes a digit model of the class reads in 1,000 of its drawings."""
    st.markdown(f"**Run #{run.id}: {run.config.model.summary()}** on {run.config.dataset}. A GAN: its generator draws "
                "digits from noise, its discriminator learns to tell them from real ones, and each learns from the other.")
    seed = st.session_state.get("gen_seed", 0)
    parts = list((run.history or {}).get("parts", {}).items())
    gan_view_ui(generative.samples(drawer, seed=seed), 0, parts, live=False)
    if st.button("Draw 40 more from new noise", icon=":material/casino:", key="gen_more"):
        st.session_state["gen_seed"] = seed + 1
        st.rerun()
    judges = [r for r in predict.finished_runs(manager.store) if r.config.dataset == run.config.dataset]
    if not judges:
        st.caption(f"Train a classifier on {run.config.dataset} (Build & train, or Draw & classify's starter model) and "
                   "it reads this GAN's drawings here: which classes it draws, and how clearly.")
        return
    judge = judges[0]
    try:
        meter = generative.judged(run.checkpoint, judge.checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{judge.id} cannot read the drawings: {exc}"))
        return
    classes = data.info(run.config.dataset).classes
    st.plotly_chart(mode_figure(meter.shares, classes, presenting()), key="gen_modes", width="stretch",
                    config=charts.CONFIG)
    st.caption(f"Run #{judge.id} ({judge.config.model.summary()}) reads 1,000 drawings: **{meter.confident_share:.0%}** "
               f"with at least 90% confidence, **{meter.classes_covered} of {len(classes)}** classes drawn (5% or more "
               "each). A generator that draws few classes has collapsed onto them.")


def compare_ui(run, runs: dict) -> None:
    """Another finished run with a 2-D code, its map beside this one: an autoencoder's has holes, a VAE's none."""
    others = {r.id: r for r in runs.values()
              if r.id != run.id and r.checkpoint and r.config.model.latent == 2 and r.status in ("done", "stopped")}
    if not others:
        other = "a VAE" if run.config.model.kind == "ae" else "an autoencoder"
        st.caption(f"Train {other} with a 2-D code too, and its map shows here beside this one: an autoencoder's map "
                   "has empty places that decode to nothing like a digit; a VAE's has none.")
        return
    other_id = st.selectbox("Beside it", list(others), format_func=lambda rid: others[rid].label, key="gen_other")
    try:
        found = generative.latent_map(others[other_id].checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{other_id} cannot be shown: {exc}"))
        return
    span = max(generative.GRID_SPAN, float(abs(found.codes).max()))
    st.plotly_chart(map_figure(found.codes, found.labels, data.info(others[other_id].config.dataset).classes, span,
                               title=f"Run #{other_id}'s map ({others[other_id].config.model.summary()})",
                               presenter=presenting(), clickable=False),
                    key="gen_other_map", width="stretch", config=charts.CONFIG)


st.title("Generative models")
st.caption("An autoencoder squeezes each digit into a few numbers, its code, and learns to draw the digit again from "
           "the code alone. A VAE also gives each code a spread and pulls all codes towards one bell curve, so "
           "every point of its map draws something like a digit. A GAN's generator learns to draw digits from noise "
           "by fooling a discriminator that learns to tell its drawings from real ones.")
open_link()
if note := st.session_state.get("gen_link_note"):
    st.info(literal(note), icon=":material/link:")
config, start = settings_ui()  # kept in presenter mode: a teacher starts the demo in front of the class
keep_setup_in_address(query := generative.to_link(config))
st.session_state["gen_link"] = query  # the page's own address is no link to read again
if start:
    submit_ui(manager, config, "gen")
    st.session_state.pop("gen_point", None)
run_id, runs, progress, (train_column, stop_column) = picked_run_ui(
    manager, generative_runs, "gen", "No autoencoder has been trained on this server yet: press Start.", [3.8, 2.8, 1.2])
if progress is not None:
    controls_ui(run_id, runs[run_id].config.model.kind == "gan", progress.stepping, train_column, stop_column)
    st.fragment(run_every=inside.STRIP_SECONDS)(live_ui)(run_id, progress.status)
else:
    ended_run_ui(manager.store.get(run_id), finished_ui, runs)
