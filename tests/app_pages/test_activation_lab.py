"""The Activation lab through Streamlit's AppTest, reached the way a user does: app.py, then the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/1_activation_lab.py"


@pytest.fixture
def lab() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """Each Plotly chart's figure, by the chart's key."""
    charts = {}
    for chart in at.get("plotly_chart"):
        key = chart.proto.id.rsplit("-lab-", 1)[1]
        charts[key] = json.loads(chart.proto.spec)
    return charts


def trace_names(figure: dict) -> list[str]:
    return [trace["name"] for trace in figure["data"]]


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def test_page_renders_every_section(lab):
    charts = figures(lab)
    assert set(charts) == {"values", "slopes", "softmax", "norms", "dead"}
    assert trace_names(charts["values"]) == ["ReLU", "Sigmoid", "GELU"] == trace_names(charts["slopes"])
    assert charts["norms"]["layout"]["yaxis"]["type"] == "log"
    assert len(charts["norms"]["data"][0]["y"]) == 21  # 20 hidden layers and the output layer
    assert [h.value for h in lab.header][:3] == [
        "Functions and their derivatives", "Softmax: from scores to probabilities",
        "Vanishing and exploding gradients, measured",
    ]
    latex = [element.value for element in lab.get("latex")]
    assert any("max(0, x)" in formula for formula in latex) and any("softmax" in formula for formula in latex)
    sentences = [info.value for info in lab.info]
    assert any(s.startswith("Sigmoid, 20 hidden layers") and "vanishes" in s for s in sentences)
    assert any(s.startswith("ReLU, 20 hidden layers") and "similar size" in s for s in sentences)


def test_derivative_chart_is_the_autograd_slope(lab):
    relu_slope = figures(lab)["slopes"]["data"][0]
    assert {round(v, 6) for v in relu_slope["y"]} == {0.0, 1.0}
    sigmoid_slope = figures(lab)["slopes"]["data"][1]["y"]
    assert max(sigmoid_slope) == pytest.approx(0.25, abs=1e-3)


def test_choosing_functions_and_range_changes_the_plot(lab):
    by_label(lab.multiselect, "Activation functions").set_value(["leaky-relu", "tanh"]).run()
    assert not lab.exception
    charts = figures(lab)
    assert trace_names(charts["values"]) == ["Leaky ReLU", "Tanh"]
    slope = by_label(lab.slider, "Leaky ReLU Negative slope a")
    before = charts["values"]["data"][0]["y"][0]
    slope.set_value(0.5).run()
    assert figures(lab)["values"]["data"][0]["y"][0] == pytest.approx(0.5 * -5.0)
    assert before == pytest.approx(0.01 * -5.0)
    by_label(lab.slider, "Input range x").set_value((-2.0, 8.0)).run()
    x = figures(lab)["values"]["data"][0]["x"]
    assert (x[0], x[-1]) == (-2.0, 8.0)


def test_no_function_chosen_says_what_to_do(lab):
    by_label(lab.multiselect, "Activation functions").set_value([]).run()
    assert not lab.exception
    assert "values" not in figures(lab)
    assert any("Pick at least one activation function" in info.value for info in lab.info)


def test_temperature_and_random_logits_change_the_probabilities(lab):
    initial = figures(lab)["softmax"]["data"][0]["y"]
    assert sum(initial) == pytest.approx(1.0)
    assert max(initial) == initial[7]  # the example scores are a network's guess at a 7
    by_label(lab.slider, "Temperature T").set_value(3.0).run()
    flatter = figures(lab)["softmax"]["data"][0]["y"]
    assert max(flatter) < max(initial) and sum(flatter) == pytest.approx(1.0)
    by_label(lab.button, "Draw random logits").click().run()
    assert not lab.exception
    drawn = figures(lab)["softmax"]["data"][0]["y"]
    assert drawn != flatter and len(drawn) == 10


def test_gradient_settings_change_the_measurement(lab):
    depth = by_label(lab.slider, "Hidden layers")
    depth.set_value(5).run()
    charts = figures(lab)
    assert len(charts["norms"]["data"][0]["y"]) == 6 and len(charts["dead"]["data"][0]["y"]) == 5
    by_label(lab.multiselect, "Activations to compare").set_value(["tanh"]).run()
    by_label(lab.select_slider, "Weight scale").set_value(3.0).run()
    by_label(lab.slider, "Hidden layers").set_value(20).run()
    assert not lab.exception
    assert trace_names(figures(lab)["norms"]) == ["Tanh"]
    assert any("explodes" in info.value for info in lab.info)


def test_use_in_my_network_puts_it_in_the_networks_layers_and_new_ones(lab):
    """Issue 23.6: "Use GELU in my network" left the network's layers ReLU; only layers added later used it."""
    assert "default_activation" not in lab.session_state
    by_label(lab.button, "Use GELU in my network").click().run()
    assert not lab.exception
    assert lab.session_state["default_activation"] == "gelu"
    assert any("hidden layers of your network in Build & train now use GELU" in s.value for s in lab.success)
    links = [(link.proto.label, link.proto.page) for link in lab.get("page_link")]
    assert ("Open Build & train", "build_and_train") in links  # the URL app.py gives app_pages/2_build_and_train.py
    lab.switch_page("app_pages/2_build_and_train.py").run()
    assert not lab.exception
    assert list(lab.dataframe[1].value["layer"]) == ["input", "flatten", "dense1 128", "gelu", "dense2 64", "gelu", "output 10"]
    assert lab.query_params["dense"] == "128-gelu_64-gelu"  # a setup link says so too
    by_label(lab.radio, "Kind").set_value("mlp").run()  # a later rerun leaves the layers as they are
    assert list(lab.dataframe[1].value["layer"]).count("gelu") == 2


def test_temperature_slider_sits_beside_its_chart(lab):
    """Not under the tall logits table: the slider shares the chart's column, above it."""
    column = next(c for c in lab.columns if any(chart.proto.id.endswith("-lab-softmax") for chart in c.get("plotly_chart")))
    assert [slider.label for slider in column.slider] == ["Temperature T"]


def test_a_sharp_winner_keeps_its_label_inside_the_chart(lab):
    """At T = 0.2 the 7 takes almost everything; its label sits above the bar, so the axis must reach past it."""
    by_label(lab.slider, "Temperature T").set_value(0.2).run()
    bars = figures(lab)["softmax"]
    winner = max(bars["data"][0]["y"])
    assert winner > 0.99 and bars["data"][0]["textposition"] == "outside"
    low, high = bars["layout"]["yaxis"]["range"]
    assert high >= winner + 0.1, "no room above the tallest bar: Plotly clips its label"
    assert max(bars["layout"]["yaxis"]["tickvals"]) == 1  # the headroom carries no 110% tick


def test_activation_pickers_offer_no_select_all_matches(lab):
    """Streamlit puts "Select N matches" first in a multiselect's list while the user types, so Enter after "ELU"
    added ELU, SELU and Leaky ReLU; without it Enter adds the best match (tests/e2e/test_activation_lab.py types it)."""
    for key in ("lab-functions", "lab-flow-functions"):
        assert lab.multiselect(key=key).proto.select_all == 0
