"""Inside the network: one digit's path through every layer, where test digits live in the last hidden layer, and
the weights as pictures forming epoch by epoch.

The digit's two sections are one fragment and the weights another, so a new drawing redraws only the path and the
embedding, and scrubbing the epochs only the weights."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dlcore import data, inside, jobs, predict, preprocess
from dlcore.config import DLCoreError
from dlcore.runs import ACTIVE, parse_run_id
from ui import literal
from ui.classroom import presenting
from ui.inside import (DRAWN, change_caption, embedding_figure, histograms_ui, path_figures, pictures_caption,
                       pictures_html)

PICK = "inside_run"
SOURCES = {"drawn": "The digit from Draw & classify", "test": "A test digit", "draw": "Draw one here"}
VIEWS = {"change": "What changed since epoch 0", "weights": "The weights"}
LIVE_POLL_SECONDS = 2.0  # a training run's newest snapshot arrives once an epoch
CANVAS = 200  # smaller than Draw & classify's: the whole canvas in view, in its column, on a 1366x768 laptop

manager = jobs.job_manager()


def load_classifier(checkpoint: str) -> predict.Classifier:
    """The model every session shares (dlcore keeps models up to a number of bytes, not of entries)."""
    with st.spinner("Loading the model..."):
        return predict.shared(checkpoint)


def pick() -> None:
    """A model picked by hand goes to the address, so a reload or a shared link opens it."""
    st.query_params["run"] = str(st.session_state[PICK])


def run_ui():
    """The run the address names (?run=N), else the one picked: finished runs with weights, and runs training now."""
    finished = {run.id: run for run in predict.finished_runs(manager.store)}
    live = [run_id for run_id in manager.active() if run_id not in finished]
    asked = st.query_params.get("run", "")
    wanted = parse_run_id(asked)
    if asked and wanted is None:
        st.warning(literal(f"This link's run {asked[:40]!r} is not a run number such as 12, so it was not used."))
    if wanted is not None:
        st.session_state[PICK] = wanted
    options = list(dict.fromkeys([*live, *finished, *([wanted] if wanted is not None else [])]))
    if not options:
        st.info("There is no trained model yet: train one in Build & train or Draw & classify, then come back.",
                icon=":material/model_training:")
        return None
    st.session_state.setdefault(PICK, options[0])
    if st.session_state[PICK] not in options:
        st.session_state[PICK] = options[0]
    run_id = st.selectbox("Model", options, key=PICK, on_change=pick,
                          format_func=lambda rid: finished[rid].label if rid in finished else f"#{rid} (training now)" if rid in live
                          else f"#{rid}")
    try:
        return finished.get(run_id) or manager.store.get(run_id)
    except DLCoreError as exc:
        st.warning(literal(exc))
        return None


def source_ui() -> str:
    """Where the digit comes from, beside the model: picked at the top, so the canvas below it is in view."""
    sources = [key for key in SOURCES if key != "drawn" or st.session_state.get(DRAWN) is not None]
    return st.radio("Digit", sources, format_func=SOURCES.get, horizontal=True, key="inside_source")


def digit_ui(classifier: predict.Classifier, source: str):
    """The digit from `source`; returns its normalised 28x28 input and how it looked, or None for no digit."""
    dataset = classifier.config.dataset
    if source == "drawn":
        shared = st.session_state[DRAWN]
        return inside.normalized(shared, dataset), shared
    if source == "draw":
        st.caption("Draw:")  # short: the canvas toolbar floats over the right of this line
        canvas = st_canvas(stroke_width=15, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="inside_canvas")
        if canvas.image_data is None:
            return None
        try:
            steps = preprocess.mnist_style(canvas.image_data, classifier.info.mean, classifier.info.std)
        except preprocess.EmptyImageError:
            return None
        return steps.normalized, steps.centred
    classes = classifier.info.classes
    left, right = st.columns(2)
    label = left.selectbox("Class", range(len(classes)), format_func=classes.__getitem__, key="inside_class")
    count = inside.class_count(dataset, label)
    nth = right.number_input("Which one", 1, max(count, 1), 1, key="inside_nth", help=f"{count:,} test digits of this class")
    image, _ = inside.test_digit(dataset, label, int(nth) - 1)
    return inside.normalized(image, dataset), image


def path_ui(classifier: predict.Classifier, source: str) -> inside.DigitPath | None:
    """The digit picked, then every layer's output beside it, top to bottom."""
    picture, layers = st.columns([2, 5], gap="medium")
    with picture:
        chosen = digit_ui(classifier, source)
        if chosen is None:
            st.info("Draw a digit on the canvas to send it through the network.", icon=":material/draw:")
            return None
        normalized, image = chosen
        st.image(preprocess.display(image), caption="what the network is given (28×28)", width=140)
    path = inside.trace(classifier.model, classifier.config, normalized)
    classes = classifier.info.classes
    with layers:
        st.markdown(f"The network reads **{classes[path.prediction]}** "
                    f"({path.probabilities[path.prediction]:.0%}). Hover a map or a unit to read it.")
        for i, (name, caption, figure) in enumerate(path_figures(path, classes, presenting())):
            st.markdown(f"**{i + 1}. {name}**  \n{caption}")
            if isinstance(figure, str):
                st.html(figure)
            elif figure is not None:
                st.plotly_chart(figure, width="stretch", key=f"inside_layer_{i}")
    return path


