"""Run board: every run on this server, sortable and filterable, the best ones highlighted, so a class can compare."""

import hashlib
from datetime import datetime

import pandas as pd
import streamlit as st

from dlcore import data, export, jobs, race, runs, sharing
from ui import literal
from ui.classroom import (ANONYMOUS, export_button_ui, import_notice, import_ui, is_teacher, presenting,
                          settings_container)
from ui.runs import run_results_ui, time_column, training_seconds

CHANGE_POLL_SECONDS = 3.0  # how often the board looks for new or finished runs
STATUS_WIDTH = 170  # pixels: the longest status, "interrupted · imported", whatever the first rows hold
BEST_STYLE = "background-color: rgba(46, 160, 67, 0.22); font-weight: bold"

store = jobs.job_manager().store


def table(all_runs: list) -> pd.DataFrame:
    return pd.DataFrame([{
        "run": r.id, "student": r.student, "when": datetime.fromtimestamp(r.created), "dataset": r.config.dataset,
        "setup": sharing.summary(r.config), "accuracy": r.accuracy, "seconds": training_seconds(r), "device": r.device,
        "status": r.status + origin(r.message),
    } for r in all_runs], columns=["run", "student", "accuracy", "status", "setup", "dataset", "when", "seconds", "device"])


def origin(message: str) -> str:
    for note, shown in ((race.RUN_NOTE, " · race"), (race.SEEDS_NOTE, " · seeds"), (export.IMPORT_NOTE, " · imported")):
        if message.startswith(note):
            return shown
    return ""


def filters_ui(board: pd.DataFrame) -> pd.DataFrame:
    search, datasets, statuses = st.columns([2, 2, 2])
    text = search.text_input("Find a student", key="board_search", placeholder="part of a name")
    chosen = datasets.multiselect("Datasets", sorted(board["dataset"].unique()), key="board_datasets", placeholder="all",
                                 select_all=False)
    status = statuses.multiselect("Status", list(runs.ACTIVE + runs.FINISHED), key="board_statuses",
                                placeholder="all", select_all=False)
    shown = board
    if text:
        shown = shown[shown["student"].str.contains(text, case=False, regex=False)]
    if chosen:
        shown = shown[shown["dataset"].isin(chosen)]
    if status:
        shown = shown[shown["status"].str.split(" · ").str[0].isin(status)]
    return shown


def best_rows(shown: pd.DataFrame) -> pd.DataFrame:
    """The runs with the highest accuracy on each dataset, ties included (scores on different datasets do not compare)."""
    scored = shown.dropna(subset=["accuracy"])
    return scored[scored["accuracy"] == scored.groupby("dataset")["accuracy"].transform("max")]


def podium_ui(best: pd.DataFrame) -> None:
    """The numbers a room reads: the best accuracy per dataset, who got there first, and with what."""
    first = best.sort_values("run").drop_duplicates("dataset").sort_values("dataset")
    for column, (_, row) in zip(st.columns(max(len(first), 1)), first.iterrows()):
        who = f" by {literal(row['student'])}" if row["student"] else ""
        column.metric(f"Best on {data.info(row['dataset']).title}", f"{row['accuracy']:.2%}", f"run #{row['run']}{who}",
                      delta_color="off", delta_arrow="off")
        column.caption(row["setup"])


def highlighted(shown: pd.DataFrame, best: pd.DataFrame):
    best_ids = set(best["run"])
    return shown.style.apply(lambda row: [BEST_STYLE if row["run"] in best_ids else ""] * len(row), axis=1)


def teacher_tools_ui() -> None:
    """Who has work on the server, by the names they typed, and one click to stop all of one student's or to clear
    the line: for a queue flooded by one student, or by browsers the server has not named."""
    holders = jobs.who_has_work(jobs.job_manager(), race.race_manager())
    st.subheader("Teacher: who has work", anchor=False)
    if notice := st.session_state.pop("teacher_notice", None):
        st.success(literal(notice), icon=":material/check_circle:")
    if not holders:
        st.caption("Nobody has a run or race training, paused or waiting.")
    seen: dict[str, int] = {}
    for work in holders:
        label = holder(work)
        seen[label] = seen.get(label, 0) + 1
        label += f" · browser {seen[label]}" if seen[label] > 1 else ""  # one name typed in two browsers
        who, counts, stop = st.columns([3, 3, 1], vertical_alignment="center")
        who.markdown(literal(label))
        counts.caption(", ".join(f"{number} {state}" for state, number in
                                 (("training", work.running), ("paused", work.paused), ("waiting", work.waiting)) if number))
        stop.button("Stop all", key="stop_all_" + hashlib.sha256(work.owner.encode()).hexdigest()[:16],
                    on_click=stop_all, args=(work.owner, label), width="stretch")
    st.button("Clear the queue", icon=":material/clear_all:", key="clear_queue", on_click=clear_the_queue,
              disabled=not any(work.waiting for work in holders),
              help="Takes every waiting run and race out of the line; what trains or is paused goes on.")


