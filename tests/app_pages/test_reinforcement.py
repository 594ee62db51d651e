"""Reinforcement learning in AppTest: CartPole's settings first, the gridworld's Q-table when it is chosen, the
settings a link carries (and one sentence for a link that cannot be used), Start training a Q-table for real to its
grid beside dynamic programming's, a DQN watched live and stopped, a finished CartPole agent's greedy episode and the
class's settings board, three seeds as one job, and presenter mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlcore import jobs, race, reinforcement
from tests.app_pages.apptest import opened, plain, rerun_until

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "14_reinforcement.py")
LINK_NOTE = "Part of the link could not be used, so the usual settings are shown: "


pytestmark = pytest.mark.usefixtures("trained_runs_page")


@pytest.fixture(autouse=True)
def seeds_stopped():
    """Three seeds train as a race: every race stopped and ended after the test, as the transfer page's tests do."""
    yield
    manager = race.race_manager()
    for race_id in manager.races():
        manager.stop(race_id, teacher=True)
        manager.wait(race_id, timeout=30)


def titles(at) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "") for chart in at.get("plotly_chart")]


def players(at) -> list[str]:
    """The page each episode player (components.html) draws in its iframe."""
    return [element.proto.srcdoc for element in at.get("iframe")]


def settings(at) -> dict:
    """The steps and every number the settings show, by their schema names."""
    return {"steps": at.select_slider(key="rl_steps").value,
            **{box.key.removeprefix("rl_"): box.value for box in at.number_input}}


def usual(env: str) -> dict:
    """An environment's own first settings, as the engine has them."""
    config = reinforcement.make_config(env)
    return {"steps": config.epochs * reinforcement.EPOCH_STEPS, "lr": config.lr,
            **{name: value for name, value in config.agent.to_dict().items() if name != "double"}}


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def finished_view(at) -> bool:
    return any("greedy return" in m.value for m in at.markdown)


def test_the_page_opens_on_cartpole_with_start_and_three_seeds():
    at = opened(PAGE)
    assert [b.label for b in at.button] == ["Start", "3 seeds"]
    assert at.segmented_control(key="rl_env").value == "cartpole"
    assert at.selectbox(key="rl_algo").value == "double-dqn" and at.selectbox(key="rl_algo").options == [
        "Double DQN", "DQN"]
    assert at.selectbox(key="rl_hidden").value == (256, 256)
    assert settings(at) == usual("cartpole")
    assert "No agent has trained on this server yet" in at.info[0].value
    assert not at.warning


def test_choosing_the_gridworld_switches_to_q_learning_and_hides_the_network():
    at = opened(PAGE)
    at.segmented_control(key="rl_env").set_value("gridworld").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="rl_algo").value == "q-learning"
    assert at.selectbox(key="rl_algo").options == ["Q-learning", "Double DQN", "DQN"]
    assert "rl_hidden" not in [box.key for box in at.selectbox], "a table has no network to choose"
    assert settings(at) == usual("gridworld") != usual("cartpole")  # the gridworld's own: a table's, discounted at 0.9
    assert settings(at)["gamma"] == 0.9 and settings(at)["replay"] == 1
    at.selectbox(key="rl_algo").set_value("dqn").run()
    assert not at.exception and "rl_hidden" in [box.key for box in at.selectbox]  # a DQN has one again
    at.segmented_control(key="rl_env").set_value("cartpole").run()
    assert at.selectbox(key="rl_algo").value == "double-dqn" and settings(at) == usual("cartpole")


def test_a_link_fills_the_settings():
    at = opened(PAGE, env="gridworld", gamma="0.8", steps="10000")
    assert not at.warning
    assert at.segmented_control(key="rl_env").value == "gridworld" and at.selectbox(key="rl_algo").value == "q-learning"
    assert at.number_input(key="rl_gamma").value == 0.8 and at.select_slider(key="rl_steps").value == 10_000
    assert settings(at) == {**usual("gridworld"), "gamma": 0.8, "steps": 10_000}  # the rest: the gridworld's own
    at = opened(PAGE, algo="dqn", lr="0.0005", target_every="100")
    assert not at.warning and at.selectbox(key="rl_algo").value == "dqn"
    assert at.number_input(key="rl_lr").value == 0.0005 and at.number_input(key="rl_target_every").value == 100


