"""Several networks trained side by side as the lanes of one job (race.RaceManager): the optimizer race's lanes, or
transfer learning's three ways. Their live view, its Stop, and the test accuracy of each after every epoch."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from dlcore import race
from ui.charts import CONFIG, epoch_axis, epoch_test_label, loss_figure, margin, percent_axis, scaled
from ui.classroom import control, control_problem_ui, may_control, presenting

LEGEND_BELOW = dict(orientation="h", x=0, y=-0.3, xanchor="left", yanchor="top", bgcolor="rgba(0,0,0,0)")


def lane_metrics_ui(progress: race.RaceProgress) -> None:
    """The numbers a room reads: each lane's current loss and, once scored, its test accuracy."""
    for column, lane in zip(st.columns(len(progress.lanes)), progress.lanes):
        loss = lane.final_loss(progress.steps_per_epoch)
        accuracy = lane.accuracy if lane.accuracy is not None else (lane.history[-1]["test_accuracy"] if lane.history else None)
        column.metric(lane.name, "diverged" if lane.diverged_at else (f"{loss:.3f}" if loss is not None else "…"),
                      f"test accuracy {accuracy:.1%}" if accuracy is not None else None, delta_color="off", delta_arrow="off",
                      help="The mean training loss over the last tenth of an epoch.")


def stop_ui(race_id: int, label: str = "Stop race", what: str = "race") -> None:
    """Stop, drawn by the page outside the fragment that redraws the lanes twice a second: on a busy server its
    reruns replaced a button inside it faster than a click could land."""
    manager = race.race_manager()
    if may_control(manager, race_id):
        left, _ = st.columns([1, 5])
        left.button(label, icon=":material/stop:", on_click=control, args=(manager.stop, race_id), width="stretch",
                    key=f"stop_{race_id}")
    else:
        st.caption(f"Only the student who started this {what}, or the teacher, can stop it.")
    control_problem_ui()


def live_ui(race_id: int, prefix: str) -> None:
    """Redrawn by st.fragment while the lanes train; the whole page reruns once they end."""
    progress = race.race_manager().progress(race_id)
    if progress.finished:
        if st.session_state.get(f"{prefix}_shown_live") == race_id:
            st.session_state[f"{prefix}_shown_live"] = None
            st.rerun()
    else:
        st.session_state[f"{prefix}_shown_live"] = race_id
        if progress.steps_per_epoch:
            epoch = min(progress.epoch + 1, progress.epochs)
            st.progress(progress.fraction, text=f"Epoch {epoch} of {progress.epochs} · step {progress.step} of "
                        f"{progress.steps_per_epoch * progress.epochs} · {len(progress.lanes)} networks on {progress.device}")
    (st.success if progress.status == "done" else st.warning if progress.status in ("stopped", "failed") else st.info)(
        progress.reading(), icon=":material/flag:")
    lane_metrics_ui(progress)
    losses = loss_figure([(lane.name, lane.step_losses, progress.steps_per_epoch) for lane in progress.lanes], revision=race_id,
                         presenter=presenting())
    loss, accuracy = st.columns(2)
    loss.plotly_chart(losses.update_layout(legend=LEGEND_BELOW), key=f"{prefix}_loss", width="stretch", config=CONFIG)
    accuracy.plotly_chart(accuracy_figure(progress), key=f"{prefix}_accuracy", width="stretch", config=CONFIG)


def accuracy_figure(progress: race.RaceProgress) -> go.Figure:
    """Test accuracy after each epoch, one line per lane in the loss chart's colours; the title says on which images."""
    accuracies = [row["test_accuracy"] for lane in progress.lanes for row in lane.history]
    figure = scaled(go.Figure(layout=dict(
        title="Test accuracy per epoch" + epoch_test_label(max((lane.history for lane in progress.lanes), key=len)),
        height=300, margin=margin(), legend=LEGEND_BELOW,
        xaxis=dict(title="epoch", range=[0.8, progress.epochs + 0.2], **epoch_axis(progress.epochs)),
        yaxis=dict(title="test accuracy", **percent_axis(accuracies)), uirevision=progress.race_id)), presenting())
    for color, lane in zip(qualitative.Plotly, progress.lanes):
        figure.add_scatter(x=[row["epoch"] for row in lane.history], y=[row["test_accuracy"] for row in lane.history],
                           mode="lines+markers", name=lane.name, line=dict(color=color))
    return figure