def holder(work: jobs.StudentWork) -> str:
    """Whose work it is, by the names they gave; a browser's identity is never shown."""
    if work.owner == ANONYMOUS:
        return "Browsers without an identity (they share one student's place)"
    return ", ".join(name or "no name given" for name in work.names)


def stop_all(owner: str, name: str) -> None:
    if is_teacher():
        stopped = jobs.stop_everything(owner, jobs.job_manager(), race.race_manager())
        st.session_state["teacher_notice"] = f"Stopped {pieces(stopped)}: {name}."


def clear_the_queue() -> None:
    if is_teacher():
        cleared = jobs.clear_queue(jobs.job_manager(), race.race_manager())
        st.session_state["teacher_notice"] = f"Took {pieces(cleared)} out of the queue."


def pieces(count: int) -> str:
    return "1 run or race" if count == 1 else f"{count} runs and races"


def watch_for_changes(signature: tuple) -> None:
    """Runs in a fragment every few seconds; the whole board is redrawn only when a run starts or ends."""
    if signature != changes():
        st.rerun()


def changes() -> tuple:
    return (tuple((r.id, r.status) for r in store.list(runs.ACTIVE, with_history=False)),
            tuple(r.id for r in store.list(limit=1, with_history=False)))


st.title("Run board")
st.caption("Every run trained, raced or imported on this server; the best run on each dataset is highlighted. "
           + ("The ten best are shown." if presenting() else "Click a column header to sort; tick a run to see its results and download it."))
all_runs = store.list(with_history=False)  # a run's curves are read when it is picked
st.fragment(run_every=CHANGE_POLL_SECONDS)(watch_for_changes)(changes())
if is_teacher():
    with settings_container("teacher"), st.container(border=True):
        teacher_tools_ui()
with settings_container("board_import"), st.expander("Import weights trained elsewhere", icon=":material/upload:",
                                                     expanded=import_notice("board_import") is not None):
    st.caption("A .safetensors file (with its config inside, or the config JSON beside it) or a zip exported from a "
               "playground. Pickled .pt/.pth files are refused: loading them can run any code.")
    import_ui("board_import")
if not all_runs:
    st.info("No runs yet. Train one in Build & train, race some optimizers, or import weights above.")
    shown = best = table([])
else:
    board = table(all_runs)
    with settings_container("board"):
        shown = filters_ui(board)
    best = best_rows(shown)
    podium_ui(best)
    columns = {"when": st.column_config.DatetimeColumn("when", format="D MMM, HH:mm"),
               "accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
               "status": st.column_config.TextColumn("status", width=STATUS_WIDTH),
               "seconds": time_column(), "run": st.column_config.NumberColumn("run", format="#%d")}
    if presenting():
        leaders = shown.dropna(subset=["accuracy"]).sort_values(["accuracy", "run"], ascending=[False, True]).head(10)
        leaders = leaders[["run", "student", "dataset", "setup", "accuracy"]].reset_index(drop=True)
        leaders.insert(0, "place", leaders.index + 1)  # a column: st.table hides a plain row index
        leaders["student"] = leaders["student"].map(literal)  # st.table draws its cells as Markdown
        st.table(highlighted(leaders, best).format({"accuracy": "{:.2%}", "run": "#{}"}))
    else:
        picked = st.dataframe(highlighted(shown, best), hide_index=True, on_select="rerun", selection_mode="single-row",
                              key="board_table", width="stretch", column_config=columns, placeholder="—")
        if picked.selection.rows:
            run = store.get(int(shown.iloc[picked.selection.rows[0]]["run"]))
            st.subheader(literal(run.label))
            if run.message and run.status == "done":
                st.caption(literal(run.message))
            if run.checkpoint:  # a diverged or failed run has no weights to download or read handwriting with
                left, right = st.columns([2, 3])
                with left:
                    export_button_ui(run)
                if data.reads_images(run.config.dataset):  # a sequence task's network reads no handwriting
                    right.page_link("app_pages/3_draw_and_classify.py", query_params={"run": str(run.id)},
                                    label="Read a drawing with this model in Draw & classify", icon=":material/draw:")
            run_results_ui(run)
        else:
            st.caption(f"{len(shown)} of {len(board)} runs shown.")
