"""The Gradient descent page in Streamlit's AppTest: every optimizer's path on the contours, frames that replay them,
a figure small enough to send on every change, a table of where each ended, a start that moves, and the settings a
student can get wrong."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from dlcore import descent
from tests.app_pages.apptest import opened, plain

PAGE = "app_pages/8_gradient_descent.py"


def figure(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def paths(at: AppTest) -> dict[str, dict]:
    return {trace["name"]: trace for trace in figure(at)["data"] if trace.get("mode") == "lines+markers"}


def test_every_optimizer_starts_together_and_the_table_says_where_each_ended():
    at = opened(PAGE)
    drawn = paths(at)
    assert list(drawn) == ["SGD", "Momentum", "Nesterov", "Adam", "RMSprop", "Adagrad"]
    assert all((trace["x"][0], trace["y"][0]) == (-9.0, 3.0) for trace in drawn.values())
    assert all(len(trace["x"]) == 201 for trace in drawn.values())  # the start and 200 steps
    frames = figure(at)["frames"]  # each moves one ball per optimizer: from the start to where its path ends
    assert len(frames) > 10 and frames[0]["data"][0]["x"] == [-9.0] * 6
    assert frames[-1]["data"][0]["x"] == [trace["x"][-1] for trace in drawn.values()]
    table = at.dataframe[0].value
    assert list(table["optimizer"]) == list(drawn) and table["steps to a minimum"].notna().all()
    assert "zig-zag" in at.info[0].value


def test_the_figure_of_500_steps_sends_kilobytes_not_megabytes():
    at = opened(PAGE)
    at.slider(key="gd_steps").set_value(500).run()
    assert all(len(trace["x"]) == 501 for trace in paths(at).values())
    assert len(at.get("plotly_chart")[0].proto.spec) < 150_000  # replaying each path so far in 60 frames: 1.3 MB


def test_another_surface_brings_its_own_start_rates_and_note():
    at = opened(PAGE)
    at.selectbox(key="gd_surface").set_value("himmelblau").run()
    assert at.number_input(key="gd_x_himmelblau").value == -0.3
    assert at.number_input(key="gd_lr_himmelblau_adam").value == descent.SURFACES["himmelblau"].lrs["adam"]
    ends = {name: (round(t["x"][-1], 1), round(t["y"][-1], 1)) for name, t in paths(at).items()}
    assert ends["SGD"] == (-3.8, -3.3) and ends["Adam"] == (-2.8, 3.1)  # two minima from one start
    assert "Four minima" in at.info[0].value


def test_a_new_start_and_a_learning_rate_that_blows_up():
    at = opened(PAGE)
    at.number_input(key="gd_x_bowl").set_value(5.0).run()
    at.number_input(key="gd_lr_bowl_sgd").set_value(1.5).run()
    drawn = paths(at)
    assert drawn["Adam"]["x"][0] == 5.0
    row = at.dataframe[0].value.iloc[0]
    assert row["optimizer"] == "SGD" and row["ends at"].startswith("blew up after")


def test_fewer_optimizers_and_none_at_all():
    at = opened(PAGE)
    assert at.multiselect(key="gd_optimizers").proto.select_all == 0  # Enter adds the typed match only
    at.multiselect(key="gd_optimizers").set_value(["adam", "sgd"]).run()
    assert list(paths(at)) == ["SGD", "Adam"]
    at.multiselect(key="gd_optimizers").set_value([]).run()
    assert not at.exception and "at least one optimizer" in at.error[0].value


def test_a_link_sets_the_page_and_the_address_follows_the_settings():
    at = opened(PAGE, surface="rosenbrock", start="-1,2.5", steps="300", lrs="adam:0.05", optimizers="sgd,adam")
    assert not at.warning
    assert (at.number_input(key="gd_x_rosenbrock").value, at.number_input(key="gd_y_rosenbrock").value) == (-1.0, 2.5)
    assert at.number_input(key="gd_lr_rosenbrock_adam").value == 0.05
    drawn = paths(at)
    assert list(drawn) == ["SGD", "Adam"] and all(t["x"][0] == -1.0 for t in drawn.values())
    assert len(drawn["Adam"]["x"]) == 301
    at.selectbox(key="gd_surface").set_value("himmelblau").run()
    assert at.query_params["surface"] == "himmelblau" and "start" not in at.query_params  # its own start: no key
    assert at.query_params["optimizers"] == "sgd,adam"


def test_a_click_on_the_surface_is_offered_everywhere_and_a_bad_link_is_said():
    at = opened(PAGE)
    grid = figure(at)["data"][0]  # invisible points the size of the surface: a click anywhere selects one
    assert len(grid["x"]) == 41 * 41 and grid["marker"]["opacity"] == 0 and (min(grid["x"]), max(grid["x"])) == (-10, 10)
    at = opened(PAGE, start="9,9", tea="yes")
    note = plain(at.warning[0].value)
    assert "were not used" in note and "off the ill-conditioned bowl" in note and "tea=yes" in note
    assert at.number_input(key="gd_x_bowl").value == -9.0  # the defaults stay