@pytest.mark.parametrize("link, reason", [({"env": "mars"}, "choose env cartpole or gridworld"),
                                          ({"env": "gridworld", "gamma": "7"}, "gamma cannot be 7"),
                                          ({"env": "cartpole", "algo": "q-learning"}, "an algo it has")],
                         ids=["env", "gamma", "algo"])
def test_a_link_that_cannot_be_used_is_one_sentence_and_the_usual_settings(link, reason):
    at = opened(PAGE, **link)
    assert len(at.warning) == 1
    note = plain(at.warning[0].value)
    assert note.startswith(LINK_NOTE) and reason in note, note
    assert at.segmented_control(key="rl_env").value == "cartpole" and at.selectbox(key="rl_algo").value == "double-dqn"
    assert settings(at) == usual("cartpole")
    assert [b.label for b in at.button] == ["Start", "3 seeds"]
    at.number_input(key="rl_gamma").set_value(0.95).run()
    assert not at.warning and at.number_input(key="rl_gamma").value == 0.95  # said once, not again on every rerun


def test_start_in_the_gridworld_trains_a_q_table_to_its_grid_beside_dynamic_programming():
    at = opened(PAGE)
    at.segmented_control(key="rl_env").set_value("gridworld").run()
    at.select_slider(key="rl_steps").set_value(5_000)
    at.number_input(key="rl_gamma").set_value(0.8)
    button(at, "Start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["rl_run"]
    config = jobs.job_manager().store.get(run_id).config
    assert (config.dataset, config.model.kind, config.epochs, config.agent.gamma) == ("gridworld", "q-table", 5, 0.8)
    assert reinforcement.algorithm_of(config) == "q-learning" and config.agent.replay == 1
    assert dict(at.query_params) == {"env": "gridworld", "algo": "q-learning", "steps": "5000", "gamma": "0.8"}  # a
    # link to it, naming what differs from Q-learning's own settings
    rerun_until(at, finished_view, timeout=180)  # the live view's reruns, until the page shows the finished run
    run = jobs.job_manager().store.get(run_id)
    assert run.status == "done"
    headline = next(m.value for m in at.markdown if "greedy return" in m.value)
    assert "gamma 0.8" in reinforcement.setting_name(config)
    assert f"Run #{run_id}: {reinforcement.setting_name(config)}, seed 0" in headline
    assert f"greedy return **{reinforcement.mean_return(run.results):.1f}**" in headline
    assert f"the best action in **{run.results.accuracy:.0%}** of cells" in headline
    shown = titles(at)
    assert "What it learned" in shown and "Dynamic programming" in shown
    page, = players(at)
    assert 'id="scene"' in page and '"env": "gridworld"' in page and "Greedy episode, return" in page
    assert "Another start" not in [b.label for b in at.button]  # a grid's greedy episode always starts at S
    assert "The class's settings" in [header.value for header in at.subheader]


def test_a_dqn_is_watched_live_while_it_learns_and_stopped():
    at = opened(PAGE)
    at.selectbox(key="rl_hidden").set_value((64, 64))
    at.select_slider(key="rl_steps").set_value(10_000)
    at.number_input(key="rl_warmup").set_value(100)
    button(at, "Start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["rl_run"]
    manager = jobs.job_manager()
    assert [layer.units for layer in manager.store.get(run_id).config.model.dense] == [64, 64]
    rerun_until(at, lambda at: any("Episode " in p for p in players(at)), timeout=120)  # its first episode, replayed
    page, = players(at)
    assert 'id="scene"' in page and '"env": "cartpole"' in page and '"names": ["push left", "push right"]' in page
    assert "Return of each training episode" in titles(at) and "Mean return after each thousand steps" in titles(at)
    assert any(c.value.startswith("Epsilon now **") for c in at.caption)
    stop = next(b for b in at.button if b.label == "Stop")
    assert stop.key == f"rl_stop_{run_id}"
    stop.click().run()
    assert not at.exception, at.exception
    assert manager.wait(run_id, timeout=60).status == "stopped"


def test_a_finished_cartpole_agent_replays_its_greedy_episode_beside_the_class_board():
    manager = jobs.job_manager()
    config = reinforcement.make_config("cartpole", steps=1000, warmup=100, hidden=(64, 64))
    run_id = manager.submit(config, "Ada")
    assert manager.wait(run_id, timeout=180).status == "done"
    run = manager.store.get(run_id)
    at = opened(PAGE)
    assert at.selectbox(key="rl_run").value == run_id  # the newest agent, picked
    headline = next(m.value for m in at.markdown if "greedy return" in m.value)
    assert reinforcement.setting_name(config).startswith("Double DQN 64-64, 1k steps")
    assert headline.startswith(f"**Run #{run_id}: {reinforcement.setting_name(config)}, seed 0**")
    assert f"greedy return **{reinforcement.mean_return(run.results):.1f}** over {len(run.results.returns)} episodes" \
        in headline and len(run.results.returns) > 1
    first, = players(at)
    assert '"env": "cartpole"' in first and "Greedy episode, return" in first
    assert "The class's settings" in [header.value for header in at.subheader]
    board = at.dataframe[0].value
    assert board.to_dict("records") == [{
        "Environment": "CartPole", "Settings": reinforcement.setting_name(config), "Seeds": 1,
        "Median return": round(reinforcement.mean_return(run.results), 1),
        "Lowest": round(reinforcement.mean_return(run.results), 1),
        "Highest": round(reinforcement.mean_return(run.results), 1), "By": "Ada"}]
    assert "Greedy return of each seed, and the median" in titles(at)
    button(at, "Another start").click().run()
    assert not at.exception, at.exception
    assert at.session_state["rl_episode"] == 1
    again, = players(at)
    assert again != first  # another greedy episode, from another start


def test_three_seeds_train_the_same_settings_and_count_on_the_board_as_one_row():
    at = opened(PAGE)
    at.segmented_control(key="rl_env").set_value("gridworld").run()
    at.select_slider(key="rl_steps").set_value(5_000)
    button(at, "3 seeds").click().run()
    assert not at.exception, at.exception
    race_id = at.session_state["rl_seeds"]
    lanes = race.race_manager().progress(race_id).lanes
    assert [lane.config.seed for lane in lanes] == [0, 1, 2]
    assert len({lane.config.with_changes(seed=0) for lane in lanes}) == 1  # nothing else differs
    rerun_until(at, lambda at: "rl_seeds" not in at.session_state and finished_view(at), timeout=240)
    board = at.dataframe[0].value.to_dict("records")
    assert len(board) == 1 and board[0]["Seeds"] == 3
    assert board[0]["Settings"] == reinforcement.setting_name(lanes[0].config) and "5k steps" in board[0]["Settings"]
    assert any(c.value.startswith("3 seeds: median **") for c in at.caption)


def test_the_student_who_started_three_seeds_can_stop_them():
    at = opened(PAGE)
    at.select_slider(key="rl_steps").set_value(100_000)  # CartPole's DQN: minutes, unless stopped
    button(at, "3 seeds").click().run()
    race_id = at.session_state["rl_seeds"]
    button(at, "Stop the seeds").click().run()
    assert not at.exception, at.exception
    progress = race.race_manager().wait(race_id, timeout=60)
    assert progress.status in ("stopped", "done") and progress.step < progress.epochs * progress.steps_per_epoch


def test_presenter_mode_opens_with_the_settings_row_and_without_the_caption():
    at = opened(PAGE, present="1")
    assert [b.label for b in at.button] == ["Start", "3 seeds"]
    assert at.segmented_control(key="rl_env").value == "cartpole" and at.selectbox(key="rl_algo").value == "double-dqn"
    assert not [c for c in at.caption if c.value.startswith("No labels here")]
    assert opened(PAGE).caption[0].value.startswith("No labels here")  # shown outside presenter mode