def learned_section(run, live: bool) -> None:
    """learned_ui as a fragment of its own, polled while the run trains (once it ends, the whole page reruns, to read
    digits with it). A damaged snapshot is a sentence: a fragment's rerun passes no error on to app.py."""
    if live and manager.store.get(run.id).status not in ACTIVE:
        st.rerun()
    try:
        learned_ui(run)
    except DLCoreError as exc:
        st.warning(literal(exc))


def learned_ui(run) -> None:
    """Each layer's weights as pictures after the epoch the slider picks, or what changed in them since the random
    start; a training run gets each new epoch."""
    epochs = manager.store.snapshot_epochs(run.id)
    if not epochs and not run.checkpoint:
        st.caption("Pictures of the weights appear after the first epoch.")
        return
    key, newest = "inside_epoch", epochs[-1] if epochs else None
    if newest is not None and st.session_state.get(f"{key}_newest") in (st.session_state.get(key), None):
        st.session_state[key] = newest  # following the newest epoch: move on with it
    st.session_state[f"{key}_newest"] = newest
    if epochs:
        slider, view = st.columns([3, 2], gap="large")
        epoch = slider.select_slider("After epoch", [0, *epochs], key=key,
                                     help="Epoch 0 is the random start; scrub to watch the filters form.")
        shown = view.radio("Show", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="inside_view")
        start = inside.start_pictures(run.config.to_json())
        found = start if epoch == 0 else inside.stored_pictures(manager.store, run.id, epoch)
    else:
        st.caption("This run kept no snapshots per epoch (it was imported, or trained before they were kept): "
                   "these are its final weights.")
        classifier = load_classifier(run.checkpoint)
        shown, found = "weights", inside.pictures(classifier.model, classifier.config)
    drawn = [(pictures, pictures_caption(pictures), None) for pictures in found]
    if not found:
        st.caption("This network has no conv filters and no hidden dense layer reading the pixels, so there are no "
                   "weight pictures to show; its histograms are below.")
    elif shown == "change":
        st.caption("Red: the weight grew since the random start; blue: it shrank; white: unchanged. The colours are on "
                   f"the scale of epoch {newest}'s changes, so they deepen as you scrub towards it.")
        scale = inside.change(inside.stored_pictures(manager.store, run.id, newest), start)
        drawn = [(now, f"{pictures_caption(now)} {change_caption(now, then)}", top.largest)
                 for now, then, top in zip(inside.change(found, start), start, scale)]
    for i, (pictures, caption, limit) in enumerate(drawn):
        st.markdown(f"**{pictures.layer}**: {caption}")
        st.html(pictures_html(pictures, presenting(), change_limit=limit))
    st.subheader("Weights and gradients, epoch by epoch")
    histograms_ui(inside.stored_histograms(manager.store, run.id), inside.gradient_edges(), key="inside_histogram",
                  empty="Histograms are kept per epoch from training; this run kept none." if not epochs else "")


