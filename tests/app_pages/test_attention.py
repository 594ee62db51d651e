"""Attention in AppTest: Start trains a transformer to sort for real through the job manager, and the finished run
sorts the student's digits with every head's attention in view; a vision transformer shows a test digit's patches
as each head saw them; a text transformer lists the next letters and stands beside an LSTM on the same text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlcore import TrainConfig, jobs
from dlcore.config import ModelSpec
from tests.app_pages.apptest import opened, plain, rerun_until

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "12_attention.py")

pytestmark = pytest.mark.usefixtures("trained_runs_page")


def specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def titles(at) -> list[str]:
    return [spec["layout"].get("title", {}).get("text", "") for spec in specs(at)]


def trained(config: TrainConfig) -> int:
    manager = jobs.job_manager()
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=180).status == "done"
    return run_id


def test_start_trains_a_sorting_transformer_then_it_sorts_the_students_digits():
    at = opened(PAGE)
    assert any("No transformer" in info.value for info in at.info)
    at.selectbox(key="att_task").set_value("sort").run()
    assert at.number_input(key="att_epochs").value == 3  # the task's own first settings
    at.number_input(key="att_epochs").set_value(1)
    at.selectbox(key="att_width").set_value(32)
    at.button[0].click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["att_run"]
    assert jobs.job_manager().store.get(run_id).config.model == ModelSpec("transformer", dense=(), width=32)
    rerun_until(at, lambda at: "Block 2, head 1" in titles(at), timeout=120)
    assert any("It reads `316402=" in m.value for m in at.markdown)
    assert "Every head of every block" in titles(at)
    head = next(spec for spec in specs(at) if spec["layout"]["title"]["text"] == "Block 2, head 1")
    assert head["layout"]["xaxis"]["ticktext"][:7] == list("316402=")
    at.number_input(key="att_head").set_value(3).run()
    assert "Block 2, head 3" in titles(at)
    at.text_input(key="att_row").set_value("31a4").run()  # a mischievous row: one sentence, nothing drawn
    assert not at.exception and "Type exactly 6 digits" in plain(at.error[0].value)


def test_a_vision_transformer_shows_where_each_head_looked_on_a_test_digit():
    run_id = trained(TrainConfig(dataset="mnist", model=ModelSpec("transformer", dense=(), width=16, heads=2, blocks=1),
                                 epochs=1))
    at = opened(PAGE, run=str(run_id))
    assert any("Draw a digit to see where each head looks" in info.value for info in at.info)
    at.radio(key="att_source").set_value("test").run()
    assert any(m.value.startswith("It reads **") for m in at.markdown)
    patches = next(spec for spec in specs(at) if spec["layout"].get("annotations")
                   and spec["layout"]["annotations"][-1]["text"] == "rollout")
    assert [a["text"] for a in patches["layout"]["annotations"]] == ["head 1", "head 2", "rollout"]
    positions = next(spec for spec in specs(at) if "How alike the learnt positions are" in str(spec["layout"].get("title")))
    assert positions["layout"]["xaxis"]["ticktext"][:2] == ["CLS", "1,1"]


def test_a_text_transformer_lists_next_letters_and_stands_beside_an_lstm():
    small = dict(epochs=1, batch_size=256, lr=3e-3)
    lstm = trained(TrainConfig(dataset="text", model=ModelSpec("lstm", dense=(), state=16, cell_layers=1), **small))
    run_id = trained(TrainConfig(dataset="text", model=ModelSpec("transformer", dense=(), width=16, heads=2, blocks=1),
                                 **small))
    at = opened(PAGE, run=str(run_id))
    assert "The next letter, as it sees it" in titles(at)
    against = next(spec for spec in specs(at) if spec["layout"]["title"]["text"].startswith("The same text"))
    assert [trace["name"] for trace in against["data"] if "name" in trace] == [
        f"#{run_id} Transformer 1x16, 2 heads", f"#{lstm} LSTM 1x16"]
    at.number_input(key="att_top_k").set_value(1).run()  # greedy: the same letters every time
    first = at.code[0].value
    next(button for button in at.button if button.label == "Write again").click().run()
    assert at.code[0].value == first
    at.text_input(key="att_prompt").set_value("").run()
    assert not at.exception and "Type a prompt" in plain(at.error[0].value)
    assert first.startswith("The value of the ")


def test_presenter_mode_keeps_the_settings_rows():
    at = opened(PAGE, present="1")
    assert at.selectbox(key="att_task").value == "text" and at.button[0].label == "Start"
    assert at.number_input(key="att_context").value == 64
