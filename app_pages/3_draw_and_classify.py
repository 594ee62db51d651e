"""Draw & classify: a trained model reads the user's handwriting, and shows how it was made ready to read."""

import plotly.colors
import plotly.graph_objects as go
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dlcore import data, jobs, predict, preprocess
from dlcore.config import CANVAS_SIZE, DLCoreError
from dlcore.runs import parse_run_id
from ui import literal
from ui.charts import margin, scaled
from ui.classroom import import_ui, is_teacher, presenting, refusal, session_owner, settings_container
from ui.inside import DRAWN, link_ui

CANVAS_KEY = "draw_canvas"
# Inferno, from black: its own first colour, #000004, is one of the placeholders Streamlit's chart theme recolours.
INFLUENCE_SCALE = [[0.0, "#000000"], *plotly.colors.get_colorscale("Inferno")[1:]]
STEPS_HELP = ("The picture goes through the steps MNIST's own digits went through, so it looks like what the model "
              "trained on: grayscale; inverted when the paper is light, so the ink is light on dark; cropped to the ink; "
              "fitted into 20x20 keeping its shape; placed in 28x28 with its centre of mass at the centre.")


def model_ui(runs: dict) -> predict.Classifier | None:
    """The model picker (latest digit model first), with a model just imported chosen in it."""
    if (imported := st.session_state.pop("draw_imported", None)) in runs:
        st.session_state["draw_model"] = imported
        st.success(f"Imported as run #{imported}; it is the model below now.", icon=":material/check_circle:")
    asked = st.query_params.get("run", "")
    if asked != st.session_state.get("draw_asked"):  # a link to a run (?run=N) picks it, once per link
        st.session_state["draw_asked"] = asked
        if (wanted := parse_run_id(asked)) in runs:
            st.session_state["draw_model"] = wanted
        elif asked:
            st.warning(literal(f"This link's run {asked[:40]!r} is not a finished model here, so the newest is shown."))
    run_id = st.selectbox("Model", list(runs), format_func=lambda rid: runs[rid].label, key="draw_model",
                          help="Finished runs from Build & train or `python -m dlcore train`: digit models newest first, "
                               "then Fashion-MNIST ones.")
    try:
        with st.spinner("Loading the model..."):
            return predict.shared(runs[run_id].checkpoint)
    except DLCoreError as exc:  # one unreadable run must not take the page from every session
        st.error(literal(f"Run #{run_id} cannot be used: {exc} Pick another model."))
        return None


def weights_import_ui() -> None:
    """Weights trained elsewhere (another playground's export, a student's laptop) become the model to draw for.

    In a popover, which floats over the page: an expander beside the model picker pushed the canvas down as it opened.
    It closes once the weights are in, uncovering the canvas.
    """
    if "draw_imported" in st.session_state:
        st.session_state["draw_import_open"] = False
    with settings_container("draw_import"), st.popover("Use weights trained elsewhere", icon=":material/upload:",
                                                       width="stretch", key="draw_import_open", on_change="rerun"):
        st.caption("A .safetensors file (with its config inside, or the config JSON beside it) or a zip exported from "
                   "a playground. Pickled .pt/.pth files are refused: loading them can run any code.")
        if (run_id := import_ui("draw_import")) is not None:
            st.session_state["draw_imported"] = run_id  # chosen in the picker on the rerun, before it is drawn
            st.rerun()


def starter_ui() -> None:
    st.info("There is no trained model yet. Train a small CNN on 5,000 real digits; it takes seconds.")
    if "starter_run" in st.session_state:
        starter_progress(st.session_state["starter_run"])
    elif st.button("Train a starter model", type="primary", icon=":material/model_training:"):
        try:
            st.session_state["starter_run"] = jobs.job_manager().submit(predict.STARTER_CONFIG, owner=session_owner(),
                                                                        teacher=is_teacher())
        except DLCoreError as exc:  # the queue, or the disk budget, is full
            st.session_state["starter_error"] = refusal(exc)
        st.rerun()


@st.fragment(run_every=0.5)
def starter_progress(run_id: int) -> None:
    """Polls the background run; the whole page reruns once it has weights."""
    progress = jobs.job_manager().progress(run_id)
    if progress is None or progress.finished:
        del st.session_state["starter_run"]
        if progress is not None and progress.status not in ("done", "stopped"):
            st.session_state["starter_error"] = progress.message
        st.rerun(scope="app")
    where = f"number {progress.queue_position} in the queue" if progress.queue_position else \
        f"epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}"
    st.progress(progress.fraction, text=f"Training the starter model: {where}")


