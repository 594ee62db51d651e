"""Transfer learning: a network that reads digits, taught the class's own symbols (or clothes) from a few drawings,
three ways side by side: its features frozen under a new head, all of it fine-tuned, and the same network from
scratch."""

import statistics

import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative
from streamlit_drawable_canvas import st_canvas

from dlcore import DLCoreError, drawings, predict, race, transfer
from ui import literal
from ui.charts import CONFIG, margin, scaled
from ui.classroom import bring_into_view, is_teacher, page_opened, presenting, refusal, session_owner
from ui.lanes import live_ui, stop_ui
from ui.runs import POLL_SECONDS, confusion_ui, link_to_run

DRAWN = "drawn"  # the new task's data: the class's drawings, or Fashion-MNIST's clothes
TASKS = {DRAWN: "The class's drawings", "fashion-mnist": "Fashion-MNIST (clothes)"}
PER_CLASS = [1, 2, 5, 10, 20]  # examples of each class a run trains on
CANVAS = 200

manager = race.race_manager()


def sources() -> dict[int, str]:
    """Finished runs that read pictures with an MLP or a CNN: the networks a new task can start from."""
    usable = [run for run in predict.finished_runs(manager.store) if run.config.model.kind in transfer.SOURCE_KINDS
              and not run.config.source_run]
    return {run.id: run.label for run in usable}


def collect_ui() -> None:
    """Draw one example of a class, name it, add it: everyone's drawings make the class's dataset."""
    store, name = manager.store, st.session_state.get("student_name", "")
    canvas_column, form = st.columns([1, 2])
    with canvas_column:
        canvas = st_canvas(stroke_width=14, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="transfer_canvas")
    with form:
        classes = store.drawing_classes()
        label = st.text_input("Which class is it?", max_chars=drawings.MAX_LABEL_CHARS, key="transfer_label",
                              placeholder="e.g. star, heart, A")
        add, undo = st.columns([1, 1])
        if add.button("Add this drawing", icon=":material/add_photo_alternate:", type="primary"):
            try:
                store.add_drawing(label, canvas.image_data, student=name, sender=session_owner())
                st.toast(f"Added to {drawings.clean_label(label)}. Clear the canvas (its bin) for the next one.")
                classes = store.drawing_classes()
            except DLCoreError as exc:
                st.error(literal(refusal(exc)))
        if undo.button("Undo my last drawing", icon=":material/undo:", type="tertiary"):
            removed = store.remove_last_drawing(session_owner())
            st.toast(f"Removed your last drawing of {removed}." if removed else "You have added no drawings to undo.")
            classes = store.drawing_classes()
        if classes:
            st.caption("The class's drawings so far: " + " · ".join(f"**{literal(c)}** {n}" for c, n in classes.items())
                       + f" (at most {drawings.MAX_CLASSES} classes; every fifth drawing of a class from its third is "
                       "kept aside to test on)")
        else:
            st.caption(f"No drawings yet: draw a symbol, name its class, add it. Two to {drawings.MAX_CLASSES} "
                       "classes, at least 3 drawings of each.")
        if classes and is_teacher():
            gone = st.selectbox("Remove a class (teacher)", ["", *classes], key="transfer_remove")
            if gone and st.button(f"Remove every drawing of {gone}", icon=":material/delete:"):
                try:
                    store.remove_class(gone)
                    st.rerun()
                except DLCoreError as exc:  # another teacher's tab removed it first
                    st.error(literal(refusal(exc)))


def settings_ui() -> tuple[int, str, int, str | None] | None:
    """The source run, the new task, how many examples of each class, and for the class's drawings whose drawings to
    test on (None: every fifth of each class); None when there is nothing to start from."""
    runs = sources()
    if not runs:
        st.info("There is no finished digit model to start from yet: train one in Build & train (the cnn preset "
                "learns features worth taking), then come back.", icon=":material/model_training:")
        return None
    pick, task, few = st.columns([3, 2, 2])
    source = pick.selectbox("Start from", list(runs), format_func=runs.get, key="transfer_source")
    chosen = task.radio("New task", list(TASKS), format_func=TASKS.get, key="transfer_task", horizontal=True)
    per_class = few.select_slider("Examples of each class", PER_CLASS, 10, key="transfer_per_class",
                                  help="How many of each class the networks train on: fewer makes the lesson.")
    hold_out = None
    if chosen == DRAWN and (names := transfer.students(manager.store)):
        tested, who = st.columns([2, 3])
        if tested.toggle("Test on one student's drawings", key="transfer_loso",
                         help="Train on everyone else's drawings and test on this student's alone: does it read a "
                              "classmate's hand?"):
            hold_out = who.selectbox("Whose drawings", names, key="transfer_hold_out", label_visibility="collapsed")
    return source, chosen, per_class, hold_out