def embedding_ui(run, classifier: predict.Classifier, path: inside.DigitPath | None) -> None:
    """Test digits in 2-D, the user's digit as a star; clicking a point shows that digit."""
    with st.spinner("Placing test digits..."):
        placed = inside.run_embedding(manager.store, run)
    classes = classifier.info.classes
    star = placed.project(path.features) if path is not None else None
    chart, detail = st.columns([3, 1], gap="large")
    event = chart.plotly_chart(embedding_figure(placed, classes, star, presenting()), on_select="rerun",
                               selection_mode="points", key="inside_embedding", width="stretch")
    wrong = int(placed.misread.sum())
    nearer = placed.misread_nearer_their_reading()
    chart.caption(f"Crosses are the {wrong} digits the model misread; {nearer:.0%} of them lie nearer the middle of "
                  "the class they were read as than of their own: to the network they look like the other class.")
    clicked = [point["customdata"] for point in (event.selection.points if event else [])
               if isinstance(point.get("customdata"), int) and 0 <= point["customdata"] < len(placed.labels)]
    with detail:
        if not clicked:  # the star and the legend carry no position
            st.caption("Click a point to see that test digit.")
            return
        position = clicked[0]
        index = int(placed.indices[position])
        image = data.test_images(classifier.config.dataset, [index])[0]
        st.image(preprocess.display(image), width=140, caption=f"test digit {index}: a "
                 f"{classes[placed.labels[position]]}, read as {classes[placed.predicted[position]]}")


@st.fragment
def digit_sections(run, classifier: predict.Classifier, source: str) -> None:
    """The digit's path and where it lands among the test digits: all that a new drawing changes."""
    st.header("1. A digit's path", divider="gray")
    path = None
    try:
        path = path_ui(classifier, source)
    except DLCoreError as exc:  # its dataset's test digits are not on this server (an imported run)
        st.warning(literal(exc))
    st.header("2. Where digits live", divider="gray")
    st.caption("Each test digit is placed by its last hidden layer's output, flattened to two dimensions (PCA): "
               "digits the network finds alike land close together.")
    try:
        embedding_ui(run, classifier, path)
    except DLCoreError as exc:
        st.warning(literal(exc))


st.title("Inside the network")
st.caption("What every layer of a trained network makes of a digit, where test digits live in its last hidden layer, "
           "and its filters forming epoch by epoch.")
model_column, digit_column = st.columns([3, 2], gap="medium")
with model_column:
    run = run_ui()
if run is None:
    st.stop()
classifier = None
if run.status in ("done", "stopped") and run.checkpoint:
    try:
        classifier = load_classifier(run.checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{run.id} cannot be used: {exc} Pick another model."))
live = run.status in ACTIVE  # training here, or in another process (the CLI) that records in the same store

if classifier is not None:
    with digit_column:
        source = source_ui()
    digit_sections(run, classifier, source)
else:
    st.header("1. A digit's path", divider="gray")
    if live:
        st.info(f"Run #{run.id} is training: a digit goes through it once it has finished. Its newest snapshot is "
                "below.", icon=":material/hourglass_top:")
    else:
        st.info(f"Run #{run.id} {run.status} without weights, so no digit can go through it; the snapshots it kept "
                "are below.", icon=":material/info:")

st.header(f"{3 if classifier is not None else 2}. What the network learned", divider="gray")
st.fragment(run_every=LIVE_POLL_SECONDS if live else None)(learned_section)(run, live)