def picture_ui(source: str, thing: str):
    """The canvas (or an upload); returns the picture as an array, or None while there is nothing to read.

    The canvas's toolbar shows on hover, in the 2.65rem above the canvas's top right corner: the short heading
    leaves that free, and the brush slider sits below the canvas, where the toolbar cannot cover it.
    """
    if source == "Upload":
        upload = st.file_uploader("A picture of one digit (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="draw_upload")
        return decoded(upload) if upload is not None else None
    st.markdown(f"**Draw one {thing}**")
    brush = st.session_state.get("draw_brush", 18)
    canvas = st_canvas(stroke_width=brush, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS_SIZE,
                       width=CANVAS_SIZE, drawing_mode="freedraw", return_image_data=True, key=CANVAS_KEY)
    st.slider("Brush size", 6, 40, 18, key="draw_brush")
    st.caption("Undo, redo and clear: above the canvas, while the mouse is over it.")
    return canvas.image_data


def decoded(upload):
    """The upload's pixels, decoded once per file: every later rerun (a toggle, a new model) reuses them, and a
    file that cannot be read keeps its sentence without being read again."""
    file_id, picture, error = st.session_state.get("draw_decoded", (None, None, ""))
    if file_id != upload.file_id:
        try:
            picture, error = preprocess.decode(upload.getvalue(), upload.name), ""
        except DLCoreError as exc:
            picture, error = None, str(exc)  # the sentence only: the exception's frames would keep the file's bytes
        st.session_state["draw_decoded"] = (upload.file_id, picture, error)
    if error:
        raise DLCoreError(error)
    return picture


def probability_chart(prediction: predict.Prediction, classes: tuple[str, ...]) -> go.Figure:
    colours = ["#e4572e" if i == prediction.prediction else "#6c8ebf" for i in range(len(classes))]
    figure = go.Figure(go.Bar(x=list(classes), y=prediction.probabilities, marker_color=colours,
                              hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    figure.update_layout(height=230, margin=margin(top=10), yaxis=dict(range=[0, 1], tickformat=".0%"),
                         xaxis=dict(type="category", title="class"))
    return figure


def saliency_chart(steps: preprocess.Steps, heat) -> go.Figure:
    """The influence in a hot colour scale at full strength (a transparent overlay washed out over white ink), with
    the digit the model was given traced over it as a cyan outline, which stands out from every colour of the scale."""
    figure = go.Figure([
        go.Heatmap(z=heat, colorscale=INFLUENCE_SCALE, zmin=0, zmax=1, colorbar=dict(title="influence", thickness=12),
                   hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"),
        go.Contour(z=steps.centred, contours=dict(start=127.5, end=127.5, coloring="none"), line=dict(color="#00e5ff", width=2),
                   showscale=False, hoverinfo="skip", name="the digit"),
    ])
    figure.update_layout(height=220, margin=margin(top=0), yaxis=dict(autorange="reversed", scaleanchor="x", visible=False),
                         xaxis=dict(visible=False, constrain="domain"))
    return figure


def on_screen(figure: go.Figure) -> go.Figure:
    """Presenter mode's larger chart text without its taller charts: the page's three columns must fit one screen."""
    height = figure.layout.height
    return scaled(figure, presenting()).update_layout(height=height)


def steps_ui(steps: preprocess.Steps) -> None:
    st.caption("**What the model is given**", help=STEPS_HELP)
    pictures = steps.pictures()
    for column, (_, image) in zip(st.columns(len(pictures), gap="small"), pictures):
        column.image(image, width="stretch")
    st.caption(" → ".join(caption for caption, _ in pictures))  # one line under the strip: tile captions wrap letter by letter


st.title("Draw & classify", help="Draw a digit and watch a trained network read it, then see what it was actually "
                                  "given to read and which of its pixels drove the answer.")
if error := st.session_state.pop("starter_error", None):
    st.error(literal(error))
runs = {run.id: run for run in predict.finished_runs()}
if not runs:
    starter_ui()
    weights_import_ui()
    st.stop()
picker, choice, elsewhere = st.columns([3, 1.4, 2], vertical_alignment="bottom")
with elsewhere:
    weights_import_ui()
with picker:
    classifier = model_ui(runs)
if classifier is None:
    st.stop()
source = choice.radio("Input", ["Draw", "Upload"], horizontal=True, label_visibility="collapsed", key="draw_source")

thing = {data.DIGITS: "digit", data.DATASETS["fashion-mnist"].classes: "piece of clothing"}.get(
    classifier.info.classes, "symbol")  # a model of the class's drawings reads their symbols
# The drawing, the answer and why it was given side by side: together on a 1366x768 screen, without scrolling.
drawing, answer, why = st.columns([0.33, 0.27, 0.4], gap="medium")
with drawing:
    try:
        picture = picture_ui(source, thing)
        reading = predict.read(classifier, picture) if picture is not None else None
    except preprocess.EmptyImageError:
        reading = None
    except DLCoreError as exc:
        st.error(literal(exc))
        st.stop()
with answer:
    if reading is None:
        st.info(f"Draw a {thing} on the canvas (or upload a picture of one) to see what the model reads.",
                icon=":material/draw:")
        st.stop()
    guess = reading.prediction
    st.metric("The model reads", guess.label, f"{guess.confidence:.1%} confident", delta_color="off", delta_arrow="off")
    if reading.doubt:
        st.warning(reading.doubt, icon=":material/help:")
    st.plotly_chart(on_screen(probability_chart(guess, classifier.info.classes)), key="draw_probabilities")
    st.session_state[DRAWN] = reading.steps.centred  # for Inside the network, in this browser session
    link_ui(st.session_state["draw_model"], "Layer by layer")  # short: a link never wraps, its column is narrow
with why:
    steps_ui(reading.steps)
    st.caption("**Which pixels drove the answer**", help=f"How strongly the score for '{guess.label}' reacts to each "
               "input pixel (the size of its gradient): the brighter, the stronger. The cyan line outlines the digit "
               "the model was given.")
    heat = predict.saliency(classifier, reading.steps.normalized, guess.prediction)
    st.plotly_chart(on_screen(saliency_chart(reading.steps, heat)), key="draw_saliency")

if st.toggle("Compare with a naive resize to 28x28", key="draw_naive"):
    naive = reading.naive_prediction
    column, text = st.columns([1, 4])
    column.image(preprocess.display(reading.naive_input), caption="the whole picture squashed to 28x28", width=112)
    text.markdown(f"Given this instead, the model would read **{naive.label}** ({naive.confidence:.1%} confident). "
                  "Squashed whole, the digit keeps the size, place, stroke and colours it was drawn with, "
                  "not those of the 20x20, centred, light-on-dark digits the model learned from.")