def start(source: int, task: str, per_class: int, hold_out: str | None) -> None:
    """Freeze the drawings as they are now (or take Fashion-MNIST) and queue the three ways as one job."""
    try:
        dataset, short = transfer.class_dataset(manager.store, hold_out) if task == DRAWN else (task, [])
        st.session_state["transfer_note"] = f"Left out for now, with fewer than 3 drawings: {', '.join(short)}." \
            if short else None  # said while this training is shown
        configs = transfer.configs(source, dataset, per_class, store=manager.store)
        st.session_state["transfer_race"] = manager.submit(configs, st.session_state.get("student_name", ""),
                                                           owner=session_owner(), teacher=is_teacher())
        st.session_state["transfer_started"] = True
    except DLCoreError as exc:
        st.session_state["transfer_problem"] = refusal(exc)


def finished_ui(progress: race.RaceProgress) -> None:
    """Each way's confusion on the test pictures (a click on a cell shows the pictures it misread), the best one to
    try on a new drawing, and how accuracy grows with examples over every such run."""
    done = [lane for lane in progress.lanes if lane.run_id and lane.accuracy is not None]
    if not done:
        return
    best = max(done, key=lambda lane: lane.accuracy)
    left, right = st.columns([3, 2])
    shown = left.radio("Look at", [lane.name for lane in done], index=done.index(best), horizontal=True,
                       key="transfer_confusion")
    run = manager.store.get(next(lane for lane in done if lane.name == shown).run_id)
    with right:
        st.markdown(f"**{best.name}** read the test pictures best ({best.accuracy:.1%}).")
        link_to_run("app_pages/3_draw_and_classify.py", "Try it in Draw & classify", ":material/draw:",
                    manager.store.get(best.run_id))
    confusion_ui(run)
    curve = transfer.examples_curve(manager.store, run.config.source_run, run.config.dataset)
    st.plotly_chart(examples_figure(curve), key="transfer_curve", config=CONFIG)
    st.caption("Every training from this model on this task adds its three points (the line joins the medians): try "
               "another number of examples above to fill it in. Each way is saved as a run on the run board.")


def examples_figure(curve: dict[str, dict[int, list[float]]]):
    """Test accuracy against examples per class, a line through the medians and a dot per run, for each way."""
    figure = scaled(go.Figure(layout=dict(
        title="How many examples does it need?", height=340, margin=margin(),
        xaxis=dict(title="examples of each class", type="log", tickvals=PER_CLASS, ticktext=[str(k) for k in PER_CLASS]),
        yaxis=dict(title="test accuracy", tickformat=".0%", rangemode="tozero"))), presenting())
    for color, (mode, points) in zip(qualitative.Plotly, curve.items()):
        name = transfer.MODES[mode]
        figure.add_scatter(x=list(points), y=[statistics.median(values) for values in points.values()],
                           mode="lines", name=name, line=dict(color=color), legendgroup=mode)
        figure.add_scatter(x=[k for k, values in points.items() for _ in values],
                           y=[value for values in points.values() for value in values], mode="markers",
                           marker=dict(color=color, size=8), legendgroup=mode, showlegend=False,
                           hovertemplate=f"{name}: %{{x}} of each, %{{y:.1%}}<extra></extra>")
    return figure


st.title("Transfer learning")
if not presenting():
    st.caption("A network that learnt digits already sees strokes, loops and corners. Teach it new symbols from a few "
               "drawings: keep its features and train only a new output layer, fine-tune all of it, or train the same "
               "network from scratch, side by side on the same examples.")
with st.container(key="transfer_settings"):  # in presenter mode too: collecting drawings is the live demo
    settings = settings_ui()
    if settings and settings[1] == DRAWN:
        collect_ui()
if settings:
    st.button("Train three ways", type="primary", icon=":material/call_split:", on_click=start, args=settings)
if note := st.session_state.get("transfer_note"):
    st.warning(literal(note))
if problem := st.session_state.pop("transfer_problem", None):
    st.error(literal(problem))

race_id = st.session_state.get("transfer_race")
if race_id is not None and (progress := manager.progress(race_id)) is not None:
    live = not progress.finished
    with st.container(key="transfer_view"):
        if live:
            stop_ui(race_id, "Stop", "training")
        st.fragment(run_every=POLL_SECONDS if live else None)(live_ui)(race_id, "transfer")
        if not live:
            finished_ui(progress)
    if st.session_state.pop("transfer_started", False) or (live and page_opened()):
        bring_into_view("transfer_view")
